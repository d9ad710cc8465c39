/** Human and JSON descriptions of the device a command ran on. */
import type { DaemonDeviceIdentity, ScsiDevice, UsbDeviceInfo } from '@usbscsi/core';
import { hex, usbIdsOf } from '@usbscsi/core/hex';
import { locationOf } from '@usbscsi/core/usb';

type IdentityFields = Pick<UsbDeviceInfo, 'vendorId' | 'productId' | 'manufacturer' | 'product' | 'serialNumber'>;

/** "SanDisk Ultra (0781:5567 at WHERE, serial X)": one wording for a local and a daemon-served device. */
function identityText(d: IdentityFields, where: string): string {
  const name = [d.manufacturer, d.product].filter(Boolean).join(' ');
  const serial = d.serialNumber ? `, serial ${d.serialNumber}` : '';
  return `${name || 'USB device'} (${usbIdsOf(d)} at ${where}${serial})`;
}

export function usbIdentity(usb: UsbDeviceInfo): string {
  return identityText(usb, locationOf(usb));
}

/** "SanDisk Ultra (0781:5567 at 1-2 on usbscsid as dev-1, serial X)": the daemon's listing of the device. */
export function daemonDeviceIdentity(d: DaemonDeviceIdentity): string {
  return identityText(d, `${d.location} on usbscsid as ${d.id}`);
}

/** "SanDisk Ultra (0781:5567 at 1-2, serial X), LUN 0 via bot/native" */
export function deviceLine(device: ScsiDevice): string {
  const d = device.description;
  const who = d.usb ? usbIdentity(d.usb) : d.daemonDevice ? daemonDeviceIdentity(d.daemonDevice) : (d.path ?? 'device');
  return `${who}, LUN ${d.lun} via ${d.transport}/${d.backend}`;
}

export function deviceJson(device: ScsiDevice): Record<string, unknown> {
  const d = device.description;
  return {
    backend: d.backend,
    transport: d.transport,
    lun: d.lun,
    maxLun: d.maxLun,
    path: d.path ?? null,
    usb: d.usb ? usbJson(d.usb) : d.daemonDevice ? daemonUsbJson(d.daemonDevice) : null,
    daemonDeviceId: d.daemonDevice?.id ?? null,
  };
}

/** The `usb` document of --json output: identity, then where and how fast (null where the lister does not say). */
export interface UsbJson {
  vendorId: string;
  productId: string;
  manufacturer: string | null;
  product: string | null;
  serialNumber: string | null;
  location: string;
  busNumber: number | null;
  deviceAddress: number | null;
  speed: UsbDeviceInfo['speed'] | null;
}

function identityJson(
  d: IdentityFields,
  location: string,
  bus: Pick<UsbDeviceInfo, 'busNumber' | 'deviceAddress' | 'speed'> | null,
): UsbJson {
  return {
    vendorId: hex(d.vendorId, 4),
    productId: hex(d.productId, 4),
    manufacturer: d.manufacturer ?? null,
    product: d.product ?? null,
    serialNumber: d.serialNumber ?? null,
    location,
    busNumber: bus?.busNumber ?? null,
    deviceAddress: bus?.deviceAddress ?? null,
    speed: bus?.speed ?? null,
  };
}

export function usbJson(usb: UsbDeviceInfo): UsbJson {
  return identityJson(usb, locationOf(usb), usb);
}

/** The daemon's listing in the `usb` shape; what it does not list (bus, address, speed) is null. */
function daemonUsbJson(d: DaemonDeviceIdentity): UsbJson {
  return identityJson(d, d.location, null);
}
