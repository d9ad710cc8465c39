/**
 * Filesystems mounted from the disk behind a Linux device node that SG_IO is
 * sent to (`/dev/sdX`, or `/dev/sgN` and the whole disk of its SCSI device),
 * and the disk's exclusive claim held for a write: the pass-through transport's
 * "never write to a mounted medium".
 */
import { closeSync, constants, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MediumWriteClaim, MountInfo, StorageBinding } from '../usb/backend.js';
import { linuxStorageBindings, type LinuxSysfsOptions } from './linux-sysfs.js';
import { parseSwaps, readMountinfoSync } from './mountinfo.js';
import type { DiskUser } from './types.js';

/** What the kernel said to an exclusive claim of a whole disk (claimDisk, probeDiskClaim). */
export type DiskClaim = 'free' | 'busy' | 'unknown';

/** An exclusive claim of a whole disk: held from 'free' until release(); nothing to let go otherwise. */
export interface HeldDiskClaim {
  state: DiskClaim;
  release(): void;
}

/**
 * Claims the whole disk `node` exclusively and keeps the claim until release(): open read-only
 * with O_EXCL (O_NONBLOCK: no medium is not an error). The kernel refuses (EBUSY) while anything
 * holds the disk or one of its partitions exclusively: a mounted filesystem (every block-device
 * mount claims its device, whatever name it was mounted by), md, device-mapper, swap, mkfs; and
 * while the claim is held it refuses all of those in turn, so no mount can start. Read-only, so
 * closing it does not make udev probe the disk again. 'unknown' when it cannot be opened at all
 * (gone, renamed, no permission).
 */
