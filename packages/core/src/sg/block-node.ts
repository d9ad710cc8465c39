/**
 * The block device of an sg node (`/dev/sg0` → `/dev/sda`), found through sysfs by the node's
 * device number and checked against the block node's own, so a renamed or stale `/dev` entry
 * is never taken for it. Null when there is none (a tape, a scanner, an sg node whose disk is not
 * bound to `sd`), or when `/dev` has no matching node.
 */
import { splitDeviceNumber, realQueueLimitsFs, type QueueLimitsFs } from './queue-limits.js';

export async function blockNodeOfSg(
  path: string,
  options: { fs?: QueueLimitsFs; sysfs?: string; dev?: string } = {},
): Promise<string | null> {
  const fs = options.fs ?? realQueueLimitsFs;
  const sysfs = options.sysfs ?? '/sys';
  const dev = options.dev ?? '/dev';
  try {
    const sg = await fs.stat(path);
    if (!sg.isCharacterDevice()) return null;
    const { major, minor } = splitDeviceNumber(sg.rdev);
    const device = `${sysfs}/dev/char/${major}:${minor}/device`;
    const disks = await fs.readdir(`${device}/block`);
    if (disks.length !== 1 || !/^[a-z0-9]+$/.test(disks[0]!)) return null;
    const disk = disks[0]!;
    const want = (await fs.readFile(`${device}/block/${disk}/dev`)).trim();
    const node = `${dev}/${disk}`;
    const block = await fs.stat(node);
    if (!block.isBlockDevice()) return null;
    const got = splitDeviceNumber(block.rdev);
    return `${got.major}:${got.minor}` === want ? node : null;
  } catch {
    return null;
  }
}
