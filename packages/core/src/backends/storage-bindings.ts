import type { StorageBinding, UsbDeviceInfo } from '../usb/backend.js';

/** Reads what the OS made of a device's mass-storage interfaces. */
export type StorageBindingsFn = (busNumber: number, portNumbers: number[]) => Promise<StorageBinding[]> | StorageBinding[];

/**
 * This OS's reader, shared by every USB backend: Linux through sysfs
 * (interface → SCSI host → block devices, sg nodes, mounts), macOS through the
 * IORegistry and DiskArbitration. Null where there is none.
 */
export async function loadStorageBindings(): Promise<StorageBindingsFn | null> {
  try {
    if (process.platform === 'linux') {
      const { linuxStorageBindings } = await import('../handoff/linux-sysfs.js');
      return (b, p) => linuxStorageBindings(b, p);
    }
    if (process.platform === 'darwin') {
      const { darwinStorageBindingsAt } = await import('../handoff/darwin.js');
      return (b, p) => darwinStorageBindingsAt(b, p);
    }
  } catch {
    // Bindings are an extra: listing still works without them.
  }
  return null;
}

/** Fills `info.storage` for a mass-storage device; a reader failing (an unplug racing the walk) leaves it unknown. */
export async function attachStorageBindings(info: UsbDeviceInfo, read: StorageBindingsFn | null): Promise<UsbDeviceInfo> {
  const isStorage = info.configurations[0]?.interfaces.some((i) => i.interfaceClass === 0x08);
  if (isStorage && read) {
    try {
      info.storage = await read(info.busNumber, info.portNumbers);
    } catch {
      /* storage stays unknown */
    }
  }
  return info;
}
