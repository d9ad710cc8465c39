/**
 * The handoff lease: take a USB mass-storage interface away from the OS
 * cleanly and give it back, on every OS through one {@link HandoffPlatform}.
 *
 *   idle → unmounting → detaching → held → releasing → reattaching → remounting → released
 *
 * A failing step during acquisition undoes the earlier ones in reverse
 * (re-attach, wait, re-mount) and ends in `rolled-back` (the system is as it
 * was) or `failed` (something could not be undone: the journal keeps it for
 * `usbscsi recover`); either way a typed error is thrown. Every step has a
 * time budget. The journal records each step before the next one starts, so
 * a holder killed at any point can be recovered from another process.
 */
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import { defaultHandoffPlatform } from './default-platform.js';
import type { ExitRecovery } from './exit-helper.js';
import type { UsbDeviceInfo } from '../usb/backend.js';
import { LeaseJournal, filesystemsOf, type LeaseJournalEntry, type LeaseEntryStatus } from './journal.js';
import type {
  DetachedDriver,
  DeviceStorage,
  HandoffPlatform,
  LeaseDevice,
  MountedFilesystem,
  UnmountTarget,
} from './platform.js';
import { currentProcessIdentity, isProcessAlive } from './process-identity.js';
import { processLeaseRegistry, type LeaseRegistry, type RegisteredLease } from './registry.js';
import {
  DEFAULT_LEASE_TIMEOUTS,
  describeMounts,
  giveBack,
  runStep,
  type GiveBackReport,
  type LeaseTimeouts,
} from './steps.js';
import { usbIdsOf } from '../hex.js';
import { locationOf, sameLocation, type UsbPlace } from '../usb/location.js';

export type LeaseState =
  | 'idle'
  | 'unmounting'
  | 'detaching'
  | 'held'
  | 'releasing'
  | 'reattaching'
  | 'remounting'
  | 'released'
  | 'failed'
  | 'rolled-back';

export interface AcquireLeaseOptions {
  /**
   * The OS steps (`createLinuxPlatform()`, the darwin platform, a fake). Default: this OS's ({@link
   * defaultHandoffPlatform}).
   */
  platform?: HandoffPlatform;
  /** Unmount what is mounted (after a sync); without it a mounted device is refused with `E_MOUNTED`. Default false. */
  unmount?: boolean;
  /** Re-mount what was unmounted on release. Default: same as `unmount`. */
  remount?: boolean;
  timeouts?: Partial<LeaseTimeouts>;
  /** Default: a journal at the default path. `null` turns journaling off (then nothing can recover a killed holder). */
  journal?: LeaseJournal | null;
  /** Default: the process-wide registry (releases on exit and signals). `null`: the caller releases. */
  registry?: LeaseRegistry | null;
  /** Cancels acquisition (rolled back like a failed step). */
  signal?: AbortSignal;
  /** Every state change, for progress output. */
  onStateChange?: (state: LeaseState) => void;
  /**
   * Things the user should hear about that are not errors: a dead holder's lease on this device
   * was recovered first (the CLI prints it on stderr).
   */
  onNotice?: (message: string) => void;
}

/** What came back on release. */
export interface ReleaseReport {
  /** Storage seen after the driver returned (null when there was no driver to give back). */
  storage: DeviceStorage | null;
  remounted: MountedFilesystem[];
  /** Unmounted filesystems left unmounted (`remount` not asked, or the device is gone). */
  notRemounted: MountedFilesystem[];
  /** The device was unplugged (or replaced) while held: nothing could be given back, and nothing needs to be. */
  deviceGone?: boolean;
}

/**
 * Enough to make a {@link LeaseDevice}: a listed device, or any identity plus
 * place (the daemon's device: its location parsed back). Without
 * configurations the interface is taken to be in configuration 1.
 */
export type LeaseDeviceSource = Pick<UsbDeviceInfo, 'vendorId' | 'productId' | 'serialNumber'> &
  UsbPlace &
  Partial<Pick<UsbDeviceInfo, 'configurations'>>;

/** Lease device for an interface of a device (its active configuration). */
export function leaseDeviceOf(info: LeaseDeviceSource, interfaceNumber: number): LeaseDevice {
  return {
    vendorId: info.vendorId,
    productId: info.productId,
    ...(info.serialNumber ? { serialNumber: info.serialNumber } : {}),
    busNumber: info.busNumber,
    portNumbers: [...info.portNumbers],
    configurationValue: info.configurations?.[0]?.configurationValue ?? 1,
    interfaceNumber,
  };
}

