/**
 * What macOS made of a USB mass-storage device, read from the IORegistry and
 * DiskArbitration through the native addon's `listStorage()`: its interfaces,
 * whole disks, partitions and mounted volumes. Devices are found by their
 * IOKit location id, derived from the libusb bus/port path.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { StorageBinding } from '../usb/backend.js';
import { hex0x } from '../hex.js';
import { loadDarwinNative, type DarwinMedia, type DarwinNative, type DarwinUsbStorage } from './darwin-native.js';
import type { DeviceStorage, MountedFilesystem } from './types.js';

/**
 * IOKit locationID of a libusb bus/port path: bus in the top byte, then one
 * nibble per hub tier (libusb on darwin reports bus = locationID >> 24).
 */
export function locationIdOf(busNumber: number, portNumbers: number[]): number {
  if (
    !Number.isInteger(busNumber) ||
    busNumber < 0 ||
    busNumber > 0xff ||
    portNumbers.length > 6 ||
    portNumbers.some((p) => !Number.isInteger(p) || p < 1 || p > 15)
  ) {
    throw new UsbScsiError(
      ErrorCodes.BAD_INPUT,
      `No macOS location id for bus ${busNumber} ports [${portNumbers.join(', ')}]: ` +
        `the bus must be 0..255 and each port 1..15, at most 6 tiers.`,
    );
  }
  let location = busNumber * 0x1000000;
  portNumbers.forEach((port, tier) => {
    location += port * 2 ** (20 - 4 * tier);
  });
  return location;
}

export function locationIdText(locationId: number): string {
  return hex0x(locationId, 8);
}

/** The lease's view of one device's storage, from the registry walk. */
export function deviceStorageOf(storage: DarwinUsbStorage, interfaceNumber: number): DeviceStorage {
  const iface = storage.interfaces.find((i) => i.interfaceNumber === interfaceNumber);
  const mounts: MountedFilesystem[] = storage.media
    .filter((m): m is DarwinMedia & { mountPoint: string } => m.mountPoint !== undefined)
    .map((m) => ({
      device: m.bsdName,
      mountPoint: m.mountPoint,
      fsType: m.volumeKind ?? 'unknown',
      options: m.readOnly ? 'ro' : 'rw',
      wholeDisk: m.wholeDisk,
    }));
  return {
    driver: iface?.driver ?? null,
    wholeDisks: storage.media.filter((m) => m.whole).map((m) => m.bsdName),
    partitions: storage.media.filter((m) => !m.whole).map((m) => m.bsdName),
    mounts,
  };
}

/**
 * What macOS made of each mass-storage interface, in the backend contract's
 * shape (`UsbDeviceInfo.storage`), for a USB backend listing devices on macOS.
 * Media hang below the whole device in the registry, so every interface gets
 * the device's disks.
 */
export function darwinStorageBindings(storage: DarwinUsbStorage): StorageBinding[] {
  return storage.interfaces.map((iface) => {
    const view = deviceStorageOf(storage, iface.interfaceNumber);
    return {
      interfaceNumber: iface.interfaceNumber,
      driver: iface.driver,
      blockDevices: view.wholeDisks,
      sgDevices: [],
      mounts: view.mounts.map((m) => ({ device: m.device, mountPoint: m.mountPoint, fsType: m.fsType })),
    };
  });
}

/**
 * `StorageBindingsFn` for the native backend on macOS: the bindings of the USB
 * device at a libusb bus/port path ([] when macOS lists no storage there).
 */
export async function darwinStorageBindingsAt(
  busNumber: number,
  portNumbers: number[],
  native: DarwinNative = loadDarwinNative(),
): Promise<StorageBinding[]> {
  const locationId = locationIdOf(busNumber, portNumbers);
  const found = (await native.listStorage()).find((d) => d.locationId === locationId);
  return found ? darwinStorageBindings(found) : [];
}
