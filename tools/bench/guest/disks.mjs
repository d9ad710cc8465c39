// Which of QEMU's usb-storage disks is which, by USB serial number (`serial=` on the QEMU command
// line): every path measures BENCH1; the `multi` path adds BENCH2. Two disks share 46f4:0001, so
// neither a VID:PID nor "the first sd disk" names one.
import { readFileSync } from 'node:fs';
import { sdDisks, usbInterfaceOfDisk, waitFor } from '../../vm/guest/util.mjs';

export const SERIALS = ['BENCH1', 'BENCH2'];
export const selectorOf = (serial) => `46f4:0001:${serial}`;

/** The USB serial of the device behind /sys/block/<disk>, or null. */
export function serialOfDisk(disk) {
  const iface = usbInterfaceOfDisk(disk);
  if (!iface) return null;
  try {
    return readFileSync(`/sys/bus/usb/devices/${iface.split(':')[0]}/serial`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The sd disk of the device with this serial, or null while the kernel does not hold it. */
export function diskOfSerial(serial) {
  return sdDisks().find((d) => serialOfDisk(d) === serial) ?? null;
}

/** Waits (bounded) until the kernel holds the first `count` bench disks again, each with a size. */
export async function waitForBenchDisks(count) {
  await waitFor(
    () =>
      SERIALS.slice(0, count).every((serial) => {
        const d = diskOfSerial(serial);
        return d !== null && Number(readFileSync(`/sys/block/${d}/size`, 'utf8')) > 0;
      }),
    `usb-storage to hold ${SERIALS.slice(0, count).join(' and ')}`,
    20_000,
  );
}
