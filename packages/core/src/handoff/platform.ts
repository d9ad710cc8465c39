/**
 * The OS side of the handoff lease. Types only: `linux.ts` implements it
 * through sysfs, /proc and mount(8); `darwin*.ts` through DiskArbitration and
 * IOKit capture/release; tests through a fake whose effects are files.
 *
 * The lease state machine (`lease.ts`), the journal (`journal.ts`) and
 * recovery (`recover.ts`) are shared by every OS and only ever call these
 * operations. So each operation is small, does one OS step, and does no
 * retrying, rollback or journaling of its own.
 *
 * Rules every implementation follows:
 * - Every operation returns a Promise and never blocks the event loop for long.
 * - Every operation that can wait takes {@link StepOptions}: it must give up
 *   promptly once `signal` aborts (the lease aborts it when the step's timeout
 *   expires) and then reject with `E_TIMEOUT` or `E_CANCELLED`.
 * - Failures are thrown as `UsbScsiError` with a stable code:
 *   `E_PERMISSION` (message names the fix: root, udev rule, entitlement),
 *   `E_BUSY` (a filesystem or the interface is held; `details.holders` lists
 *   who, when the OS can tell), `E_DEVICE_GONE` (unplugged, or a different
 *   device now sits at that bus-port path), `E_TIMEOUT`, `E_IO`.
 * - Operations that restore state (`attachDriver`, `mount`) are idempotent:
 *   restoring what is already restored resolves without error, because
 *   recovery may run them after a holder died half-way through a release.
 */

import type { DeviceStorage, MountedFilesystem } from '../topology/types.js';

/** What the OS storage stack makes of an interface lives in the topology module; the lease works on it. */
export type { DeviceStorage, DiskUser, MountedFilesystem } from '../topology/types.js';

/** Which USB interface a lease is about; enough to find it again after the holder died. */
export interface LeaseDevice {
  vendorId: number;
  productId: number;
  serialNumber?: string;
  busNumber: number;
  /** Port numbers from the root hub, e.g. [2, 3] for `1-2.3`. */
  portNumbers: number[];
  /** bConfigurationValue of the active configuration (Linux interface id `1-2.3:<cfg>.<if>`). Default 1. */
  configurationValue?: number;
  interfaceNumber: number;
}

/** A driver detached from the interface; given back to {@link HandoffPlatform.attachDriver} as is. */
export interface DetachedDriver {
  /** The driver that was bound and must be bound again (`usb-storage`, `uas`, …). */
  driver: string;
  /** OS name of what was detached: Linux interface id `1-2:1.0`; macOS the IOService path or location id. */
  target: string;
}

/**
 * The unit the OS unmounts: Linux unmounts one filesystem at a time
 * (`granularity: 'filesystem'`, `filesystems` has exactly one entry);
 * macOS DiskArbitration unmounts a whole disk with all its volumes
 * (`granularity: 'whole-disk'`, every mounted volume of `wholeDisk`).
 */
export interface UnmountTarget {
  wholeDisk: string;
  filesystems: MountedFilesystem[];
}

/** What the lease expects to see again once the driver is back. */
export interface StorageExpectation {
  driver: string;
  /** At least this many whole disks (0 when none existed before: e.g. a card reader with no card). */
  wholeDiskCount: number;
  /** At least this many partitions, so that re-mounting finds its devices. */
  partitionCount: number;
}

/** A process identity that survives pid reuse: same pid *and* same start time means same process. */
export interface ProcessIdentity {
  pid: number;
  /**
   * Opaque, compared for equality only. Linux: boot id + start time in clock
   * ticks from /proc/<pid>/stat; macOS: `p_starttime` from sysctl.
   */
  startTime: string;
}

export interface StepOptions {
  /** Aborted when the step's time budget is spent or the lease is torn down. */
  signal: AbortSignal;
  /** The step's budget in milliseconds (the same one `signal` enforces), for OS calls that take their own timeout. */
  timeoutMs: number;
}

export interface HandoffPlatform {
  /** `linux`, `darwin`, `fake`…; written into journal entries and checked by recovery. */
  readonly name: string;

  /** See {@link UnmountTarget}. */
  readonly unmountGranularity: 'filesystem' | 'whole-disk';

  /**
   * Current storage of the interface. `E_DEVICE_GONE` when nothing is at that
   * bus-port path or the device there has another VID:PID (or serial, when the
   * lease device has one).
   */
  describe(device: LeaseDevice, options: StepOptions): Promise<DeviceStorage>;

  /** Flush dirty data of the device's disks to the medium (before unmounting, before detaching). */
  sync(device: LeaseDevice, storage: DeviceStorage, options: StepOptions): Promise<void>;

  /**
   * Unmount one target (never forced). When the OS refuses because something
   * still uses it, reject with `E_BUSY` and `details.holders` (pids and
   * command names on Linux, DiskArbitration dissenter status and process on
   * macOS). On rejection nothing of the target may stay half-unmounted
   * (on a whole-disk refusal all its volumes are still mounted).
   */
  unmount(target: UnmountTarget, options: StepOptions): Promise<void>;

  /**
   * Mount what {@link unmount} took away, the same way: same device (or, when
   * the disk came back under another name, `device` already remapped by the
   * lease), mount point, type and options. Resolves if it is already mounted there.
   */
  mount(target: UnmountTarget, options: StepOptions): Promise<void>;

  /**
   * Optional preflight, before anything is changed: reject with
   * `E_PERMISSION` (and the fix) when this process will not be allowed to
   * detach and re-attach the driver, so that a doomed lease does not unmount
   * anything first.
   */
  checkAccess?(device: LeaseDevice, storage: DeviceStorage, options: StepOptions): Promise<void>;

  /**
   * Take the interface away from the OS driver bound to it (`storage.driver`,
   * never null here). Must not require a USB handle of the calling process,
   * because recovery re-attaches from another process.
   */
  detachDriver(device: LeaseDevice, storage: DeviceStorage, options: StepOptions): Promise<DetachedDriver>;

  /**
   * Give the interface back to `detached.driver`. The caller has closed its
   * own USB handle first. Resolves if that driver is already bound.
   */
  attachDriver(device: LeaseDevice, detached: DetachedDriver, options: StepOptions): Promise<void>;

  /**
   * Wait until the driver is bound and the disks and partitions are back
   * (`expected`); resolve with the storage seen then. Rejects with
   * `E_TIMEOUT` when `signal` aborts first.
   */
  waitForStorage(device: LeaseDevice, expected: StorageExpectation, options: StepOptions): Promise<DeviceStorage>;

  /** Identity of a running process, or null when no process has that pid. */
  processIdentity(pid: number): Promise<ProcessIdentity | null>;

  /** Milliseconds since the epoch (journal time stamps); injectable for tests. */
  now(): number;

  /**
   * How another process can build this same platform: a module URL, the name
   * of a factory it exports, and the factory's (JSON) options. Used when the
   * process exits through `process.exit()` with a lease held: a detached
   * helper waits for the process to be gone, builds the platform, and runs
   * recovery. Optional; null when the platform cannot be rebuilt elsewhere
   * (e.g. it was given functions).
   */
  recoverySpec?(): PlatformRecoverySpec | null;
}

export interface PlatformRecoverySpec {
  /**
   * URL of the module exporting the factory; omitted for the platforms core ships, which
   * `exit-recovery.ts` imports itself (a URL of core's own modules names no file in a bundle).
   */
  module?: string;
  /** Exported function: `(options) => HandoffPlatform | Promise<HandoffPlatform>`. */
  factory: string;
  options?: Record<string, unknown>;
}
