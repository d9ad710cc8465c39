/**
 * Where a USB device is plugged in, named one way everywhere (selectors, the
 * daemon's device ids, lease journals, messages): Linux's bus-port path.
 */

export interface UsbPlace {
  busNumber: number;
  /** Port numbers from the root hub, e.g. [2, 3] for `1-2.3`; empty for the root hub itself. */
  portNumbers: readonly number[];
}

/** Bus-port path as Linux prints it: `1-2.3`; a root hub (no ports) is `1-0`, as in its interface ids (`1-0:1.0`). */
export function locationOf(place: UsbPlace): string {
  return `${place.busNumber}-${place.portNumbers.length ? place.portNumbers.join('.') : '0'}`;
}

/** The inverse of {@link locationOf}: `1-2.3` → bus 1, ports [2, 3]; undefined when `text` is not a bus-port path. */
export function parseLocation(text: string): { busNumber: number; portNumbers: number[] } | undefined {
  const m = /^(\d{1,3})-(\d{1,3}(?:\.\d{1,3}){0,6})$/.exec(text);
  if (!m) return undefined;
  const portNumbers = m[2] === '0' ? [] : m[2]!.split('.').map(Number);
  return { busNumber: Number(m[1]), portNumbers };
}

/** Is it the same place? */
export function sameLocation(a: UsbPlace, b: UsbPlace): boolean {
  return locationOf(a) === locationOf(b);
}

/**
 * The device's directory name under /sys/bus/usb/devices: its location, except
 * a root hub, which sysfs names `usb1` (while its interfaces are `1-0:1.0`).
 */
export function sysfsDeviceName(place: UsbPlace): string {
  return place.portNumbers.length ? locationOf(place) : `usb${place.busNumber}`;
}
