/**
 * The darwin {@link HandoffPlatform}: DiskArbitration unmounts and mounts
 * whole disks, IOKit captures the USB device from macOS's mass-storage driver
 * and releases it, the IORegistry says what came back. The OS calls are in
 * the native addon (native/src/darwin, see topology/darwin-native.ts); this file
 * finds the lease's device by its IOKit location id (topology/darwin-registry.ts), checks identity, turns native
 * failures into typed errors and keeps every wait abortable.
 *
 * The lease opens its USB handle after `detachDriver` (capture ends every
 * user client of the device, so a handle opened before it would be dead) and
 * closes it before `attachDriver`.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { darwinError } from './darwin-errors.js';
import { findVolumeHolders, runDarwinCommand } from './darwin-holders.js';
import { loadDarwinNative, type DarwinNative, type DarwinUsbStorage } from '../topology/darwin-native.js';
import { deviceStorageOf, locationIdOf, locationIdText } from '../topology/darwin-registry.js';
import { describeLeaseDevice } from './lease.js';
import type { CommandRunner } from './linux.js';
import type {
  DetachedDriver,
  DeviceStorage,
  HandoffPlatform,
  LeaseDevice,
  ProcessIdentity,
  StepOptions,
  StorageExpectation,
  UnmountTarget,
} from './platform.js';
import { signalProcessIdentity } from './process-identity.js';
import { usbIdsOf } from '../hex.js';

export interface DarwinPlatformOptions {
  /** The addon's `darwin` functions; default: loaded from @usbscsi/native on first use. */
  native?: DarwinNative;
  /** Longest single native wait, so an abort is noticed within it. Default 500 ms. */
  sliceMs?: number;
  /** After release, how long to let DiskArbitration auto-mount before mounting ourselves. Default 3000 ms. */
  automountGraceMs?: number;
  now?: () => number;
  /** Runs lsof(8) to name the processes holding a busy volume; default execFile. */
  run?: CommandRunner;
}

