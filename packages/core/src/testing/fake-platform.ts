/**
 * A {@link HandoffPlatform} whose "OS" is one JSON file: which driver is
 * bound, which disks exist, what is mounted where. Several processes can share
 * it (a test kills a lease holder and recovers from another process). Faults
 * are injected per step: fail with an error, or hang until the step's signal
 * aborts. Test support; used by core's tests and by the CLI's / daemon's.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type {
  DetachedDriver,
  DeviceStorage,
  HandoffPlatform,
  LeaseDevice,
  MountedFilesystem,
  PlatformRecoverySpec,
  ProcessIdentity,
  StepOptions,
  StorageExpectation,
  UnmountTarget,
} from '../handoff/platform.js';
import { localProcessIdentity, type ProcessIdentityLookup } from '../handoff/process-identity.js';

export interface FakeOsState {
  /** False: unplugged. */
  present: boolean;
  /** Bound driver, null while detached. */
  driver: string | null;
  /** Disks and partitions that exist while a driver is bound. */
  wholeDisks: string[];
  partitions: string[];
  mounts: MountedFilesystem[];
  /** Mount points whose unmount is refused as busy (a shell sits in them). */
  busyMountPoints: string[];
  /** On re-attach the disks come back under these names (`/dev/sda` → `/dev/sdb`). */
  renameOnAttach: Record<string, string>;
  /** Every effect, in order (`unmount /mnt/a`, `detach usb-storage`, …). */
  log: string[];
}

export type FakeStep =
  'describe' | 'checkAccess' | 'sync' | 'unmount' | 'mount' | 'detach' | 'attach' | 'waitForStorage';

export interface FakeFault {
  /** Thrown by the step; `hang` waits for the step's signal instead. */
  error: UsbScsiError | 'hang';
  /** Let this many calls succeed first (default 0). */
  skip?: number;
  /** Then fail this many calls, then behave (default: every call). */
  times?: number;
}

export function defaultFakeOsState(overrides: Partial<FakeOsState> = {}): FakeOsState {
  return {
    present: true,
    driver: 'usb-storage',
    wholeDisks: ['/dev/sda'],
    partitions: ['/dev/sda1', '/dev/sda2'],
    mounts: [
      {
        device: '/dev/sda1',
        mountPoint: '/media/stick',
        fsType: 'vfat',
        options: 'rw,relatime,fmask=0022',
        wholeDisk: '/dev/sda',
      },
      {
        device: '/dev/sda2',
        mountPoint: '/media/stick/data',
        fsType: 'ext4',
        options: 'rw,noatime',
        wholeDisk: '/dev/sda',
      },
    ],
    busyMountPoints: [],
    renameOnAttach: {},
    log: [],
    ...overrides,
  };
}

export interface FakePlatformOptions {
  /** The JSON file holding the fake OS state (created from `initial` when given). */
  stateFile: string;
  initial?: FakeOsState;
  name?: string;
  unmountGranularity?: 'filesystem' | 'whole-disk';
  processIdentity?: ProcessIdentityLookup;
  /** Poll interval of `waitForStorage`; default 10 ms. */
  pollIntervalMs?: number;
}

export class FakeHandoffPlatform implements HandoffPlatform {
  readonly name: string;
  readonly unmountGranularity: 'filesystem' | 'whole-disk';
  readonly stateFile: string;
  private readonly faults = new Map<FakeStep, FakeFault>();
  private readonly lookup: ProcessIdentityLookup;
  private readonly pollIntervalMs: number;

  constructor(options: FakePlatformOptions) {
    this.name = options.name ?? 'fake';
    this.unmountGranularity = options.unmountGranularity ?? 'filesystem';
    this.stateFile = options.stateFile;
    this.lookup = options.processIdentity ?? localProcessIdentity;
    this.pollIntervalMs = options.pollIntervalMs ?? 10;
    if (options.initial) this.write(options.initial);
  }

  read(): FakeOsState {
    return JSON.parse(readFileSync(this.stateFile, 'utf8')) as FakeOsState;
  }

