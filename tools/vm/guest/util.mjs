// Helpers shared by the guest cases: waiting on sysfs, finding QEMU's disk, assertions.
import { readdirSync, readFileSync, existsSync, realpathSync } from 'node:fs';

export const QEMU_VID = 0x46f4;
export const QEMU_PID = 0x0001;

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

/** Whole-disk sd block devices the kernel has now (`sda`, ...). */
export function sdDisks() {
  return readdirSync('/sys/block').filter((d) => /^sd[a-z]+$/.test(d));
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
