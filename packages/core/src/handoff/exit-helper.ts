/**
 * `process.exit()` runs no asynchronous code, so a lease still held then
 * cannot be released by its process. Instead the registry's `exit` handler
 * starts a small detached helper (synchronously: spawn forks at once) that
 * runs `exit-recovery.ts`: once the holder is gone, `recoverLeases` for that
 * device, so the disk comes back within seconds without anyone having to run
 * `usbscsi recover`.
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
  /** URL of `exit-recovery.js` next to this file: the one module the helper imports. */
  entry: string;
  items: ExitRecovery[];
  /** Give up waiting for the parent after this long (default 60 s). */
  waitMs?: number;
}

/**
 * The helper's program (an ES module run with `node --input-type=module -e`); its plan comes in
 * USBSCSI_EXIT_RECOVERY. The entry may be an ES module or, in a CommonJS bundle, a CommonJS one.
 */
export const EXIT_HELPER_SCRIPT = `
const plan = JSON.parse(process.env.USBSCSI_EXIT_RECOVERY);
const entry = await import(plan.entry);
await (entry.runExitRecovery ?? entry.default.runExitRecovery)(plan, (url) => import(url));
`;

export function exitHelperPlan(parentPid: number, items: ExitRecovery[]): ExitHelperPlan {
  return { parentPid, entry: new URL('./exit-recovery.js', import.meta.url).href, items };
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
