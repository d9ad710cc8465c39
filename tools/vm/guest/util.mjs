// Helpers shared by the guest cases: waiting on sysfs, finding QEMU's disk, assertions.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  writeSync,
} from 'node:fs';

export const QEMU_VID = 0x46f4;
export const QEMU_PID = 0x0001;
/** QEMU's `usb-uas` (UAS only, no BOT alternate): the xhci and ehci scenarios carry one beside usb-storage. */
export const QEMU_UAS_PID = 0x0003;

/** A 10-byte READ/WRITE-shaped CDB: `op`, 32-bit LBA, 16-bit block count. */
export const cdb10 = (op, lba, blocks) =>
  Uint8Array.of(
    op,
    0,
    lba >>> 24,
    (lba >>> 16) & 0xff,
    (lba >>> 8) & 0xff,
    lba & 0xff,
    0,
    (blocks >>> 8) & 0xff,
    blocks & 0xff,
    0,
  );

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  const a = typeof actual === 'object' ? JSON.stringify(actual) : String(actual);
  const e = typeof expected === 'object' ? JSON.stringify(expected) : String(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function assertBytesEqual(actual, expected, what) {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i])
      throw new Error(`${what}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

/** Every whole-disk sd block device the kernel has now (`sda`, ...), whichever USB device holds it. */
export function allSdDisks() {
  return readdirSync('/sys/block').filter((d) => /^sd[a-z]+$/.test(d));
}

/** `vvvv:pppp` of the USB device behind /sys/block/<disk>, or null (not USB, or gone). */
export function usbIdsOfDisk(disk) {
  const intf = usbInterfaceOfDisk(disk);
  if (!intf) return null;
  const dev = `/sys/bus/usb/devices/${intf.split(':')[0]}`;
  try {
    return `${readFileSync(`${dev}/idVendor`, 'utf8').trim()}:${readFileSync(`${dev}/idProduct`, 'utf8').trim()}`;
  } catch {
    return null;
  }
}

const UAS_IDS = `${QEMU_VID.toString(16).padStart(4, '0')}:${QEMU_UAS_PID.toString(16).padStart(4, '0')}`;

/**
 * Whole-disk sd block devices (`sda`, ...) except the usb-uas disk's: the cases written for one
 * usb-storage (or gadget) disk count and pick these, whatever the UAS disk beside it does.
 */
export function sdDisks() {
  return allSdDisks().filter((d) => usbIdsOfDisk(d) !== UAS_IDS);
}

/** The sd disks of QEMU's usb-uas device (46f4:0003): one while `uas` holds it, none while detached. */
export function uasDisks() {
  return allSdDisks().filter((d) => usbIdsOfDisk(d) === UAS_IDS);
}

/** Waits (bounded) until `pred()` is true; returns how long it took. */
export async function waitFor(pred, what, timeoutMs = 15_000) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

/** The usb interface (e.g. `1-1:1.0`) that holds /sys/block/<disk>, or null. */
export function usbInterfaceOfDisk(disk) {
  let real = '';
  try {
    real = realpathSync(`/sys/block/${disk}`);
  } catch {
    return null;
  }
  const m = real.match(/\/(\d+-[\d.]+:\d+\.\d+)\//);
  return m ? m[1] : null;
}

/** sg node name of a disk (`sg0`). */
export function sgOfDisk(disk) {
  const dir = `/sys/block/${disk}/device/scsi_generic`;
  return existsSync(dir) ? (readdirSync(dir)[0] ?? null) : null;
}

export function uptime() {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** The usb-uas disk's /dev node, once `uas` holds it with a size (bounded wait). */
export async function waitForUasDisk(timeoutMs = 30_000) {
  await waitFor(
    () => uasDisks().length === 1 && Number(readFileSync(`/sys/block/${uasDisks()[0]}/size`, 'utf8')) > 0,
    '`uas` to hold the usb-uas disk',
    timeoutMs,
  );
  return `/dev/${uasDisks()[0]}`;
}

/** Writes `bytes` at 512-byte block `lba` of the disk node `dev` through the kernel, and syncs. */
export function kernelWrite(dev, lba, bytes) {
  const fd = openSync(dev, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, lba * 512);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `length` bytes at 512-byte block `lba` of the disk node `dev` through the kernel, past its
 * page cache (dropped first: SG_IO and a leased device's writes bypass it).
 */
export function kernelRead(dev, lba, length) {
  execFileSync('blockdev', ['--flushbufs', dev]);
  const out = new Uint8Array(length);
  const fd = openSync(dev, 'r');
  try {
    assertEqual(readSync(fd, out, 0, length, lba * 512), length, 'bytes the kernel read');
  } finally {
    closeSync(fd);
  }
  return out;
}