export function describeLeaseDevice(device: LeaseDevice): string {
  return (
    `${usbIdsOf(device)}${device.serialNumber ? ` (serial ${device.serialNumber})` : ''} ` +
    `at ${locationOf(device)} interface ${device.interfaceNumber}`
  );
}

export function sameLeaseDevice(a: LeaseDevice, b: LeaseDevice): boolean {
  return sameLocation(a, b) && a.interfaceNumber === b.interfaceNumber;
}

/**
 * Take the interface from the OS. Resolves with a held {@link Lease}; rejects
 * with `E_MOUNTED` (nothing touched), `E_BUSY` (another holder, or a
 * filesystem in use), `E_PERMISSION`, `E_TIMEOUT`, `E_DEVICE_GONE`… after
 * rolling back whatever it had done (`details.rolledBack`).
 */
export async function acquireLease(device: LeaseDevice, options: AcquireLeaseOptions = {}): Promise<Lease> {
  const platform = options.platform ?? (await defaultHandoffPlatform());
  const lease = new Lease(device, { ...options, platform });
  await lease.acquire();
  return lease;
}

export class Lease implements RegisteredLease {
  readonly device: LeaseDevice;
  readonly description: string;
  readonly id = LeaseJournal.newId();
  private stateValue: LeaseState = 'idle';
  private readonly platform: HandoffPlatform;
  private readonly timeouts: LeaseTimeouts;
  private readonly unmountAsked: boolean;
  private readonly remount: boolean;
  private readonly journal: LeaseJournal | null;
  private readonly registry: LeaseRegistry | null;
  private readonly options: AcquireLeaseOptions & { platform: HandoffPlatform };
  private storage: DeviceStorage | null = null;
  private entry: LeaseJournalEntry | null = null;
  private readonly unmountedTargets: UnmountTarget[] = [];
  private detachedDriver: DetachedDriver | null = null;
  private releaseHooks: (() => unknown)[] = [];
  private releasing: Promise<ReleaseReport> | null = null;
  private acquiring: Promise<void> | null = null;
  private acquireSettled = false;
  private readonly interrupt = new AbortController();

  /** Use {@link acquireLease}. */
  constructor(device: LeaseDevice, options: AcquireLeaseOptions & { platform: HandoffPlatform }) {
    this.device = device;
    this.description = describeLeaseDevice(device);
    this.options = options;
    this.platform = options.platform;
    this.timeouts = { ...DEFAULT_LEASE_TIMEOUTS, ...options.timeouts };
    this.unmountAsked = options.unmount ?? false;
    this.remount = options.remount ?? this.unmountAsked;
    this.journal =
      options.journal === undefined
        ? new LeaseJournal({ processIdentity: (pid) => options.platform.processIdentity(pid) })
        : options.journal;
    this.registry = options.registry === undefined ? processLeaseRegistry : options.registry;
  }

  get state(): LeaseState {
    return this.stateValue;
  }

  /** Storage as it was before the lease (null before acquisition looked). */
  get storageBefore(): DeviceStorage | null {
    return this.storage;
  }

  /** Filesystems this lease unmounted. */
  get unmounted(): MountedFilesystem[] {
    return filesystemsOf(this.unmountedTargets);
  }

  /** For the registry: how a helper process gives this device back after `process.exit()`. */
  exitRecovery(): ExitRecovery | null {
    const spec = this.platform.recoverySpec?.() ?? null;
    return spec && this.journal ? { spec, journalPath: this.journal.path, device: this.device } : null;
  }

  /**
   * Run `hook` at the start of release, before the driver is re-attached:
   * close the USB handle here (the OS cannot re-bind an interface the process
   * still claims). Hooks run in reverse order of registration; a failing hook
   * is reported but does not stop the device being given back.
   */
  onRelease(hook: () => unknown): () => void {
    this.releaseHooks.push(hook);
    return () => {
      this.releaseHooks = this.releaseHooks.filter((h) => h !== hook);
    };
  }

  /** @internal called once by {@link acquireLease}. */
  acquire(): Promise<void> {
    if (this.acquiring) return Promise.reject(new UsbScsiError(ErrorCodes.BAD_INPUT, 'A lease is acquired only once.'));
    this.acquiring = this.acquireSteps().finally(() => {
      this.acquireSettled = true;
    });
    return this.acquiring;
  }

