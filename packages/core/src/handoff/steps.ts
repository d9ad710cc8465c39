/**
 * Bounded platform steps and the give-back sequence (re-attach, wait,
 * re-mount) shared by a lease's release, its rollback, and recovery.
 */
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import type {
  DetachedDriver,
  DeviceStorage,
  HandoffPlatform,
  LeaseDevice,
  MountedFilesystem,
  StepOptions,
  StorageExpectation,
  UnmountTarget,
} from './platform.js';

/** Milliseconds per step. */
export interface LeaseTimeouts {
  describe: number;
  sync: number;
  /** Per unmount target. */
  unmount: number;
  detach: number;
  /** Per release hook (closing the USB handle). */
  releaseHook: number;
  attach: number;
  /** Until the block devices are back after re-attaching. */
  waitForStorage: number;
  /** Per mount target. */
  mount: number;
}

export const DEFAULT_LEASE_TIMEOUTS: Readonly<LeaseTimeouts> = Object.freeze({
  describe: 5_000,
  sync: 30_000,
  unmount: 30_000,
  detach: 10_000,
  releaseHook: 5_000,
  attach: 10_000,
  // usb-storage waits 1 s before scanning; a slow bridge spins up its disk first.
  waitForStorage: 20_000,
  mount: 30_000,
});

/**
 * How long a step that ran out of time may take to say so itself: a step that notices the abort
 * and throws its own `E_TIMEOUT` knows what it saw last ("expected uas with 1 disk, saw uas with
 * no disks"), which says more than "did not finish".
 */
export const STEP_TIMEOUT_GRACE_MS = 1_000;

/**
 * Runs one platform step with its own time budget. The step gets a signal that
 * aborts at the deadline (or when `outer` aborts); the returned promise settles
 * then even if the platform ignores the signal (at the deadline, or within
 * STEP_TIMEOUT_GRACE_MS with the step's own `E_TIMEOUT`). Non-typed failures become `E_IO`.
 */
