/**
 * What the after-exit helper process runs (started by `exit-helper.ts`): wait until the holder is
 * gone (its usbfs claims with it), rebuild each platform from its {@link PlatformRecoverySpec} and
 * run `recoverLeases` for that device.
 *
 * The helper imports this one module by URL, and this module imports the rest lazily, by relative
 * specifiers a bundler follows: a bundle that names this file as an entry called `exit-recovery`
 * beside its chunks (the CLI's does) keeps the helper working, where URLs of `recover.js` or
 * `linux.js` would name files a bundle does not have.
 */
import { readFileSync } from 'node:fs';
import type { ExitHelperPlan } from './exit-helper.js';
import type { HandoffPlatform } from './platform.js';

type PlatformFactory = (options: Record<string, unknown>) => HandoffPlatform | Promise<HandoffPlatform>;

/** Platforms a spec may name without a module (those core ships). */
const BUILT_IN_FACTORIES: Record<string, () => Promise<PlatformFactory>> = {
  createLinuxPlatform: async () => (await import('./linux.js')).createLinuxPlatform,
};

/** True once `pid` has exited (a zombie counts: its file descriptors, usbfs claims with them, are closed). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const end = stat.lastIndexOf(')');
    return stat.slice(end + 2, end + 3) === 'Z';
  } catch {
    // No /proc (macOS), or the process is gone: ask the kernel.
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/** How a spec's module URL is imported: the helper script passes its own `import()` (see below). */
export type ImportModule = (url: string) => Promise<Record<string, unknown>>;

async function factoryOf(
  spec: ExitHelperPlan['items'][number]['spec'],
  importModule: ImportModule,
): Promise<PlatformFactory> {
  if (spec.module !== undefined) {
    const factory = (await importModule(spec.module))[spec.factory];
    if (typeof factory !== 'function') throw new Error(`${spec.module} exports no function ${spec.factory}`);
    return factory as PlatformFactory;
  }
  const builtIn = BUILT_IN_FACTORIES[spec.factory];
  if (builtIn === undefined) throw new Error(`no built-in platform ${spec.factory}`);
  return builtIn();
}

/**
 * Waits for the plan's parent to exit (at most `waitMs`, default 60 s), then recovers each item.
 * Returns what went wrong per item (the helper has nobody to tell; tests read it).
 *
 * `importModule` is the helper script's `import()`: a CommonJS bundle of this module (the CLI's)
 * turns its own `import()` of a URL into `require()`, which cannot load an ES module by URL.
 */
export async function runExitRecovery(
  plan: ExitHelperPlan,
  importModule: ImportModule = (url) => import(url) as Promise<Record<string, unknown>>,
): Promise<{ recovered: number; errors: string[] }> {
  const deadline = Date.now() + (plan.waitMs ?? 60_000);
  while (!processGone(plan.parentPid)) {
    if (Date.now() > deadline) return { recovered: 0, errors: [`process ${plan.parentPid} is still running`] };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const [{ recoverLeases }, { LeaseJournal }] = await Promise.all([import('./recover.js'), import('./journal.js')]);
  let recovered = 0;
  const errors: string[] = [];
  for (const item of plan.items) {
    try {
      const platform = await (await factoryOf(item.spec, importModule))(item.spec.options ?? {});
      const journal = new LeaseJournal({ path: item.journalPath, warn: () => {} });
      recovered += (await recoverLeases(platform, journal, { device: item.device })).recovered.length;
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
    }
  }
  return { recovered, errors };
}