  write(state: FakeOsState): void {
    writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(state, null, 2));
    renameSync(`${this.stateFile}.tmp`, this.stateFile);
  }

  /** The state without its log: what "the system as it was" means. */
  snapshot(): Omit<FakeOsState, 'log'> {
    const { log: _log, ...rest } = this.read();
    return rest;
  }

  fail(step: FakeStep, fault: FakeFault): void {
    this.faults.set(step, { ...fault });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  async describe(_device: LeaseDevice, options: StepOptions): Promise<DeviceStorage> {
    await this.fault('describe', options);
    return this.storageOf(this.read());
  }

  async checkAccess(_device: LeaseDevice, _storage: DeviceStorage, options: StepOptions): Promise<void> {
    await this.fault('checkAccess', options);
  }

  async sync(_device: LeaseDevice, _storage: DeviceStorage, options: StepOptions): Promise<void> {
    await this.fault('sync', options);
    this.change((s) => s.log.push('sync'));
  }

  async unmount(target: UnmountTarget, options: StepOptions): Promise<void> {
    await this.fault('unmount', options);
    this.change((s) => {
      const busy = target.filesystems.filter((fs) => s.busyMountPoints.includes(fs.mountPoint));
      if (busy.length) {
        throw new UsbScsiError(ErrorCodes.BUSY, `${busy[0]!.mountPoint} is in use.`, {
          details: { holders: [{ pid: 4242, command: 'bash' }] },
        });
      }
      for (const fs of target.filesystems) {
        if (!s.mounts.some((m) => m.mountPoint === fs.mountPoint))
          throw new UsbScsiError(ErrorCodes.IO, `${fs.mountPoint} is not mounted.`);
        s.mounts = s.mounts.filter((m) => m.mountPoint !== fs.mountPoint);
        s.log.push(`unmount ${fs.mountPoint}`);
      }
    });
  }

  async mount(target: UnmountTarget, options: StepOptions): Promise<void> {
    await this.fault('mount', options);
    this.change((s) => {
      for (const fs of target.filesystems) {
        if (s.mounts.some((m) => m.mountPoint === fs.mountPoint && m.device === fs.device)) continue;
        if (!s.driver || !s.partitions.concat(s.wholeDisks).includes(fs.device))
          throw new UsbScsiError(ErrorCodes.IO, `mount: ${fs.device} does not exist.`);
        s.mounts.push(fs);
        s.log.push(`mount ${fs.device} ${fs.mountPoint} ${fs.fsType} ${fs.options}`);
      }
    });
  }

  async detachDriver(_device: LeaseDevice, storage: DeviceStorage, options: StepOptions): Promise<DetachedDriver> {
    await this.fault('detach', options);
    const driver = storage.driver!;
    this.change((s) => {
      if (s.driver !== driver) throw new UsbScsiError(ErrorCodes.IO, `${driver} is not bound.`);
      s.driver = null;
      s.log.push(`detach ${driver}`);
    });
    return { driver, target: '1-2:1.0' };
  }

  async attachDriver(_device: LeaseDevice, detached: DetachedDriver, options: StepOptions): Promise<void> {
    await this.fault('attach', options);
    this.change((s) => {
      if (!s.present) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'The device is gone.');
      if (s.driver === detached.driver) return;
      s.driver = detached.driver;
      const rename = (name: string) =>
        Object.entries(s.renameOnAttach).reduce(
          (acc, [from, to]) => (acc.startsWith(from) ? to + acc.slice(from.length) : acc),
          name,
        );
      s.wholeDisks = s.wholeDisks.map(rename);
      s.partitions = s.partitions.map(rename);
      s.renameOnAttach = {};
      s.log.push(`attach ${detached.driver}`);
    });
  }

  async waitForStorage(
    device: LeaseDevice,
    expected: StorageExpectation,
    options: StepOptions,
  ): Promise<DeviceStorage> {
    await this.fault('waitForStorage', options);
    for (;;) {
      const storage = this.storageOf(this.read());
      if (
        storage.driver === expected.driver &&
        storage.wholeDisks.length >= expected.wholeDiskCount &&
        storage.partitions.length >= expected.partitionCount
      ) {
        return storage;
      }
      if (options.signal.aborted) throw options.signal.reason;
      await new Promise((resolve) => setTimeout(resolve, this.pollIntervalMs));
    }
  }

  processIdentity(pid: number): Promise<ProcessIdentity | null> {
    return this.lookup(pid);
  }

  now(): number {
    return Date.now();
  }

  recoverySpec(): PlatformRecoverySpec {
    return {
      module: import.meta.url,
      factory: 'createFakeHandoffPlatform',
      options: { stateFile: this.stateFile, name: this.name, unmountGranularity: this.unmountGranularity },
    };
  }

  private storageOf(state: FakeOsState): DeviceStorage {
    if (!state.present) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'The device is gone.');
    if (!state.driver) return { driver: null, wholeDisks: [], partitions: [], mounts: [] };
    return { driver: state.driver, wholeDisks: state.wholeDisks, partitions: state.partitions, mounts: state.mounts };
  }

  private change(edit: (state: FakeOsState) => void): void {
    const state = this.read();
    edit(state);
    this.write(state);
  }

  private async fault(step: FakeStep, options: StepOptions): Promise<void> {
    const fault = this.faults.get(step);
    if (!fault) return;
    if (fault.skip) {
      fault.skip--;
      return;
    }
    if (fault.times !== undefined) {
      if (fault.times <= 0) return;
      fault.times--;
    }
    if (fault.error !== 'hang') throw fault.error;
    await new Promise<void>((_, reject) => {
      // Deliberately ignores nothing but the signal: the lease's own deadline must end it.
      options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true });
    });
  }
}

/** Factory for {@link HandoffPlatform.recoverySpec} (a helper process rebuilds the fake from its state file). */
export function createFakeHandoffPlatform(
  options: Omit<FakePlatformOptions, 'initial' | 'processIdentity'>,
): FakeHandoffPlatform {
  return new FakeHandoffPlatform(options);
}
