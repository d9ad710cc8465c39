/**
 * OS storage topology: what the operating system made of a USB mass-storage
 * interface (its SCSI host, block devices, sg and tape nodes, mounts, other
 * users of the disks). Linux reads sysfs and /proc/self/mountinfo; macOS the
 * IORegistry and DiskArbitration through the native addon. The USB backends
 * (`UsbDeviceInfo.storage`), `openDevice` and the handoff lease all read it
 * from here; this module imports nothing above `usb/backend.ts`.
 */
import { USB_CLASS_MASS_STORAGE, type StorageBinding, type UsbDeviceInfo } from '../usb/backend.js';
import { darwinStorageBindingsAt } from './darwin-registry.js';
import { linuxStorageBindings } from './linux-sysfs.js';

export type { DeviceStorage, DiskUser, MountedFilesystem } from './types.js';
export {
  linuxStorageBindings,
  readLinuxDeviceStorage,
  readLinuxInterfaceStorage,
  readLinuxUsbIdentity,
  usbDeviceName,
  usbInterfaceId,
  type LinuxInterfaceStorage,
  type LinuxSysfsOptions,
} from './linux-sysfs.js';
export {
  linuxMountsOfNode,
  linuxMountsOfUsbDevice,
  linuxMediumWriteClaim,
  claimDisk,
  probeDiskClaim,
  type DiskClaim,
  type HeldDiskClaim,
  type MediumWriteClaimTaker,
  type WriteClaimOptions,
} from './linux-node-mounts.js';
export { parseMountinfo, readMountinfo, remountOptions, unescapeMountinfo, type MountinfoEntry } from './mountinfo.js';
export {
  darwinStorageBindings,
  darwinStorageBindingsAt,
  deviceStorageOf,
  locationIdOf,
  locationIdText,
} from './darwin-registry.js';
export {
  loadDarwinNative,
  type DarwinMedia,
  type DarwinMassStorageInterface,
  type DarwinNative,
  type DarwinNativeErrorFields,
  type DarwinUsbStorage,
  type DarwinWaitOptions,
} from './darwin-native.js';

/** Reads what the OS made of a device's mass-storage interfaces. */
export type StorageBindingsFn = (
  busNumber: number,
  portNumbers: number[],
) => Promise<StorageBinding[]> | StorageBinding[];

/**
 * This OS's reader, shared by every USB backend: Linux through sysfs, macOS
 * through the IORegistry (which needs the native addon, loaded on the first
 * read, not here). Null where there is none.
 */
export function storageBindingsReader(platform: NodeJS.Platform = process.platform): StorageBindingsFn | null {
  if (platform === 'linux') return (bus, ports) => linuxStorageBindings(bus, ports);
  if (platform === 'darwin') return (bus, ports) => darwinStorageBindingsAt(bus, ports);
  return null;
}

/** {@link storageBindingsReader} for the running OS, in the shape the backends' loaders await. */
export async function loadStorageBindings(): Promise<StorageBindingsFn | null> {
  return storageBindingsReader();
}

/**
 * Fills `info.storage` for a mass-storage device; a reader failing (an unplug racing the walk, no addon) leaves it
 * unknown.
 */
export async function attachStorageBindings(
  info: UsbDeviceInfo,
  read: StorageBindingsFn | null,
): Promise<UsbDeviceInfo> {
  const isStorage = info.configurations[0]?.interfaces.some((i) => i.interfaceClass === USB_CLASS_MASS_STORAGE);
  if (isStorage && read) {
    try {
      info.storage = await read(info.busNumber, info.portNumbers);
    } catch {
      /* storage stays unknown */
    }
  }
  return info;
}
