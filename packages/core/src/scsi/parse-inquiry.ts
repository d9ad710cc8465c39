/** Standard INQUIRY data, SPC-5 §6.7.2 table 148. */
import { ascii, requireLength, u8 } from './bytes.js';

// Peripheral device type names (SPC-5 table 149); 0Ah/0Bh/15h-1Dh reserved or obsolete.
const PDT_NAMES: Record<number, string> = {
  0x00: 'direct access block device',
  0x01: 'sequential access device',
  0x02: 'printer device',
  0x03: 'processor device',
  0x04: 'write-once device',
  0x05: 'CD/DVD device',
  0x06: 'scanner device',
  0x07: 'optical memory device',
  0x08: 'media changer device',
  0x09: 'communications device',
  0x0c: 'storage array controller device',
  0x0d: 'enclosure services device',
  0x0e: 'simplified direct access device',
  0x0f: 'optical card reader/writer device',
  0x10: 'bridge controller commands',
  0x11: 'object-based storage device',
  0x12: 'automation/drive interface',
  0x13: 'security manager device',
  0x14: 'host managed zoned block device',
  0x1e: 'well known logical unit',
  0x1f: 'unknown or no device type',
};

export function peripheralTypeName(pdt: number): string {
  return PDT_NAMES[pdt & 0x1f] ?? `reserved device type 0x${(pdt & 0x1f).toString(16)}`;
}

const VERSION_NAMES: Record<number, string> = {
  0: 'no standard claimed',
  3: 'SPC',
  4: 'SPC-2',
  5: 'SPC-3',
  6: 'SPC-4',
  7: 'SPC-5',
};

export interface StandardInquiry {
  /** 0: connected, 1: supported but not connected, 3: no device at this LUN. */
  peripheralQualifier: number;
  peripheralType: number;
  peripheralTypeName: string;
  removable: boolean;
  version: number;
  versionName: string;
  responseDataFormat: number;
  additionalLength: number;
  vendor: string;
  product: string;
  revision: string;
  flags: {
    luCongregation: boolean;
    normalAca: boolean;
    hierarchicalSupport: boolean;
    sccs: boolean;
    acc: boolean;
    tpgs: number;
    thirdPartyCopy: boolean;
    protect: boolean;
    enclosureServices: boolean;
    multiPort: boolean;
    cmdQue: boolean;
  };
  /** Bytes 36..: vendor specific (often a serial number on USB devices), as printable ASCII. */
  vendorSpecific?: string;
}

/** Parses standard INQUIRY data; needs the 5-byte header, fills what the buffer holds. */
export function parseInquiry(data: Uint8Array): StandardInquiry {
  requireLength('INQUIRY', data, 5);
  const b0 = u8(data, 0);
  const b5 = u8(data, 5);
  const b6 = u8(data, 6);
  const b7 = u8(data, 7);
  const version = u8(data, 2);
  const end = Math.min(data.length, 5 + u8(data, 4));
  const vs = end > 36 ? ascii(data, 36, Math.min(end, 56) - 36) : '';
  return {
    peripheralQualifier: b0 >> 5,
    peripheralType: b0 & 0x1f,
    peripheralTypeName: peripheralTypeName(b0),
    removable: (u8(data, 1) & 0x80) !== 0,
    version,
    versionName: VERSION_NAMES[version] ?? `version 0x${version.toString(16)}`,
    responseDataFormat: u8(data, 3) & 0x0f,
    additionalLength: u8(data, 4),
    vendor: ascii(data, 8, 8),
    product: ascii(data, 16, 16),
    revision: ascii(data, 32, 4),
    flags: {
      luCongregation: (u8(data, 1) & 0x40) !== 0,
      normalAca: (u8(data, 3) & 0x20) !== 0,
      hierarchicalSupport: (u8(data, 3) & 0x10) !== 0,
      sccs: (b5 & 0x80) !== 0,
      acc: (b5 & 0x40) !== 0,
      tpgs: (b5 >> 4) & 3,
      thirdPartyCopy: (b5 & 0x08) !== 0,
      protect: (b5 & 0x01) !== 0,
      enclosureServices: (b6 & 0x40) !== 0,
      multiPort: (b6 & 0x10) !== 0,
      cmdQue: (b7 & 0x02) !== 0,
    },
    ...(vs ? { vendorSpecific: vs } : {}),
  };
}

/** Alias of {@link StandardInquiry}, the name the device API uses. */
export type InquiryData = StandardInquiry;