export async function runStep<T>(
  step: string,
  timeoutMs: number,
  outer: AbortSignal | undefined,
  fn: (options: StepOptions) => Promise<T>,
): Promise<T> {
  // Cancelled before it started: the step must not run at all. Started anyway, it would finish
  // behind the caller's back (an unmount the rollback never hears of, so never undoes).
  if (outer?.aborted)
    throw new UsbScsiError(ErrorCodes.CANCELLED, `Handoff step "${step}" was cancelled before it started.`, {
      details: { step },
    });
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onOuterAbort: (() => void) | undefined;
  let timedOut: UsbScsiError | undefined;
  const work = Promise.resolve()
    .then(() => fn({ signal: controller.signal, timeoutMs }))
    .catch((err: unknown) => {
      // After the deadline only the step's own timeout error is worth more than ours.
      if (timedOut && !(isUsbScsiError(err) && err.code === ErrorCodes.TIMEOUT)) throw timedOut;
      throw err;
    });
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = new UsbScsiError(ErrorCodes.TIMEOUT, `Handoff step "${step}" did not finish within ${timeoutMs} ms.`, {
        details: { step, timeoutMs },
      });
      const error = timedOut;
      controller.abort(error);
      timer = setTimeout(() => reject(error), STEP_TIMEOUT_GRACE_MS);
    }, timeoutMs);
    onOuterAbort = () => {
      const error = new UsbScsiError(ErrorCodes.CANCELLED, `Handoff step "${step}" was cancelled.`, {
        details: { step },
      });
      controller.abort(error);
      reject(error);
    };
    if (outer?.aborted) onOuterAbort();
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } catch (err) {
    if (isUsbScsiError(err)) {
      if (err.details.step === undefined) err.details.step = step;
      throw err;
    }
    throw new UsbScsiError(ErrorCodes.IO, `Handoff step "${step}" failed: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
      details: { step },
    });
  } finally {
    clearTimeout(timer);
    if (onOuterAbort) outer?.removeEventListener('abort', onOuterAbort);
  }
}

/** What must be given back to the OS. */
export interface GiveBackPlan {
  device: LeaseDevice;
  detached: DetachedDriver | null;
  expected: StorageExpectation | null;
  /** Whole disks before the lease, for renaming partitions if the disk comes back under another name. */
  wholeDisks: string[];
  /** Targets that were unmounted, in unmount order. */
  unmounted: UnmountTarget[];
  remount: boolean;
}

export interface GiveBackReport {
  /** The driver was re-attached (or none had to be). */
  reattached: boolean;
  /** Storage after the driver came back (null when it was not waited for or did not come). */
  storage: DeviceStorage | null;
  remounted: MountedFilesystem[];
  /** Unmounted filesystems left unmounted (not asked, or failed: see `errors`). */
  notRemounted: MountedFilesystem[];
  errors: UsbScsiError[];
}

export type GiveBackState = 'reattaching' | 'remounting';

/** Re-attach the driver, wait for the disks, re-mount (if asked). Never throws: failures are in `errors`. */
export async function giveBack(
  platform: HandoffPlatform,
  plan: GiveBackPlan,
  timeouts: LeaseTimeouts,
  options: { signal?: AbortSignal; onState?: (state: GiveBackState) => void } = {},
): Promise<GiveBackReport> {
  const report: GiveBackReport = { reattached: false, storage: null, remounted: [], notRemounted: [], errors: [] };
  const allUnmounted = plan.unmounted.flatMap((target) => target.filesystems);
  options.onState?.('reattaching');
  try {
    if (plan.detached) {
      const detached = plan.detached;
      await runStep('attach', timeouts.attach, options.signal, (o) => platform.attachDriver(plan.device, detached, o));
    }
    report.reattached = true;
    if (plan.detached && plan.expected) {
      const expected = plan.expected;
      report.storage = await runStep('wait for storage', timeouts.waitForStorage, options.signal, (o) =>
        platform.waitForStorage(plan.device, expected, o),
      );
    } else if (plan.unmounted.length && plan.remount) {
      report.storage = await runStep('describe', timeouts.describe, options.signal, (o) =>
        platform.describe(plan.device, o),
      );
    }
  } catch (err) {
    report.errors.push(err as UsbScsiError);
    report.notRemounted = allUnmounted;
    return report;
  }
  if (!plan.remount || !plan.unmounted.length) {
    report.notRemounted = allUnmounted;
    return report;
  }
  options.onState?.('remounting');
  const rename = diskRenames(plan.wholeDisks, report.storage?.wholeDisks ?? plan.wholeDisks);
  for (const original of [...plan.unmounted].reverse()) {
    const target = renameTarget(original, rename);
    try {
      await runStep('mount', timeouts.mount, options.signal, (o) => platform.mount(target, o));
      report.remounted.push(...target.filesystems);
    } catch (err) {
      report.errors.push(err as UsbScsiError);
      report.notRemounted.push(...target.filesystems);
    }
  }
  return report;
}

/** Old whole-disk name → new one, when the disks came back under other names (sda → sdb). */
export function diskRenames(before: string[], after: string[]): Map<string, string> {
  const renames = new Map<string, string>();
  if (before.length !== after.length) return renames;
  before.forEach((disk, i) => {
    const now = after[i];
    if (now && now !== disk) renames.set(disk, now);
  });
  return renames;
}

/** The same target with devices renamed: `/dev/sda1` → `/dev/sdb1`, `disk4s1` → `disk5s1`. */
export function renameTarget(target: UnmountTarget, renames: Map<string, string>): UnmountTarget {
  const rename = (device: string, wholeDisk: string): string => {
    const now = renames.get(wholeDisk);
    if (!now || !device.startsWith(wholeDisk)) return device;
    const suffix = device.slice(wholeDisk.length);
    return /^(p|s)?\d*$/.test(suffix) ? now + suffix : device;
  };
  return {
    wholeDisk: renames.get(target.wholeDisk) ?? target.wholeDisk,
    filesystems: target.filesystems.map((fs) => ({
      ...fs,
      device: rename(fs.device, fs.wholeDisk),
      wholeDisk: renames.get(fs.wholeDisk) ?? fs.wholeDisk,
    })),
  };
}

/** One line per filesystem, for messages. */
export function describeMounts(mounts: MountedFilesystem[]): string {
  return mounts.map((m) => `${m.device} on ${m.mountPoint} (${m.fsType})`).join(', ');
}
