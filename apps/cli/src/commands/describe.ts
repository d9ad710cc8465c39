/** Human and JSON descriptions of the device a command ran on. */
import type { ScsiDevice, UsbDeviceInfo } from '@usbscsi/core';
import { locationOf } from '@usbscsi/core';
import { hex4 } from '../format/table.js';

export function usbIdentity(usb: UsbDeviceInfo): string {
  const name = [usb.manufacturer, usb.product].filter(Boolean).join(' ');
  const serial = usb.serialNumber ? `, serial ${usb.serialNumber}` : '';
  return `${name || 'USB device'} (${hex4(usb.vendorId)}:${hex4(usb.productId)} at ${locationOf(usb)}${serial})`;
}

/** "SanDisk Ultra (0781:5567 at 1-2, serial X), LUN 0 via bot/native" */
export function deviceLine(device: ScsiDevice): string {
  const d = device.description;
  const who = d.usb ? usbIdentity(d.usb) : (d.path ?? 'device');
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
    usb: d.usb ? usbJson(d.usb) : null,
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
