/**
 * Filesystems mounted from the disk behind a Linux device node that SG_IO is
 * sent to (`/dev/sdX`, or `/dev/sgN` and the whole disk of its SCSI device),
 * for the pass-through transport's "never write to a mounted medium" check.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MountInfo } from '../usb/backend.js';
import { linuxStorageBindings, type LinuxSysfsOptions } from './linux-sysfs.js';
import { readMountinfoSync } from './mountinfo.js';

/** Mounts on any disk of the USB device at a bus-port path (every mass-storage interface). */
export async function linuxMountsOfUsbDevice(
  busNumber: number,
  portNumbers: number[],
  options: LinuxSysfsOptions = {},
): Promise<MountInfo[]> {
  const bindings = await linuxStorageBindings(busNumber, portNumbers, options);
  return bindings.flatMap((b) =>
    b.mounts.map((m) => ({ device: m.device, mountPoint: m.mountPoint, fsType: m.fsType })),
  );
}

/**
 * Mounts of a whole disk node or of the disk an sg node views (its partitions included); none for a node with no disk.
 * Read synchronously (sysfs and procfs never wait for a device): SG_IO's ScsiDevice checks it before every write,
 * and the asynchronous reads cost more than a 4 MiB WRITE in the guest (docs/benchmarks.md).
 */
export async function linuxMountsOfNode(path: string, options: LinuxSysfsOptions = {}): Promise<MountInfo[]> {
  return Promise.resolve(mountsOfNode(path, options));
}

function mountsOfNode(path: string, options: LinuxSysfsOptions): MountInfo[] {
  const devRoot = options.devRoot ?? '/dev';
  let disk = path.startsWith(`${devRoot}/`) ? path.slice(devRoot.length + 1) : path;
  if (/^sg\d+$/.test(disk)) {
    // An sg node is a view of a SCSI device; its whole-disk block device (if any) holds the mounts.
    let blocks: string[];
    try {
      blocks = readdirSync(join(options.sysfsRoot ?? '/sys', 'class/scsi_generic', disk, 'device/block'));
    } catch {
      blocks = [];
    }
    if (blocks.length === 0) return [];
    disk = blocks[0]!;
  }
  const escaped = `${devRoot}/${disk}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const partition = new RegExp(`^${escaped}(p?\\d+)?$`);
  return readMountinfoSync(options.mountinfoPath)
    .filter((m) => partition.test(m.source))
    .map((m) => ({ device: m.source, mountPoint: m.mountPoint, fsType: m.fsType }));
}
