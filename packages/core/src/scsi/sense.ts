/**
 * Sense data, SPC-5 §4.4: fixed (70h/71h) and descriptor (72h/73h) formats,
 * sense-key names, and a fixed-format encoder for the emulator and tests.
 * Fields the buffer (or its ADDITIONAL SENSE LENGTH) does not reach are left
 * absent, never read past the end.
 */
import { badInput } from '../errors.js';
import { ascText } from './asc.js';
import { be16, be32, beBig, putBe16, putBe32, u8 } from './bytes.js';
import type { DecodedSense } from './sense-types.js';

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
  COMPLETED: 0xf,
} as const;

// SPC-5 table 53; 0Ch was EQUAL (obsolete).
const SENSE_KEY_NAMES = [
  'NO SENSE',
  'RECOVERED ERROR',
  'NOT READY',
  'MEDIUM ERROR',
  'HARDWARE ERROR',
  'ILLEGAL REQUEST',
  'UNIT ATTENTION',
  'DATA PROTECT',
  'BLANK CHECK',
  'VENDOR SPECIFIC',
  'COPY ABORTED',
  'ABORTED COMMAND',
  'EQUAL (OBSOLETE)',
  'VOLUME OVERFLOW',
  'MISCOMPARE',
  'COMPLETED',
];

export function senseKeyName(key: number): string {
  return SENSE_KEY_NAMES[key & 0x0f] ?? 'UNKNOWN';
}

/** Decodes the 3 sense-key-specific bytes (SKSV in bit 7 of the first). */
function decodeSks(key: number, b: Uint8Array, i: number): DecodedSense['senseKeySpecific'] {
  if ((u8(b, i) & 0x80) === 0) return undefined;
  const raw = ((u8(b, i) << 16) | be16(b, i + 1)) >>> 0;
  const value = be16(b, i + 1);
  const sks: NonNullable<DecodedSense['senseKeySpecific']> = { raw };
  if (key === SenseKey.ILLEGAL_REQUEST) {
    const bpv = (u8(b, i) & 0x08) !== 0;
    sks.fieldPointer = {
      commandData: (u8(b, i) & 0x40) !== 0,
      field: value,
      ...(bpv ? { bitPointer: u8(b, i) & 0x07 } : {}),
    };
  } else if (key === SenseKey.NO_SENSE || key === SenseKey.NOT_READY) {
    sks.progress = value;
    sks.progressPercent = Math.round((value / 65536) * 10000) / 100;
  } else if (key === SenseKey.RECOVERED_ERROR || key === SenseKey.MEDIUM_ERROR || key === SenseKey.HARDWARE_ERROR) {
    sks.actualRetryCount = value;
  }
  return sks;
}

function base(raw: Uint8Array, responseCode: number, key: number, asc: number, ascq: number): DecodedSense {
  return {
    format: responseCode >= 0x72 ? 'descriptor' : 'fixed',
    responseCode,
    deferred: responseCode === 0x71 || responseCode === 0x73,
    senseKey: key,
    senseKeyName: senseKeyName(key),
    asc,
    ascq,
    ascText: ascText(asc, ascq),
    filemark: false,
    endOfMedium: false,
    incorrectLength: false,
    raw,
  };
}

function decodeFixed(raw: Uint8Array, rc: number): DecodedSense {
  // Honour ADDITIONAL SENSE LENGTH when present (as Linux scsi_normalize_sense does).
  const len = raw.length > 7 ? Math.min(raw.length, 8 + u8(raw, 7)) : raw.length;
  const b = raw.subarray(0, len);
  const key = u8(b, 2) & 0x0f;
  const s = base(raw, rc, key, len > 12 ? u8(b, 12) : 0, len > 13 ? u8(b, 13) : 0);
  s.filemark = (u8(b, 2) & 0x80) !== 0;
  s.endOfMedium = (u8(b, 2) & 0x40) !== 0;
  s.incorrectLength = (u8(b, 2) & 0x20) !== 0;
  if ((u8(b, 0) & 0x80) !== 0 && len >= 7) s.information = BigInt(be32(b, 3));
  if (len >= 12) s.commandSpecific = BigInt(be32(b, 8));
  if (len > 14 && u8(b, 14) !== 0) s.fieldReplaceableUnit = u8(b, 14);
  if (len >= 18) {
    const sks = decodeSks(key, b, 15);
    if (sks) s.senseKeySpecific = sks;
  }
  // SAT-4 §12.2.5: ATA PASS-THROUGH INFORMATION AVAILABLE in fixed format carries the ATA registers
  // in INFORMATION (ERROR, STATUS, DEVICE, COUNT 7:0) and COMMAND-SPECIFIC (flags, LBA 7:0..23:16).
  if (s.asc === 0x00 && s.ascq === 0x1d && len >= 12) {
    s.ataStatusReturn = {
      error: u8(b, 3),
      status: u8(b, 4),
      device: u8(b, 5),
      count: u8(b, 6),
      lba: BigInt(u8(b, 9) | (u8(b, 10) << 8) | (u8(b, 11) << 16)),
      extend: (u8(b, 8) & 0x80) !== 0,
    };
  }
  return s;
}