  private async acquireSteps(): Promise<void> {
    const signal = anySignal([this.options.signal, this.interrupt.signal]);
    await this.recoverDeadLease(signal);
    const storage = await runStep('describe', this.timeouts.describe, signal, (o) =>
      this.platform.describe(this.device, o),
    );
    this.storage = storage;
    if (storage.mounts.length && !this.unmountAsked) {
      throw new UsbScsiError(
        ErrorCodes.MOUNTED,
        `${this.description} has mounted filesystems: ${describeMounts(storage.mounts)}. ` +
          `Unmount them first, or pass --unmount ({ unmount: true }) to let usbscsi sync and ` +
          `unmount them (and --remount to mount them again afterwards).`,
        { details: { mounts: storage.mounts } },
      );
    }
    if (storage.otherUsers?.length) {
      throw new UsbScsiError(
        ErrorCodes.BUSY,
        `${this.description} is in use by ${storage.otherUsers.map((u) => `${u.user} (on ${u.device})`).join(', ')}, ` +
          `which usbscsi cannot unmount. Close it first (swapoff, vgchange -an, cryptsetup ` +
          `close, mdadm --stop), or use the SG_IO transport, which leaves the disk ` +
          `with the kernel.`,
        { details: { otherUsers: storage.otherUsers } },
      );
    }
    if (this.platform.checkAccess) {
      const check = this.platform.checkAccess.bind(this.platform);
      await runStep('check access', this.timeouts.describe, this.options.signal, (o) => check(this.device, storage, o));
    }
    // Checking for another holder and recording this one happen under the journal's lock, so two
    // processes taking the same device at once cannot both pass.
    this.entry = await this.journalEntry('acquiring');
    // From here on a signal or exit must undo what was done: join the registry now.
    this.registry?.add(this);
    try {
      this.setState('unmounting');
      if (storage.mounts.length)
        await runStep('sync', this.timeouts.sync, signal, (o) => this.platform.sync(this.device, storage, o));
      for (const target of unmountTargets(storage.mounts, this.platform.unmountGranularity)) {
        await runStep('unmount', this.timeouts.unmount, signal, (o) => this.platform.unmount(target, o));
        this.unmountedTargets.push(target);
        await this.journalUpdate('acquiring');
      }
      this.setState('detaching');
      if (storage.driver !== null) {
        // Data written through the block device while unmounted (or with nothing mounted) must reach the medium too.
        const unmounted = { ...storage, mounts: [] };
        await runStep('sync', this.timeouts.sync, signal, (o) => this.platform.sync(this.device, unmounted, o));
        this.detachedDriver = await runStep('detach', this.timeouts.detach, signal, (o) =>
          this.platform.detachDriver(this.device, storage, o),
        );
        await this.journalUpdate('acquiring');
      }
      await this.journalUpdate('held');
    } catch (err) {
      try {
        await this.rollBack(
          err instanceof UsbScsiError
            ? err
            : new UsbScsiError(
                ErrorCodes.IO,
                `Taking ${this.description} failed: ${(err as Error)?.message ?? String(err)}`,
                { cause: err },
              ),
        );
      } finally {
        this.registry?.remove(this);
      }
    }
    this.setState('held');
  }

  /**
   * Give the device back: release hooks, re-attach, wait for the disks,
   * re-mount (if asked). Idempotent: every call returns the same promise.
   * Rejects (state `failed`, journal entry kept for `usbscsi recover`) when
   * the device could not be given back whole.
   */
  release(): Promise<ReleaseReport> {
    if (this.releasing) return this.releasing;
    if (this.acquiring && !this.acquireSettled) {
      // Interrupted while taking the device (a signal, process exit): stop and roll back, or, if it
      // got to `held` meanwhile, release as usual.
      this.interrupt.abort(new UsbScsiError(ErrorCodes.CANCELLED, `Taking ${this.description} was interrupted.`));
      this.releasing = this.acquiring.then(
        () => this.doRelease(),
        () => ({ storage: null, remounted: [], notRemounted: [] }),
      );
      return this.releasing;
    }
    if (this.stateValue !== 'held') {
      return Promise.reject(
        new UsbScsiError(
          ErrorCodes.BAD_INPUT,
          `The lease on ${this.description} is ${this.stateValue}, not held: nothing to release.`,
        ),
      );
    }
    this.releasing = this.doRelease();
    return this.releasing;
  }

