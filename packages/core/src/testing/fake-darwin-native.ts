/**
 * A fake of the addon's macOS functions (topology/darwin-native.ts) that behaves like
 * one Mac with USB disks: DiskArbitration mounts and unmounts whole disks,
 * capture makes the media vanish, release brings them back under new BSD
 * names (as macOS does) and optionally auto-mounts them. Failures are
 * rejected with the same fields the C++ side sets. For darwin.test.ts.
 */
import type { DarwinMedia, DarwinNative, DarwinUsbStorage, DarwinWaitOptions } from '../topology/darwin-native.js';

export interface FakeVolume {
  /** Partition index: `disk<N>s<index>`. */
  index: number;
  kind: string;
  name: string;
  mounted: boolean;
}

export interface FakeMacDevice {
  locationId: number;
  vendorId: number;
  productId: number;
  serialNumber?: string;
  diskNumber: number;
  volumes: FakeVolume[];
  captured: boolean;
  /** While captured, show no interfaces at all (some macOS versions tear them down). */
  interfacesVanishOnCapture?: boolean;
}

type NativeFailure = Error & Record<string, unknown>;

export function nativeFailure(message: string, fields: Record<string, unknown>): NativeFailure {
  return Object.assign(new Error(message), fields);
}

export class FakeMac implements DarwinNative {
  readonly devices: FakeMacDevice[] = [];
  readonly calls: string[] = [];
  /** Unmount refused with kDAReturnBusy (a dissenter) while set. */
  busyDissenter: { statusString?: string } | null = null;
  /** Capture refused with kIOReturnNotPrivileged unless set. */
  privileged = true;
  /** DiskArbitration mounts returning volumes by itself. */
  automount = true;
  private nextDisk = 10;

  addDevice(device: Omit<FakeMacDevice, 'captured'>): FakeMacDevice {
    const added = { ...device, captured: false };
    this.devices.push(added);
    return added;
  }

  private byBsd(bsdName: string): { device: FakeMacDevice; volume?: FakeVolume } | undefined {
    for (const device of this.devices) {
      if (device.captured) continue;
      if (bsdName === `disk${device.diskNumber}`) return { device };
      const volume = device.volumes.find((v) => bsdName === `disk${device.diskNumber}s${v.index}`);
      if (volume) return { device, volume };
    }
    return undefined;
  }

  private snapshot(device: FakeMacDevice): DarwinUsbStorage {
    const whole = `disk${device.diskNumber}`;
    const media: DarwinMedia[] = device.captured
      ? []
      : [
          {
            bsdName: whole,
            whole: true,
            synthesized: false,
            wholeDisk: whole,
            size: 8e9,
            writable: true,
            removable: true,
            readOnly: false,
          },
          ...device.volumes.map((v) => ({
            bsdName: `${whole}s${v.index}`,
            whole: false,
            synthesized: false,
            wholeDisk: whole,
            size: 4e9,
            writable: true,
            removable: true,
            volumeKind: v.kind,
            volumeName: v.name,
            readOnly: false,
            ...(v.mounted ? { mountPoint: `/Volumes/${v.name}` } : {}),
          })),
        ];
    return {
      locationId: device.locationId,
      registryId: String(device.locationId),
      vendorId: device.vendorId,
      productId: device.productId,
      ...(device.serialNumber ? { serialNumber: device.serialNumber } : {}),
      interfaceCount: device.captured && device.interfacesVanishOnCapture ? 0 : 1,
      interfaces:
        device.captured && device.interfacesVanishOnCapture
          ? []
          : [
              {
                interfaceNumber: 0,
                interfaceSubClass: 6,
                interfaceProtocol: 0x50,
                driver: device.captured ? null : 'IOUSBMassStorageInterfaceNub',
              },
            ],
      media,
    };
  }

  async listStorage(): Promise<DarwinUsbStorage[]> {
    this.calls.push('listStorage');
    return this.devices.map((d) => this.snapshot(d));
  }

  async unmountDisk(bsdName: string, _timeoutMs: number): Promise<void> {
    this.calls.push(`unmountDisk ${bsdName}`);
    const found = this.byBsd(bsdName);
    if (!found)
      throw nativeFailure('unmount: DiskArbitration does not know this disk', {
        code: 'E_DEVICE_GONE',
        operation: 'unmount',
        bsdName,
      });
    if (this.busyDissenter) {
      throw nativeFailure('unmount: DiskArbitration refused: kDAReturnBusy', {
        code: 'E_BUSY',
        operation: 'unmount',
        osStatus: 0xf8da0002,
        osStatusName: 'kDAReturnBusy',
        bsdName,
        dissenter: {
          status: 0xf8da0002,
          statusName: 'kDAReturnBusy',
          ...(this.busyDissenter.statusString ? { statusString: this.busyDissenter.statusString } : {}),
        },
      });
    }
    for (const v of found.device.volumes) v.mounted = false;
  }

  async mountDisk(bsdName: string, _timeoutMs: number, readOnly = false, whole = true): Promise<void> {
    this.calls.push(`mountDisk ${bsdName}${readOnly ? ' ro' : ''}${whole ? ' whole' : ''}`);
    const found = this.byBsd(bsdName);
    if (!found)
      throw nativeFailure('mount: DiskArbitration does not know this disk', {
        code: 'E_DEVICE_GONE',
        operation: 'mount',
        bsdName,
      });
    for (const v of found.device.volumes) if (whole || v === found.volume) v.mounted = true;
  }

  async capture(locationId: number, _timeoutMs: number): Promise<void> {
    this.calls.push(`capture ${locationId.toString(16)}`);
    const device = this.devices.find((d) => d.locationId === locationId);
    if (!device)
      throw nativeFailure('capture: no USB device at this location id', {
        code: 'E_DEVICE_GONE',
        operation: 'capture',
        locationId,
      });
    if (!this.privileged) {
      throw nativeFailure('capture: USBDeviceReEnumerate failed: kIOReturnNotPrivileged', {
        code: 'E_PERMISSION',
        operation: 'capture',
        osStatus: 0xe00002c1,
        osStatusName: 'kIOReturnNotPrivileged',
        locationId,
      });
    }
    device.captured = true;
  }

  async release(locationId: number): Promise<void> {
    this.calls.push(`release ${locationId.toString(16)}`);
    const device = this.devices.find((d) => d.locationId === locationId);
    if (!device)
      throw nativeFailure('release: no USB device at this location id', {
        code: 'E_DEVICE_GONE',
        operation: 'release',
        locationId,
      });
    // Re-enumerated: macOS hands out new BSD names, then DiskArbitration may auto-mount.
    device.captured = false;
    device.diskNumber = this.nextDisk++;
    for (const v of device.volumes) v.mounted = this.automount;
  }

  async waitForStorage(options: DarwinWaitOptions): Promise<DarwinUsbStorage> {
    this.calls.push('waitForStorage');
    const device = this.devices.find((d) => d.locationId === options.locationId);
    if (device && !device.captured) return this.snapshot(device);
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
    throw nativeFailure('wait: the device did not reappear at its location id', {
      code: 'E_TIMEOUT',
      operation: 'wait',
      locationId: options.locationId,
    });
  }

  async syncMountPoints(mountPoints: string[]): Promise<string[]> {
    this.calls.push(`sync ${mountPoints.join(',')}`);
    return [];
  }

  processStartTime(pid: number): string | null {
    return pid === process.pid ? '1700000000.123456' : null;
  }

  hasDeviceAccessEntitlement(): boolean {
    return false;
  }
}
