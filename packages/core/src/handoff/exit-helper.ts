/**
 * `process.exit()` runs no asynchronous code, so a lease still held then
 * cannot be released by its process. Instead the registry's `exit` handler
 * starts a small detached helper (synchronously: spawn forks at once) that
 * waits until the holder is gone (its usbfs claims with it), rebuilds the
 * platform from its {@link PlatformRecoverySpec} and runs `recoverLeases`
 * for that device: the disk comes back within seconds without anyone
 * having to run `usbscsi recover`.
 */
import { spawn } from 'node:child_process';
import type { LeaseDevice, PlatformRecoverySpec } from './platform.js';

export interface ExitRecovery {
  spec: PlatformRecoverySpec;
  journalPath: string;
  device: LeaseDevice;
}

export interface ExitHelperPlan {
  parentPid: number;
  /** Module URLs of `recover.js` and `journal.js` next to this file. */
  recoverModule: string;
  journalModule: string;
  items: ExitRecovery[];
  /** Give up waiting for the parent after this long (default 60 s). */
  waitMs?: number;
}

/**
 * The helper's program (an ES module run with `node --input-type=module -e`); its plan comes in USBSCSI_EXIT_RECOVERY.
 */
export const EXIT_HELPER_SCRIPT = `
import { readFileSync } from 'node:fs';
const plan = JSON.parse(process.env.USBSCSI_EXIT_RECOVERY);
const gone = (pid) => {
  try {
    const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {}
  try { process.kill(pid, 0); return false; } catch (e) { return e.code !== 'EPERM'; }
};
const deadline = Date.now() + (plan.waitMs ?? 60000);
while (!gone(plan.parentPid)) {
  if (Date.now() > deadline) process.exit(1);
  await new Promise((r) => setTimeout(r, 50));
}
const { recoverLeases } = await import(plan.recoverModule);
const { LeaseJournal } = await import(plan.journalModule);
for (const item of plan.items) {
  try {
    const platform = await (await import(item.spec.module))[item.spec.factory](item.spec.options ?? {});
    const journal = new LeaseJournal({ path: item.journalPath, warn: () => {} });
    await recoverLeases(platform, journal, { device: item.device });
  } catch {}
}
`;

export function exitHelperPlan(parentPid: number, items: ExitRecovery[]): ExitHelperPlan {
  return {
    parentPid,
    recoverModule: new URL('./recover.js', import.meta.url).href,
    journalModule: new URL('./journal.js', import.meta.url).href,
    items,
  };
}

/** Starts the helper, detached and unreferenced; safe to call from an `exit` handler. Never throws. */
export function spawnExitHelper(plan: ExitHelperPlan): boolean {
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', EXIT_HELPER_SCRIPT], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, USBSCSI_EXIT_RECOVERY: JSON.stringify(plan) },
    });
    child.unref();
    return true;
  } catch {
    return false;
  }
}
