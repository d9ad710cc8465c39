/** REPORT LUNS, READ BUFFER descriptor and RECEIVE DIAGNOSTIC RESULTS page 00h. */
import { be16, be24, be32, requireLength, u8 } from './bytes.js';

export interface ReportedLun {
  /** The 8-byte LUN structure (SAM-5 §4.7). */
  raw: Uint8Array;
  addressMethod: 'peripheral' | 'flat' | 'logical unit' | 'extended';
  /** First-level LUN number: peripheral → byte 1, flat → 14 bits, logical unit → 5 bits. */
  lun: number;
  /** Peripheral device addressing: BUS IDENTIFIER; logical unit addressing: BUS NUMBER. */
  bus?: number;
  /** Logical unit addressing: TARGET. */
  target?: number;
}

export interface ReportLuns {
  lunListLength: number;
  luns: ReportedLun[];
  /** The list is longer than what was received: ask again with allocation length 8 + lunListLength. */
  truncated: boolean;
}

function decodeLun(raw: Uint8Array): ReportedLun {
  const b0 = u8(raw, 0);
  const b1 = u8(raw, 1);
  switch (b0 >> 6) {
    case 0:
      return { raw, addressMethod: 'peripheral', lun: b1, bus: b0 & 0x3f };
    case 1:
      return { raw, addressMethod: 'flat', lun: ((b0 & 0x3f) << 8) | b1 };
    case 2:
      return { raw, addressMethod: 'logical unit', lun: b1 & 0x1f, bus: b1 >> 5, target: b0 & 0x3f };
    default:
      return { raw, addressMethod: 'extended', lun: be16(raw, 0) & 0x0fff };
  }
}

/** REPORT LUNS parameter data (SPC-5 §6.33.2). */
export function parseReportLuns(data: Uint8Array): ReportLuns {
  requireLength('REPORT LUNS', data, 8);
  const lunListLength = be32(data, 0);
  const luns: ReportedLun[] = [];
  const end = Math.min(data.length, 8 + lunListLength);
  for (let i = 8; i + 8 <= end; i += 8) luns.push(decodeLun(data.slice(i, i + 8)));
  return { lunListLength, luns, truncated: data.length < 8 + lunListLength };
}

export interface ReadBufferDescriptor {
  /** OFFSET BOUNDARY: offsets must be multiples of 2^n; FFh means the offset must be 0. */
  offsetBoundary: number;
  /** 2^offsetBoundary, or 0 when only offset 0 is allowed. */
  offsetAlignment: number;
  bufferCapacity: number;
}

/** READ BUFFER mode 03h descriptor (SPC-5 §6.20.5). */
export function parseReadBufferDescriptor(data: Uint8Array): ReadBufferDescriptor {
  requireLength('READ BUFFER descriptor', data, 4);
  const ob = u8(data, 0);
  return { offsetBoundary: ob, offsetAlignment: ob === 0xff ? 0 : 2 ** ob, bufferCapacity: be24(data, 1) };
}

/** RECEIVE DIAGNOSTIC RESULTS page 00h (supported diagnostic pages, SPC-5 §7.3.2). */
export function parseSupportedDiagnosticPages(data: Uint8Array): number[] {
  requireLength('RECEIVE DIAGNOSTIC RESULTS page 0', data, 4);
  const len = be16(data, 2);
  return Array.from(data.subarray(4, Math.min(data.length, 4 + len)));
}
