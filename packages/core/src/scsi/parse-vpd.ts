/** VPD pages 00h, 80h, 83h, B0h (SPC-5 §7.7, SBC-4 §6.6.4). */
import { badInput } from '../errors.js';
import { ascii, be16, be32, beBig, requireLength, u8 } from './bytes.js';
import { hexBytes } from '../hex.js';

export interface VpdHeader {
  peripheralQualifier: number;
  peripheralType: number;
  pageCode: number;
  pageLength: number;
  /** The page's payload (from byte 4), clipped to what was received. */
  payload: Uint8Array;
}

/** Reads the 4-byte VPD header; checks the page code when `expected` is given. */
export function parseVpdHeader(data: Uint8Array, expected?: number): VpdHeader {
  requireLength('VPD page', data, 4);
  const pageCode = u8(data, 1);
  if (expected !== undefined && pageCode !== expected) {
    throw badInput(`VPD page: expected page 0x${expected.toString(16)}, got 0x${pageCode.toString(16)}`, {
      expected,
      pageCode,
    });
  }
  const pageLength = be16(data, 2);
  return {
    peripheralQualifier: u8(data, 0) >> 5,
    peripheralType: u8(data, 0) & 0x1f,
    pageCode,
    pageLength,
    payload: data.subarray(4, Math.min(data.length, 4 + pageLength)),
  };
}

/** VPD 00h: the list of supported VPD page codes. */
export function parseSupportedVpdPages(data: Uint8Array): number[] {
  return Array.from(parseVpdHeader(data, 0x00).payload);
}

/** VPD 80h: unit serial number, trimmed. */
export function parseUnitSerialNumber(data: Uint8Array): string {
  const p = parseVpdHeader(data, 0x80).payload;
  return ascii(p, 0, p.length);
}

const DESIGNATOR_TYPES: Record<number, string> = {
  0x0: 'vendor specific',
  0x1: 'T10 vendor ID',
  0x2: 'EUI-64',
  0x3: 'NAA',
  0x4: 'relative target port',
  0x5: 'target port group',
  0x6: 'logical unit group',
  0x7: 'MD5 logical unit identifier',
  0x8: 'SCSI name string',
  0x9: 'protocol specific port identifier',
  0xa: 'UUID',
};
const ASSOCIATIONS = ['logical unit', 'target port', 'target device', 'reserved'] as const;
const CODE_SETS: Record<number, string> = { 1: 'binary', 2: 'ASCII', 3: 'UTF-8' };

export interface Designator {
  codeSet: number;
  codeSetName: string;
  protocolIdentifier?: number;
  association: number;
  associationName: string;
  type: number;
  typeName: string;
  /** Rendered: NAA/EUI-64 as 0x-hex, T10 vendor ID and SCSI name strings as text, port numbers as decimal. */
  value: string;
  /** T10 vendor ID designators: the 8-byte vendor part. */
  vendorId?: string;
  bytes: Uint8Array;
}

function renderDesignator(type: number, codeSet: number, d: Uint8Array): { value: string; vendorId?: string } {
  switch (type) {
    case 0x1: {
      const vendorId = ascii(d, 0, 8);
      return { value: `${vendorId} ${ascii(d, 8, d.length - 8)}`.trim(), vendorId };
    }
    case 0x2:
    case 0x3:
    case 0x7:
    case 0xa:
      return { value: '0x' + hexBytes(d) };
    case 0x4:
    case 0x5:
      return { value: String(be16(d, 2)) };
    case 0x6:
      return { value: String(be16(d, 2)) };
    case 0x8:
      return { value: new TextDecoder().decode(d).replace(/\0+$/, '').trim() };
    default:
      return { value: codeSet === 2 || codeSet === 3 ? ascii(d, 0, d.length) : '0x' + hexBytes(d) };
  }
}