  private async doRelease(): Promise<ReleaseReport> {
    this.setState('releasing');
    await this.journalUpdate('releasing').catch(() => undefined);
    const hookErrors: UsbScsiError[] = [];
    for (const hook of [...this.releaseHooks].reverse()) {
      await runStep('release hook', this.timeouts.releaseHook, undefined, async () => hook()).catch((err: unknown) =>
        hookErrors.push(err as UsbScsiError),
      );
    }
    const report = await giveBack(this.platform, this.plan(this.remount), this.timeouts, {
      onState: (state) => this.setState(state),
    });
    const errors = [...hookErrors, ...report.errors];
    // Unplugged while held: nothing is left to give back (the OS takes it when it is plugged in again).
    const deviceGone =
      report.errors.length > 0 && report.errors.every((e) => isUsbScsiError(e, ErrorCodes.DEVICE_GONE));
    if (report.errors.length && !deviceGone) return this.fail(errors, report);
    await this.journal?.remove(this.id).catch(() => undefined);
    this.registry?.remove(this);
    this.setState('released');
    return {
      storage: report.storage,
      remounted: report.remounted,
      notRemounted: report.notRemounted,
      ...(deviceGone ? { deviceGone: true } : {}),
    };
  }

  private async rollBack(cause: UsbScsiError): Promise<never> {
    // Rolling back restores the state before the lease: re-mount regardless of `remount`.
    const report = await giveBack(this.platform, this.plan(true), this.timeouts, {
      onState: (state) => this.setState(state),
    });
    const undone =
      (this.detachedDriver ? `re-attached ${this.detachedDriver.driver}` : '') +
      (this.unmountedTargets.length
        ? `${this.detachedDriver ? ', ' : ''}re-mounted ${describeMounts(report.remounted)}`
        : '');
    if (!report.errors.length) {
      await this.journal?.remove(this.id).catch(() => undefined);
      this.setState('rolled-back');
      cause.details.rolledBack = true;
      if (undone) cause.message += ` Rolled back: ${undone}.`;
      throw cause;
    }
    // A rollback restores everything, so recovery must re-mount too, whatever `remount` said.
    if (this.entry) this.entry = { ...this.entry, remount: true };
    await this.journalUpdate('release-failed').catch(() => undefined);
    this.setState('failed');
    cause.details.rolledBack = false;
    cause.details.rollbackErrors = report.errors.map((e) => e.toJSON());
    cause.message +=
      ` Rolling back failed too (${report.errors.map((e) => e.message).join('; ')}); ` +
      `run \`usbscsi recover\` to give the device back.`;
    throw cause;
  }

  private async fail(errors: UsbScsiError[], report: GiveBackReport): Promise<never> {
    await this.journalUpdate('release-failed').catch(() => undefined);
    this.registry?.remove(this);
    this.setState('failed');
    const first = errors.find((e) => report.errors.includes(e)) ?? errors[0]!;
    throw new UsbScsiError(
      first.code,
      `Could not give ${this.description} back: ` +
        errors.map((e) => e.message).join('; ') +
        `${report.notRemounted.length ? ` Still unmounted: ${describeMounts(report.notRemounted)}.` : ''} ` +
        `Run \`usbscsi recover\` to retry.`,
      {
        cause: first,
        details: {
          errors: errors.map((e) => e.toJSON()),
          remounted: report.remounted,
          notRemounted: report.notRemounted,
          reattached: report.reattached,
        },
      },
    );
  }

  private plan(remount: boolean) {
    const storage = this.storage;
    return {
      device: this.device,
      detached: this.detachedDriver,
      expected:
        this.detachedDriver && storage
          ? {
              driver: this.detachedDriver.driver,
              wholeDiskCount: storage.wholeDisks.length,
              partitionCount: storage.partitions.length,
            }
          : null,
      wholeDisks: storage?.wholeDisks ?? [],
      unmounted: this.unmountedTargets,
      remount,
    };
  }

