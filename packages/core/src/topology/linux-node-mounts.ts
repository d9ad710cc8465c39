/**
 * Filesystems mounted from the disk behind a Linux device node that SG_IO is
 * sent to (`/dev/sdX`, or `/dev/sgN` and the whole disk of its SCSI device),
 * for the pass-through transport's "never write to a mounted medium" check.
 */
import { closeSync, constants, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MountInfo, StorageBinding } from '../usb/backend.js';
import { linuxStorageBindings, type LinuxSysfsOptions } from './linux-sysfs.js';
import { readMountinfoSync } from './mountinfo.js';

/** What the kernel said to an exclusive claim of a whole disk (probeDiskClaim). */
export type DiskClaim = 'free' | 'busy' | 'unknown';

/**
 * Claims the whole disk `node` exclusively and lets it go at once: open read-only with O_EXCL
 * (O_NONBLOCK: no medium is not an error), then close. The kernel refuses (EBUSY) while anything
 * holds the disk or one of its partitions exclusively: a mounted filesystem (every block-device
 * mount claims its device, whatever name it was mounted by), md, device-mapper, swap, mkfs.
 * Read-only, so closing it does not make udev probe the disk again. 'unknown' when it cannot be
 * opened at all (gone, renamed, no permission).
 */
export function probeDiskClaim(node: string): DiskClaim {
  let fd: number;
  try {
    fd = openSync(node, constants.O_RDONLY | constants.O_EXCL | constants.O_NONBLOCK);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBUSY' ? 'busy' : 'unknown';
  }
  closeSync(fd);
  return 'free';
}

export interface WriteMountCheckOptions extends LinuxSysfsOptions {
  /** How a disk is claimed (default probeDiskClaim; tests give their own). */
  claim?: (node: string) => DiskClaim;
}

/**
 * The mount check ScsiDevice runs before every write on an SG_IO device, for the disk behind a
 * node (`{ path }`) or every disk of a USB device (`{ busNumber, portNumbers }`). The full check
 * (sysfs, then /proc/self/mountinfo parsed) cost more than a 4 MiB WRITE in the guest, so it runs
 * the first time and whenever the quick one is not sure. The quick one answers "nothing mounted"
 * only when every disk the last full check found can still be claimed exclusively
 * (probeDiskClaim: no mounted filesystem, md, dm or swap on it) and mountinfo does not name any of
 * them (a FUSE filesystem need not claim its device). With no disk found, the full check runs each
 * time: one may appear (a card put in a reader).
 */
export function linuxWriteMountCheck(
  target: { path: string } | { busNumber: number; portNumbers: number[] },
  options: WriteMountCheckOptions = {},
): () => Promise<MountInfo[]> {
  const claim = options.claim ?? probeDiskClaim;
  let disks: string[] = [];
  const full = async (): Promise<MountInfo[]> => {
    if ('path' in target) {
      const found = mountsOfNode(target.path, options);
      disks = found.disk ? [found.disk] : [];
      return found.mounts;
    }
    const bindings = await linuxStorageBindings(target.busNumber, target.portNumbers, options);
    disks = bindings.flatMap((b) => b.blockDevices);
    return mountsOfBindings(bindings);
  };
  return async () => {
    if (disks.length > 0 && disks.every((d) => claim(d) === 'free')) {
      let mountinfo: string | undefined;
      try {
        mountinfo = readFileSync(options.mountinfoPath ?? '/proc/self/mountinfo', 'utf8');
      } catch {
        mountinfo = undefined;
      }
      if (mountinfo !== undefined && !disks.some((d) => mountinfo.includes(d))) return [];
    }
    return full();
  };
}

/** Mounts on any disk of the USB device at a bus-port path (every mass-storage interface). */
export async function linuxMountsOfUsbDevice(
  busNumber: number,
  portNumbers: number[],
  options: LinuxSysfsOptions = {},
): Promise<MountInfo[]> {
  return mountsOfBindings(await linuxStorageBindings(busNumber, portNumbers, options));
}

/** The mounts of every storage interface, as MountInfo. */
function mountsOfBindings(bindings: StorageBinding[]): MountInfo[] {
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
  return Promise.resolve(mountsOfNode(path, options).mounts);
}

/** The node's whole disk (a device path, none for an sg node with no disk) and its mounts. */
function mountsOfNode(path: string, options: LinuxSysfsOptions): { disk?: string; mounts: MountInfo[] } {
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
    if (blocks.length === 0) return { mounts: [] };
    disk = blocks[0]!;
  }
  const node = `${devRoot}/${disk}`;
  const escaped = node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const partition = new RegExp(`^${escaped}(p?\\d+)?$`);
  const mounts = readMountinfoSync(options.mountinfoPath)
    .filter((m) => partition.test(m.source))
    .map((m) => ({ device: m.source, mountPoint: m.mountPoint, fsType: m.fsType }));
  return { disk: node, mounts };
}