export function claimDisk(node: string): HeldDiskClaim {
  let fd: number;
  try {
    fd = openSync(node, constants.O_RDONLY | constants.O_EXCL | constants.O_NONBLOCK);
  } catch (err) {
    return { state: (err as NodeJS.ErrnoException).code === 'EBUSY' ? 'busy' : 'unknown', release: () => {} };
  }
  let open = true;
  return {
    state: 'free',
    release: () => {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** Claims the whole disk `node` exclusively and lets it go at once (claimDisk). */
export function probeDiskClaim(node: string): DiskClaim {
  const claim = claimDisk(node);
  claim.release();
  return claim.state;
}

export interface WriteClaimOptions extends LinuxSysfsOptions {
  /** How a disk is claimed (default claimDisk; tests give their own). */
  claim?: (node: string) => HeldDiskClaim;
  /**
   * Whether the mount table changed since a descriptor of it was opened or last asked (the
   * addon's pollPriority). Given, the quick check keeps /proc/self/mountinfo open and reads it
   * again only when it changed; without it, it reads the table before every write.
   */
  mountTableChanged?: (fd: number) => boolean;
}

/** linuxMediumWriteClaim's claim taker; close() lets go of the mount table it keeps open. */
export interface MediumWriteClaimTaker {
  (): Promise<MediumWriteClaim>;
  close(): void;
}

/**
 * The mount table's text, read again only when it may have changed: with `changed`, a descriptor
 * is kept and, while the kernel says nothing was mounted or unmounted since (proc(5): the file
 * polls POLLPRI on a change), a read costs one poll(2) instead of the whole table. Undefined when
 * it cannot be read.
 */
function mountTableText(path: string, changed: ((fd: number) => boolean) | undefined) {
  let fd: number | undefined;
  let text: string | undefined;
  const readFrom = (from: number): string => {
    const chunks: Buffer[] = [];
    for (let at = 0; ;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(from, chunk, 0, chunk.length, at);
      if (n === 0) return Buffer.concat(chunks).toString('utf8');
      chunks.push(chunk.subarray(0, n));
      at += n;
    }
  };
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    text = undefined;
  };
  return {
    read(): string | undefined {
      try {
        if (!changed) return readFileSync(path, 'utf8');
        if (fd === undefined) {
          // Read after the open: a change from the open on is what the next poll reports.
          fd = openSync(path, 'r');
          text = readFrom(fd);
        } else if (changed(fd)) text = readFrom(fd);
        return text;
      } catch {
        close();
        return undefined;
      }
    },
    close,
  };
}

/**
 * The claim ScsiDevice takes before a medium write on an SG_IO device, for the disk behind a node
 * (`{ path }`) or every disk of a USB device (`{ busNumber, portNumbers }`), and keeps until the
 * write call is over: each disk's exclusive claim (claimDisk), so no filesystem can be mounted
 * from it between the check and the last WRITE.
 *
 * The write may go ahead when every disk is claimed and no filesystem is mounted from any. A disk
 * whose claim the kernel refuses is mounted (the mounts are reported) or held by md,
 * device-mapper, swap or another program's exclusive open (reported in `heldBy`): refused either
 * way. A disk that cannot be opened at all is judged by the full check alone, as it was before
 * claims were held. The full check (sysfs, then /proc/self/mountinfo parsed) cost more than a
 * 4 MiB WRITE in the guest, so it runs the first time and whenever the quick one is not sure; the
 * quick one is the claim, and mountinfo not naming any of the disks (a FUSE filesystem need not
 * claim its device), read again only when the kernel says it changed where `mountTableChanged` is
 * given. With no disk found, the full check runs each time: one may appear (a card put in a
 * reader).
 */
export function linuxMediumWriteClaim(
  target: { path: string } | { busNumber: number; portNumbers: number[] },
  options: WriteClaimOptions = {},
): MediumWriteClaimTaker {
  const claim = options.claim ?? claimDisk;
  const mountTable = mountTableText(options.mountinfoPath ?? '/proc/self/mountinfo', options.mountTableChanged);
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
  const nothingHeld = (mounts: MountInfo[], heldBy: DiskUser[] = []): MediumWriteClaim => ({
    mounts,
    heldBy,
    release: () => {},
  });
  const take = async (): Promise<MediumWriteClaim> => {
    if (disks.length === 0) {
      const mounts = await full();
      if (mounts.length > 0 || disks.length === 0) return nothingHeld(mounts);
    }
    const held = disks.map((disk) => ({ disk, ...claim(disk) }));
    let kept = true;
    const release = () => {
      if (!kept) return;
      kept = false;
      for (const h of held) h.release();
    };
    const busy = held.filter((h) => h.state === 'busy').map((h) => h.disk);
    try {
      if (busy.length > 0) {
        release();
        const mounts = await full();
        return nothingHeld(mounts, mounts.length > 0 ? [] : busy.flatMap((disk) => usersOfDisk(disk, options)));
      }
      // Quick only when every disk is claimed: one that could not be opened gets the full check.
      const mountinfo = held.every((h) => h.state === 'free') ? mountTable.read() : undefined;
      const mounts = mountinfo !== undefined && !disks.some((d) => mountinfo.includes(d)) ? [] : await full();
      if (mounts.length > 0) {
        release();
        return nothingHeld(mounts);
      }
      return { mounts: [], heldBy: [], release };
    } catch (err) {
      release();
      throw err;
    }
  };
  return Object.assign(take, { close: mountTable.close });
}

/**
 * Who holds a whole disk or one of its partitions, for a claim the kernel refused with nothing
 * mounted: md and device-mapper (sysfs `holders/`), swap (/proc/swaps); otherwise an exclusive
 * open this cannot name (mkfs, a partition tool, another writer).
 */
function usersOfDisk(disk: string, options: LinuxSysfsOptions): DiskUser[] {
  const devRoot = options.devRoot ?? '/dev';
  const name = disk.startsWith(`${devRoot}/`) ? disk.slice(devRoot.length + 1) : disk;
  const dir = join(options.sysfsRoot ?? '/sys', 'class/block', name);
  const list = (path: string): string[] => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  };
  const users: DiskUser[] = list(join(dir, 'holders')).map((user) => ({ device: disk, user }));
  for (const part of list(dir).filter((entry) => entry.startsWith(name))) {
    for (const user of list(join(dir, part, 'holders'))) users.push({ device: `${devRoot}/${part}`, user });
  }
  let swaps = '';
  try {
    swaps = readFileSync(options.swapsPath ?? '/proc/swaps', 'utf8');
  } catch {
    swaps = '';
  }
  const ofDisk = diskOrPartition(disk);
  for (const file of parseSwaps(swaps)) if (ofDisk.test(file)) users.push({ device: file, user: 'swap' });
  return users.length > 0
    ? users
    : [{ device: disk, user: 'an exclusive open (mkfs, a partition tool, another writer)' }];
}

/** A whole-disk node or one of its partitions (`/dev/sdb`, `/dev/sdb1`, `/dev/nvme0n1p2`), not `/dev/sdba`. */
function diskOrPartition(node: string): RegExp {
  return new RegExp(`^${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(p?\\d+)?$`);
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
  const partition = diskOrPartition(node);
  const mounts = readMountinfoSync(options.mountinfoPath)
    .filter((m) => partition.test(m.source))
    .map((m) => ({ device: m.source, mountPoint: m.mountPoint, fsType: m.fsType }));
  return { disk: node, mounts };
}