  /**
   * A lease on this device whose holder died (or could not give it back) is still in the journal:
   * give the device back first, as `usbscsi recover` would, and say so. Starting on top of it
   * would leave that entry to undo our own lease later. A live holder is left for the journal
   * check (`E_BUSY`).
   */
  private async recoverDeadLease(signal: AbortSignal): Promise<void> {
    if (!this.journal) return;
    const mine = (await this.journal.list()).filter(
      (e) => e.platform === this.platform.name && sameLeaseDevice(e.device, this.device),
    );
    let dead = false;
    for (const entry of mine) {
      const alive = await isProcessAlive((pid) => this.platform.processIdentity(pid), entry.holder);
      if (!alive || entry.status === 'release-failed') dead = true;
    }
    if (!dead) return;
    const { recoverLeases } = await import('./recover.js');
    const report = await recoverLeases(this.platform, this.journal, {
      device: this.device,
      timeouts: this.timeouts,
      signal,
    });
    for (const { entry, reattached, remounted, notRemounted } of report.recovered) {
      const what = [
        reattached && entry.detached ? `re-attached ${entry.detached.driver}` : '',
        remounted.length ? `re-mounted ${describeMounts(remounted)}` : '',
        notRemounted.length
          ? `left unmounted ${describeMounts(notRemounted)} (that lease did not ask for a re-mount)`
          : '',
      ].filter(Boolean);
      this.options.onNotice?.(
        `${this.description} was still leased by process ${entry.holder.pid}, which ` +
          `${entry.status === 'release-failed' ? 'could not give it back' : 'died without giving it back'}: ` +
          `recovered it first${what.length ? ` (${what.join(', ')})` : ''}.`,
      );
    }
    for (const entry of report.gone)
      this.options.onNotice?.(
        `Dropped the lease of process ${entry.holder.pid} on ${this.description}: the device it held has left.`,
      );
    const failed = report.failed[0];
    if (failed) {
      throw new UsbScsiError(
        failed.error.code,
        `${this.description} has a lease left by process ${failed.entry.holder.pid} that ` +
          `could not be recovered: ${failed.error.message}`,
        {
          cause: failed.error,
          details: { holder: failed.entry.holder, status: failed.entry.status, journal: this.journal.path },
        },
      );
    }
  }

  private async refuseIfHeldElsewhere(entries: LeaseJournalEntry[]): Promise<void> {
    if (!this.journal) return;
    for (const entry of entries) {
      if (entry.platform !== this.platform.name || !sameLeaseDevice(entry.device, this.device)) continue;
      const alive = await isProcessAlive((pid) => this.platform.processIdentity(pid), entry.holder);
      throw new UsbScsiError(
        ErrorCodes.BUSY,
        alive && entry.status !== 'release-failed'
          ? `${this.description} is leased by process ${entry.holder.pid} (since ${entry.createdAt}). ` +
              `Wait for it to finish.`
          : `${this.description} was leased by process ` +
              `${entry.holder.pid}, which ` +
              `${alive ? 'could not give it back' : 'died without giving it back'}. ` +
              `Run \`usbscsi recover\` first.`,
        { details: { holder: entry.holder, status: entry.status, journal: this.journal.path } },
      );
    }
  }

  private async journalEntry(status: LeaseEntryStatus): Promise<LeaseJournalEntry> {
    const now = new Date(this.platform.now()).toISOString();
    const entry: LeaseJournalEntry = {
      id: this.id,
      platform: this.platform.name,
      device: this.device,
      holder: await currentProcessIdentity((pid) => this.platform.processIdentity(pid)),
      status,
      wholeDisks: this.storage?.wholeDisks ?? [],
      unmounted: [],
      detached: null,
      expected: null,
      remount: this.remount,
      createdAt: now,
      updatedAt: now,
    };
    await this.journal?.update(async (leases) => {
      await this.refuseIfHeldElsewhere(leases);
      return [...leases, entry];
    });
    return entry;
  }

  private async journalUpdate(status: LeaseEntryStatus): Promise<void> {
    if (!this.entry || !this.journal) return;
    const plan = this.plan(this.remount);
    this.entry = {
      ...this.entry,
      status,
      unmounted: [...this.unmountedTargets],
      detached: this.detachedDriver,
      expected: plan.expected,
    };
    await this.journal.put(this.entry);
  }

  private setState(state: LeaseState): void {
    this.stateValue = state;
    this.options.onStateChange?.(state);
  }
}

/**
 * Unmount order: Linux unmounts one filesystem at a time, deepest mount point
 * first (a mount nested inside another goes before its parent), i.e. reverse
 * mount order; macOS unmounts each whole disk with its volumes.
 */
export function unmountTargets(mounts: MountedFilesystem[], granularity: 'filesystem' | 'whole-disk'): UnmountTarget[] {
  if (granularity === 'filesystem')
    return [...mounts].reverse().map((fs) => ({ wholeDisk: fs.wholeDisk, filesystems: [fs] }));
  const byDisk = new Map<string, MountedFilesystem[]>();
  for (const fs of mounts) byDisk.set(fs.wholeDisk, [...(byDisk.get(fs.wholeDisk) ?? []), fs]);
  return [...byDisk].map(([wholeDisk, filesystems]) => ({ wholeDisk, filesystems }));
}

/** A signal that aborts when any of `signals` does (AbortSignal.any, spelled out for older typings). */
function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal {
  const controller = new AbortController();
  for (const signal of signals) {
    if (!signal) continue;
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}