/** VPD 83h: device identification designators. A truncated last descriptor is clipped, not dropped. */
export function parseDeviceIdentification(data: Uint8Array): Designator[] {
  const p = parseVpdHeader(data, 0x83).payload;
  const out: Designator[] = [];
  for (let i = 0; i + 4 <= p.length;) {
    const len = u8(p, i + 3);
    const bytes = p.subarray(i + 4, Math.min(p.length, i + 4 + len));
    const codeSet = u8(p, i) & 0x0f;
    const piv = (u8(p, i + 1) & 0x80) !== 0;
    const association = (u8(p, i + 1) >> 4) & 3;
    const type = u8(p, i + 1) & 0x0f;
    out.push({
      codeSet,
      codeSetName: CODE_SETS[codeSet] ?? `reserved code set ${codeSet}`,
      ...(piv ? { protocolIdentifier: u8(p, i) >> 4 } : {}),
      association,
      associationName: ASSOCIATIONS[association] ?? 'reserved',
      type,
      typeName: DESIGNATOR_TYPES[type] ?? `reserved type 0x${type.toString(16)}`,
      ...renderDesignator(type, codeSet, bytes),
      bytes,
    });
    i += 4 + len;
  }
  return out;
}

export interface BlockLimits {
  writeSameNonZero: boolean;
  maximumCompareAndWriteLength?: number;
  optimalTransferLengthGranularity?: number;
  maximumTransferLength?: number;
  optimalTransferLength?: number;
  maximumPrefetchLength?: number;
  maximumUnmapLbaCount?: number;
  maximumUnmapBlockDescriptorCount?: number;
  optimalUnmapGranularity?: number;
  unmapGranularityAlignment?: number;
  maximumWriteSameLength?: bigint;
}

/** VPD B0h (SBC-4 table 262). Fields the page (older devices send 0x0C bytes) does not reach are absent. */
export function parseBlockLimits(data: Uint8Array): BlockLimits {
  const { payload } = parseVpdHeader(data, 0xb0);
  const has = (end: number) => 4 + payload.length >= end; // end = byte offset past the field in the page
  const d = data;
  const r: BlockLimits = { writeSameNonZero: (u8(d, 4) & 0x01) !== 0 };
  if (has(6)) r.maximumCompareAndWriteLength = u8(d, 5);
  if (has(8)) r.optimalTransferLengthGranularity = be16(d, 6);
  if (has(12)) r.maximumTransferLength = be32(d, 8);
  if (has(16)) r.optimalTransferLength = be32(d, 12);
  if (has(20)) r.maximumPrefetchLength = be32(d, 16);
  if (has(24)) r.maximumUnmapLbaCount = be32(d, 20);
  if (has(28)) r.maximumUnmapBlockDescriptorCount = be32(d, 24);
  if (has(32)) r.optimalUnmapGranularity = be32(d, 28);
  if (has(36) && (u8(d, 32) & 0x80) !== 0) r.unmapGranularityAlignment = be32(d, 32) & 0x7fffffff;
  if (has(44)) r.maximumWriteSameLength = beBig(d, 36, 8);
  return r;
}

/** Any VPD page, parsed when this module knows it, else its payload bytes. */
export type VpdPage =
  | { kind: 'supported-pages'; pageCode: 0x00; supportedPages: number[] }
  | { kind: 'unit-serial-number'; pageCode: 0x80; serialNumber: string }
  | { kind: 'device-identification'; pageCode: 0x83; designators: Designator[] }
  | { kind: 'block-limits'; pageCode: 0xb0; blockLimits: BlockLimits }
  | { kind: 'raw'; pageCode: number; payload: Uint8Array };

/** Parses a VPD page by its page code (byte 1). */
export function parseVpdPage(data: Uint8Array): VpdPage {
  const header = parseVpdHeader(data);
  switch (header.pageCode) {
    case 0x00:
      return { kind: 'supported-pages', pageCode: 0x00, supportedPages: parseSupportedVpdPages(data) };
    case 0x80:
      return { kind: 'unit-serial-number', pageCode: 0x80, serialNumber: parseUnitSerialNumber(data) };
    case 0x83:
      return { kind: 'device-identification', pageCode: 0x83, designators: parseDeviceIdentification(data) };
    case 0xb0:
      return { kind: 'block-limits', pageCode: 0xb0, blockLimits: parseBlockLimits(data) };
    default:
      return { kind: 'raw', pageCode: header.pageCode, payload: header.payload };
  }
}
