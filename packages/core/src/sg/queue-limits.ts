/**
 * The largest data phase the kernel passes through SG_IO in one command. The block layer
 * checks a pass-through request against the queue's `max_hw_sectors` (block/scsi_ioctl.c
 * refuses a longer one with EIO; the sg driver's mapping fails with EINVAL), and a copied user
 * buffer takes one segment per page. usb-storage sets 120 KiB on a high-speed device and
 * 1 MiB at SuperSpeed, so a fixed 1 MiB split fails on USB 2.0.
 *
 * The sg driver's reserved buffer (SG_GET_RESERVED_SIZE, 32 KiB by default) is no limit here:
 * for anything longer sg builds an indirect buffer, which the same queue limit bounds.
 *
 * Read from sysfs through the node's device number, so a symlink (/dev/disk/by-id/…) or a
 * renamed node leads to the right queue. Null when the kernel shows no limit (no sysfs, an sg
 * node with no block device and no usb-storage `max_sectors`): then nothing is split or refused
 * here, and the kernel's own error stands.
 */
import { readFile, readdir, stat } from 'node:fs/promises';

export interface QueueLimits {
  /** Bytes one SG_IO command may move. */
  maxTransferBytes: number;
  /** Where it came from, for messages: e.g. `/sys/dev/block/8:0/queue/max_hw_sectors_kb = 120`. */
  source: string;
}

export interface QueueLimitsFs {
  /** `stat` with bigint fields (rdev and the file type). */
  stat(path: string): Promise<{ rdev: bigint; isBlockDevice(): boolean; isCharacterDevice(): boolean }>;
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export const realQueueLimitsFs: QueueLimitsFs = {
  stat: (path) => stat(path, { bigint: true }),
  readFile: (path) => readFile(path, 'utf8'),
  readdir: (path) => readdir(path),
};

/** The segment bound assumes 4 KiB pages: the smallest a Linux host uses, so never too high. */
const PAGE_BYTES = 4096;

/** glibc's gnu_dev_major / gnu_dev_minor. */
export function splitDeviceNumber(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major & 0xffff_ffffn), minor: Number(minor & 0xffff_ffffn) };
}

async function readNumber(fs: QueueLimitsFs, path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await fs.readFile(path)).trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** `queue/max_hw_sectors_kb`, bounded by `queue/max_segments` pages. */
async function fromQueue(fs: QueueLimitsFs, queue: string): Promise<QueueLimits | null> {
  const kb = await readNumber(fs, `${queue}/max_hw_sectors_kb`);
  if (kb === undefined) return null;
  let limit = kb * 1024;
  let source = `${queue}/max_hw_sectors_kb = ${kb}`;
  const segments = await readNumber(fs, `${queue}/max_segments`);
  if (segments !== undefined && segments * PAGE_BYTES < limit) {
    limit = segments * PAGE_BYTES;
    source = `${queue}/max_segments = ${segments} (pages of ${PAGE_BYTES} bytes)`;
  }
  return { maxTransferBytes: limit, source };
}

export async function readQueueLimits(
  path: string,
  options: { fs?: QueueLimitsFs; sysfs?: string } = {},
): Promise<QueueLimits | null> {
  const fs = options.fs ?? realQueueLimitsFs;
  const sysfs = options.sysfs ?? '/sys';
  let node;
  try {
    node = await fs.stat(path);
  } catch {
    return null;
  }
  const { major, minor } = splitDeviceNumber(node.rdev);
  if (node.isBlockDevice()) {
    const dir = `${sysfs}/dev/block/${major}:${minor}`;
    // A partition's queue is its disk's (the kernel refuses SG_IO on partitions anyway).
    return (await fromQueue(fs, `${dir}/queue`)) ?? (await fromQueue(fs, `${dir}/../queue`));
  }
  if (node.isCharacterDevice()) {
    const device = `${sysfs}/dev/char/${major}:${minor}/device`;
    const disks = await fs.readdir(`${device}/block`).catch(() => [] as string[]);
    for (const disk of disks) {
      const limits = await fromQueue(fs, `${device}/block/${disk}/queue`);
      if (limits) return limits;
    }
    // An sg node without a block device (a scanner, a tape without st): usb-storage's own attribute.
    const sectors = await readNumber(fs, `${device}/max_sectors`);
    if (sectors !== undefined) return { maxTransferBytes: sectors * 512, source: `${device}/max_sectors = ${sectors}` };
  }
  return null;
}