function decodeDescriptor(raw: Uint8Array, rc: number): DecodedSense {
  const len = raw.length > 7 ? Math.min(raw.length, 8 + u8(raw, 7)) : raw.length;
  const b = raw.subarray(0, len);
  const key = u8(b, 1) & 0x0f;
  const s = base(raw, rc, key, u8(b, 2), u8(b, 3));
  const descriptors: { type: number; bytes: Uint8Array }[] = [];
  for (let i = 8; i + 1 < len;) {
    const type = u8(b, i);
    const d = b.subarray(i, Math.min(len, i + 2 + u8(b, i + 1)));
    descriptors.push({ type, bytes: d });
    i += 2 + u8(b, i + 1);
    if (type === 0x00 && d.length >= 12 && (u8(d, 2) & 0x80) !== 0) s.information = beBig(d, 4, 8);
    else if (type === 0x01 && d.length >= 12) s.commandSpecific = beBig(d, 4, 8);
    else if (type === 0x02 && d.length >= 7) {
      const sks = decodeSks(key, d, 4);
      if (sks) s.senseKeySpecific = sks;
    } else if (type === 0x03 && d.length >= 4 && u8(d, 3) !== 0) s.fieldReplaceableUnit = u8(d, 3);
    else if (type === 0x04 && d.length >= 4) {
      s.filemark = (u8(d, 3) & 0x80) !== 0;
      s.endOfMedium = (u8(d, 3) & 0x40) !== 0;
      s.incorrectLength = (u8(d, 3) & 0x20) !== 0;
    } else if (type === 0x05 && d.length >= 4) s.incorrectLength = (u8(d, 3) & 0x20) !== 0;
    else if (type === 0x09 && d.length >= 14) {
      // SAT-4 table 207: LBA bytes interleave (31:24),(7:0),(39:32),(15:8),(47:40),(23:16).
      const lba =
        (BigInt(u8(d, 10)) << 40n) |
        (BigInt(u8(d, 8)) << 32n) |
        (BigInt(u8(d, 6)) << 24n) |
        (BigInt(u8(d, 11)) << 16n) |
        (BigInt(u8(d, 9)) << 8n) |
        BigInt(u8(d, 7));
      s.ataStatusReturn = {
        extend: (u8(d, 2) & 0x01) !== 0,
        error: u8(d, 3),
        count: be16(d, 4),
        lba,
        device: u8(d, 12),
        status: u8(d, 13),
      };
    }
  }
  s.descriptors = descriptors;
  return s;
}

/**
 * Decodes sense data as returned by REQUEST SENSE or a transport's autosense.
 * Throws E_BAD_INPUT when the bytes are not sense data (response code not
 * 70h–73h) or too short to hold the sense key.
 */
export function decodeSense(bytes: Uint8Array): DecodedSense {
  if (bytes.length === 0) throw badInput('decodeSense: no sense bytes; the device returned no sense data');
  const rc = u8(bytes, 0) & 0x7f;
  if (rc === 0x70 || rc === 0x71) {
    if (bytes.length < 3) throw badInput(`decodeSense: fixed-format sense needs at least 3 bytes, got ${bytes.length}`);
    return decodeFixed(bytes, rc);
  }
  if (rc === 0x72 || rc === 0x73) {
    if (bytes.length < 4)
      throw badInput(`decodeSense: descriptor-format sense needs at least 4 bytes, got ${bytes.length}`);
    return decodeDescriptor(bytes, rc);
  }
  throw badInput(`decodeSense: response code 0x${rc.toString(16)} is not sense data (expected 0x70-0x73)`, {
    responseCode: rc,
  });
}

export interface FixedSenseInit {
  key: number;
  asc: number;
  ascq: number;
  /** 32-bit INFORMATION; sets VALID. */
  information?: number;
  commandSpecific?: number;
  deferred?: boolean;
  filemark?: boolean;
  endOfMedium?: boolean;
  incorrectLength?: boolean;
  fieldReplaceableUnit?: number;
  /** ILLEGAL REQUEST field pointer: byte `field` of the CDB (commandData) or parameter data. */
  fieldPointer?: { commandData: boolean; field: number; bitPointer?: number };
  /** NOT READY / NO SENSE progress numerator (of 65536). */
  progress?: number;
}

/** Builds 18 bytes of fixed-format sense (what most USB devices return). */
export function encodeFixedSense(init: FixedSenseInit): Uint8Array {
  const b = new Uint8Array(18);
  b[0] = (init.deferred ? 0x71 : 0x70) | (init.information !== undefined ? 0x80 : 0);
  b[2] =
    (init.key & 0x0f) | (init.filemark ? 0x80 : 0) | (init.endOfMedium ? 0x40 : 0) | (init.incorrectLength ? 0x20 : 0);
  if (init.information !== undefined) putBe32(b, 3, init.information);
  b[7] = 10;
  if (init.commandSpecific !== undefined) putBe32(b, 8, init.commandSpecific);
  b[12] = init.asc & 0xff;
  b[13] = init.ascq & 0xff;
  b[14] = (init.fieldReplaceableUnit ?? 0) & 0xff;
  if (init.fieldPointer) {
    const fp = init.fieldPointer;
    b[15] = 0x80 | (fp.commandData ? 0x40 : 0) | (fp.bitPointer !== undefined ? 0x08 | (fp.bitPointer & 7) : 0);
    putBe16(b, 16, fp.field);
  } else if (init.progress !== undefined) {
    b[15] = 0x80;
    putBe16(b, 16, init.progress);
  }
  return b;
}
