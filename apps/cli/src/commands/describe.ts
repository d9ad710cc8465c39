/** Human and JSON descriptions of the device a command ran on. */
import type { DaemonDeviceIdentity, ScsiDevice, UsbDeviceInfo } from '@usbscsi/core';
import { locationOf } from '@usbscsi/core';
import { hex4 } from '../format/table.js';

export function usbIdentity(usb: UsbDeviceInfo): string {
  const name = [usb.manufacturer, usb.product].filter(Boolean).join(' ');
  const serial = usb.serialNumber ? `, serial ${usb.serialNumber}` : '';
  return `${name || 'USB device'} (${hex4(usb.vendorId)}:${hex4(usb.productId)} at ${locationOf(usb)}${serial})`;
}

/** "SanDisk Ultra (0781:5567 at 1-2 on usbscsid as dev-1, serial X)": the daemon's listing of the device. */
export function daemonDeviceIdentity(d: DaemonDeviceIdentity): string {
  const name = [d.manufacturer, d.product].filter(Boolean).join(' ');
  const serial = d.serialNumber ? `, serial ${d.serialNumber}` : '';
  return `${name || 'USB device'} (${hex4(d.vendorId)}:${hex4(d.productId)} at ${d.location} on usbscsid as ${d.id}${serial})`;
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

export function usbJson(usb: UsbDeviceInfo): Record<string, unknown> {
  return {
    vendorId: hex4(usb.vendorId),
    productId: hex4(usb.productId),
    manufacturer: usb.manufacturer ?? null,
    product: usb.product ?? null,
    serialNumber: usb.serialNumber ?? null,
    location: locationOf(usb),
    busNumber: usb.busNumber,
    deviceAddress: usb.deviceAddress,
    speed: usb.speed,
  };
}

/** The daemon's listing in the `usb` shape; what it does not list (bus, address, speed) is null. */
function daemonUsbJson(d: DaemonDeviceIdentity): Record<string, unknown> {
  return {
    vendorId: hex4(d.vendorId),
    productId: hex4(d.productId),
    manufacturer: d.manufacturer ?? null,
    product: d.product ?? null,
    serialNumber: d.serialNumber ?? null,
    location: d.location,
    busNumber: null,
    deviceAddress: null,
    speed: null,
  };
}