function abortError(signal: AbortSignal, what: string): UsbScsiError {
  const reason: unknown = signal.reason;
  if (reason instanceof UsbScsiError) return reason;
  return new UsbScsiError(ErrorCodes.CANCELLED, `${what} was cancelled.`);
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class DarwinHandoffPlatform implements HandoffPlatform {
  readonly name = 'darwin';
  readonly unmountGranularity = 'whole-disk' as const;
  private nativeModule: DarwinNative | undefined;
  private readonly sliceMs: number;
  private readonly automountGraceMs: number;
  private readonly run: CommandRunner;
  readonly now: () => number;

  constructor(options: DarwinPlatformOptions = {}) {
    this.nativeModule = options.native;
    this.sliceMs = options.sliceMs ?? 500;
    this.automountGraceMs = options.automountGraceMs ?? 3000;
    this.now = options.now ?? Date.now;
    this.run = options.run ?? runDarwinCommand;
  }

  private get native(): DarwinNative {
    this.nativeModule ??= loadDarwinNative();
    return this.nativeModule;
  }

  /** The device at the lease's location, if it is still the same one (VID:PID, serial). */
  private async find(device: LeaseDevice): Promise<DarwinUsbStorage> {
    const locationId = locationIdOf(device.busNumber, device.portNumbers);
    const context = { device: describeLeaseDevice(device) };
    const all = await this.native.listStorage().catch((err: unknown) => {
      throw darwinError(err, context);
    });
    const found = all.find((d) => d.locationId === locationId);
    if (!found) {
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `No USB mass-storage device at ${context.device} (IOKit location ${locationIdText(locationId)}): ` +
          `it was unplugged, or macOS has not enumerated it (yet).`,
        { details: { locationId } },
      );
    }
    const sameSerial = device.serialNumber === undefined || found.serialNumber === device.serialNumber;
    if (found.vendorId !== device.vendorId || found.productId !== device.productId || !sameSerial) {
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `A different device now sits at ${context.device}: ` +
          `${usbIdsOf(found)}${found.serialNumber ? ` (serial ${found.serialNumber})` : ''}. ` +
          `Nothing was done to it.`,
        {
          details: {
            locationId,
            found: { vendorId: found.vendorId, productId: found.productId, serialNumber: found.serialNumber },
          },
        },
      );
    }
    // A captured device may show no interfaces at all: that is still our device, with no driver.
    if (found.interfaceCount > 0 && !found.interfaces.some((i) => i.interfaceNumber === device.interfaceNumber)) {
      throw new UsbScsiError(
        ErrorCodes.BAD_INPUT,
        `Interface ${device.interfaceNumber} of ${context.device} is not a mass-storage ` +
          (`interface (mass-storage interfaces: ` +
            `${found.interfaces.map((i) => i.interfaceNumber).join(', ') || 'none'}).`),
      );
    }
    return found;
  }

  async describe(device: LeaseDevice, _options: StepOptions): Promise<DeviceStorage> {
    return deviceStorageOf(await this.find(device), device.interfaceNumber);
  }

  async sync(_device: LeaseDevice, storage: DeviceStorage, _options: StepOptions): Promise<void> {
    // Best effort by design: DiskArbitration's unmount flushes each filesystem
    // itself, and on the lease's second call the volumes are already gone.
    await this.native.syncMountPoints(storage.mounts.map((m) => m.mountPoint));
  }

  async unmount(target: UnmountTarget, options: StepOptions): Promise<void> {
    const context = { device: target.wholeDisk, mountPoints: target.filesystems.map((f) => f.mountPoint) };
    try {
      await this.native.unmountDisk(target.wholeDisk, options.timeoutMs);
    } catch (err) {
      const error = darwinError(err, context);
      if (error.code === ErrorCodes.BUSY) await this.nameHolders(error, context.mountPoints);
      // The contract: on refusal nothing of the target stays unmounted.
      await this.remountStragglers(target, options).catch((restoreError: unknown) => {
        error.details.restoreError = darwinError(restoreError, context).toJSON();
      });
      throw error;
    }
  }

  /** Adds the processes lsof sees on the volumes to `details.holders` and the message. */
  private async nameHolders(error: UsbScsiError, mountPoints: string[]): Promise<void> {
    const processes = await findVolumeHolders(this.run, mountPoints);
    if (!processes.length) return;
    const holders = Array.isArray(error.details.holders) ? (error.details.holders as unknown[]) : [];
    error.details.holders = [...holders, ...processes];
    error.message +=
      ` Processes with files open there: ` + `${processes.map((p) => `${p.command} (pid ${p.pid})`).join(', ')}.`;
  }

  private async remountStragglers(target: UnmountTarget, options: StepOptions): Promise<void> {
    const mounted = new Set(await this.mountedDevices());
    for (const fs of target.filesystems) {
      if (!mounted.has(fs.device))
        await this.native.mountDisk(fs.device, options.timeoutMs, fs.options.split(',').includes('ro'), false);
    }
  }

  private async mountedDevices(): Promise<string[]> {
    const all = await this.native.listStorage();
    return all.flatMap((d) => d.media.filter((m) => m.mountPoint !== undefined).map((m) => m.bsdName));
  }

  async mount(target: UnmountTarget, options: StepOptions): Promise<void> {
    const context = { device: target.wholeDisk, mountPoints: target.filesystems.map((f) => f.mountPoint) };
    const missing = async () => {
      const mounted = new Set(
        await this.mountedDevices().catch((err: unknown) => {
          throw darwinError(err, context);
        }),
      );
      return target.filesystems.filter((fs) => !mounted.has(fs.device));
    };
    // After a release DiskArbitration mounts the volumes by itself: give it a moment.
    const graceEnd = Date.now() + Math.min(this.automountGraceMs, options.timeoutMs / 2);
    let left = await missing();
    while (left.length && Date.now() < graceEnd && !options.signal.aborted) {
      await sleep(Math.min(200, this.sliceMs), options.signal);
      left = await missing();
    }
    if (!left.length) return;
    if (options.signal.aborted) throw abortError(options.signal, `Mounting ${target.wholeDisk}`);
    const readOnly = left.every((fs) => fs.options.split(',').includes('ro'));
    try {
      await this.native.mountDisk(target.wholeDisk, options.timeoutMs, readOnly, true);
    } catch (err) {
      const error = darwinError(err, context);
      // A concurrent auto-mount makes ours fail busy; what counts is whether it is mounted now.
      if (error.code !== ErrorCodes.BUSY) throw error;
    }
    left = await missing();
    if (left.length) {
      throw new UsbScsiError(
        ErrorCodes.IO,
        `DiskArbitration did not mount ${left.map((fs) => `${fs.device} (was on ${fs.mountPoint})`).join(', ')}. ` +
          `Mount it with \`diskutil mount ${left[0]!.device}\` and check Console ` +
          `for fsck or mount errors.`,
        { details: { notMounted: left } },
      );
    }
  }

  async detachDriver(device: LeaseDevice, storage: DeviceStorage, options: StepOptions): Promise<DetachedDriver> {
    const locationId = locationIdOf(device.busNumber, device.portNumbers);
    await this.native.capture(locationId, options.timeoutMs).catch((err: unknown) => {
      throw darwinError(err, { device: describeLeaseDevice(device) });
    });
    return { driver: storage.driver ?? 'IOUSBMassStorageDriver', target: `locationID ${locationIdText(locationId)}` };
  }

  async attachDriver(device: LeaseDevice, _detached: DetachedDriver, _options: StepOptions): Promise<void> {
    const context = { device: describeLeaseDevice(device) };
    const current = await this.find(device);
    // Idempotent: a driver already on the interface means macOS has the device back.
    if (current.interfaces.find((i) => i.interfaceNumber === device.interfaceNumber)?.driver) return;
    await this.native.release(current.locationId).catch((err: unknown) => {
      throw darwinError(err, context);
    });
  }

  async waitForStorage(
    device: LeaseDevice,
    expected: StorageExpectation,
    options: StepOptions,
  ): Promise<DeviceStorage> {
    const locationId = locationIdOf(device.busNumber, device.portNumbers);
    const context = { device: describeLeaseDevice(device) };
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      if (options.signal.aborted) throw abortError(options.signal, `Waiting for the disks of ${context.device}`);
      const slice = Math.max(1, Math.min(this.sliceMs, deadline - Date.now()));
      try {
        await this.native.waitForStorage({
          locationId,
          wholeDisks: expected.wholeDiskCount,
          partitions: expected.partitionCount,
          timeoutMs: slice,
        });
        // Same identity checks as describe: a different device at that port is not ours.
        return await this.describe(device, options);
      } catch (err) {
        const error = darwinError(err, context);
        if (error.code !== ErrorCodes.TIMEOUT) throw error;
        if (Date.now() >= deadline) {
          throw new UsbScsiError(
            ErrorCodes.TIMEOUT,
            `${context.device} did not come back with ${expected.wholeDiskCount} disk(s) and ` +
              `${expected.partitionCount} partition(s) within ${options.timeoutMs} ms (${error.message}). ` +
              `Check \`diskutil list\` and \`ioreg -p IOUSB -l\`; replugging gives it back.`,
            { cause: error },
          );
        }
      }
    }
  }

  async processIdentity(pid: number): Promise<ProcessIdentity | null> {
    if (!Number.isInteger(pid) || pid <= 0) return null;
    let native: DarwinNative;
    try {
      native = this.native;
    } catch {
      return signalProcessIdentity(pid);
    }
    const startTime = native.processStartTime(pid);
    return startTime === null ? null : { pid, startTime };
  }
}

export function createDarwinPlatform(options: DarwinPlatformOptions = {}): DarwinHandoffPlatform {
  return new DarwinHandoffPlatform(options);
}
