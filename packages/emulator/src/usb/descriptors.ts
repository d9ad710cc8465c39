import type { ConfigurationDescriptor, InterfaceDescriptor, UsbSpeed } from '@usbscsi/core';
import { UAS_PIPES } from '../uas/uas-device.js';

export type InterfaceLayout = 'bot' | 'bot+uas' | 'uas-only';

export const BOT_IN = 0x81;
export const BOT_OUT = 0x02;

export function bulkMaxPacket(speed: UsbSpeed): number {
  if (speed === 'super' || speed === 'super-plus') return 1024;
  if (speed === 'high') return 512;
  return 64;
}

/**
 * What a USB-SATA bridge or a flash drive reports: interface 0, class 08
 * subclass 06, BOT (0x50) at alternate setting 0 and, on UAS bridges, UAS
 * (0x62) at alternate setting 1 with four bulk endpoints. `uas-only` leaves the
 * BOT alternate out (to test that BOT refuses it).
 */
export function configurationFor(layout: InterfaceLayout, speed: UsbSpeed): ConfigurationDescriptor {
  const mps = bulkMaxPacket(speed);
  const burst = speed === 'super' || speed === 'super-plus' ? { maxBurst: 15 } : {};
  const bulk = (address: number) => ({ address, transferType: 'bulk' as const, maxPacketSize: mps, ...burst });
  const bot: InterfaceDescriptor = {
    interfaceNumber: 0,
    alternateSetting: 0,
    interfaceClass: 0x08,
    interfaceSubClass: 0x06,
    interfaceProtocol: 0x50,
    endpoints: [bulk(BOT_IN), bulk(BOT_OUT)],
  };
  const uas = (alt: number): InterfaceDescriptor => ({
    interfaceNumber: 0,
    alternateSetting: alt,
    interfaceClass: 0x08,
    interfaceSubClass: 0x06,
    interfaceProtocol: 0x62,
    endpoints: [bulk(UAS_PIPES.commandOut), bulk(UAS_PIPES.statusIn), bulk(UAS_PIPES.dataIn), bulk(UAS_PIPES.dataOut)],
  });
  const interfaces = layout === 'bot' ? [bot] : layout === 'bot+uas' ? [bot, uas(1)] : [uas(0)];
  return { configurationValue: 1, interfaces };
}

export interface DeviceStrings {
  manufacturer: string;
  product: string;
  serialNumber: string;
}

/** Standard descriptors as bytes (USB 2.0 §9.6), for GET_DESCRIPTOR on ep0 and trace tools. */
export function deviceDescriptorBytes(vendorId: number, productId: number, speed: UsbSpeed): Uint8Array {
  const superSpeed = speed === 'super' || speed === 'super-plus';
  const d = new Uint8Array(18);
  const v = new DataView(d.buffer);
  d[0] = 18;
  d[1] = 0x01;
  v.setUint16(2, superSpeed ? 0x0320 : 0x0200, true);
  d[7] = superSpeed ? 9 : 64; // bMaxPacketSize0 (2^9 = 512 for SuperSpeed)
  v.setUint16(8, vendorId, true);
  v.setUint16(10, productId, true);
  v.setUint16(12, 0x0100, true);
  d[14] = 1;
  d[15] = 2;
  d[16] = 3;
  d[17] = 1;
  return d;
}

/** Pipe Usage (UAS 1.0 §5.3.3.1) of each UAS endpoint. */
const PIPE_IDS = new Map<number, number>([
  [UAS_PIPES.commandOut, 1],
  [UAS_PIPES.statusIn, 2],
  [UAS_PIPES.dataIn, 3],
  [UAS_PIPES.dataOut, 4],
]);
/** MaxStreams exponent of the UAS status and data endpoints at SuperSpeed: 2^4 = 16 streams, as QEMU's usb-uas. */
export const UAS_STREAM_EXPONENT = 4;

export function configurationDescriptorBytes(config: ConfigurationDescriptor, speed: UsbSpeed): Uint8Array {
  const superSpeed = speed === 'super' || speed === 'super-plus';
  const parts: number[] = [];
  for (const intf of config.interfaces) {
    parts.push(
      9,
      0x04,
      intf.interfaceNumber,
      intf.alternateSetting,
      intf.endpoints.length,
      intf.interfaceClass,
      intf.interfaceSubClass,
      intf.interfaceProtocol,
      0,
    );
    for (const ep of intf.endpoints) {
      parts.push(7, 0x05, ep.address, 0x02, ep.maxPacketSize & 0xff, ep.maxPacketSize >> 8, 0);
      const uas = intf.interfaceProtocol === 0x62;
      const pipe = uas ? PIPE_IDS.get(ep.address) : undefined;
      const streams = uas && pipe !== undefined && pipe !== 1 ? UAS_STREAM_EXPONENT : 0;
      if (superSpeed) parts.push(6, 0x30, ep.maxBurst ?? 0, streams, 0, 0);
      if (pipe !== undefined) parts.push(4, 0x24, pipe, 0);
    }
  }
  const numInterfaces = new Set(config.interfaces.map((i) => i.interfaceNumber)).size;
  const total = 9 + parts.length;
  const header = [
    9,
    0x02,
    total & 0xff,
    total >> 8,
    numInterfaces,
    config.configurationValue,
    0,
    0x80,
    superSpeed ? 112 : 250,
  ];
  return Uint8Array.from([...header, ...parts]);
}

export function stringDescriptorBytes(index: number, strings: DeviceStrings): Uint8Array | null {
  if (index === 0) return Uint8Array.of(4, 0x03, 0x09, 0x04); // English (US)
  const text = [strings.manufacturer, strings.product, strings.serialNumber][index - 1];
  if (text === undefined) return null;
  const d = new Uint8Array(2 + text.length * 2);
  d[0] = d.length;
  d[1] = 0x03;
  for (let i = 0; i < text.length; i++) {
    d[2 + i * 2] = text.charCodeAt(i) & 0xff;
    d[3 + i * 2] = text.charCodeAt(i) >> 8;
  }
  return d;
}
