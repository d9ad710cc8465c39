/**
 * Standard USB descriptors rebuilt from a {@link UsbDeviceInfo}. The trace
 * opens with a GET_DESCRIPTOR exchange carrying them because Wireshark learns
 * an interface's class (and so decodes BOT data, CSWs and sense) only from a
 * configuration descriptor it saw on the wire.
 */
import type { TransferType, UsbDeviceInfo, UsbSpeed } from '../usb/backend.js';

const ENDPOINT_ATTRIBUTES: Record<TransferType, number> = { control: 0, isochronous: 1, bulk: 2, interrupt: 3 };
const BCD_USB: Record<UsbSpeed, number> = {
  low: 0x0110,
  full: 0x0110,
  high: 0x0200,
  super: 0x0300,
  'super-plus': 0x0320,
  unknown: 0x0200,
};

export function buildDeviceDescriptor(info: UsbDeviceInfo): Uint8Array {
  const d = new Uint8Array(18);
  const v = new DataView(d.buffer);
  d[0] = 18;
  d[1] = 0x01;
  v.setUint16(2, BCD_USB[info.speed], true);
  // Class defined per interface (0), as mass-storage devices report it.
  d[7] = info.speed === 'super' || info.speed === 'super-plus' ? 9 : 64; // bMaxPacketSize0 (exponent for SuperSpeed)
  v.setUint16(8, info.vendorId, true);
  v.setUint16(10, info.productId, true);
  v.setUint16(12, 0x0100, true);
  d[17] = Math.max(1, info.configurations.length); // bNumConfigurations
  return d;
}

/**
 * The active configuration (the first listed) with every interface and endpoint; undefined when the backend reported
 * none.
 */
export function buildConfigurationDescriptor(info: UsbDeviceInfo): Uint8Array | undefined {
  const config = info.configurations[0];
  if (!config) return undefined;
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
      parts.push(
        7,
        0x05,
        ep.address,
        ENDPOINT_ATTRIBUTES[ep.transferType],
        ep.maxPacketSize & 0xff,
        (ep.maxPacketSize >> 8) & 0xff,
        ep.transferType === 'interrupt' ? 1 : 0,
      );
    }
  }
  const total = 9 + parts.length;
  const numInterfaces = new Set(config.interfaces.map((i) => i.interfaceNumber)).size;
  return Uint8Array.from([
    9,
    0x02,
    total & 0xff,
    total >> 8,
    numInterfaces,
    config.configurationValue,
    0,
    0x80,
    50,
    ...parts,
  ]);
}
