/**
 * SMART READ DATA / READ THRESHOLDS (512-byte blocks; layout as in ATA-8 ACS
 * and smartmontools' `ata_smart_values` / `ata_smart_thresholds_pvt`) and
 * SMART RETURN STATUS as reported through the SAT ATA Status Return sense.
 */
import { badInput } from '../errors.js';
import { u8 } from './bytes.js';
import type { AtaIdentify } from './ata-identify.js';
import type { DecodedSense } from './sense-types.js';
import { smartAttributeName } from './smart-attribute-names.js';

export interface SmartAttribute {
  id: number;
  name: string;
  flags: number;
  /** Flag bit 0: pre-failure (a value at/below threshold predicts failure), else old-age. */
  prefailure: boolean;
  /** Flag bit 1: updated during normal operation (online), else only by offline collection. */
  online: boolean;
  current: number;
  worst: number;
  /** 48-bit raw value (bytes 5-10, little-endian). */
  raw: bigint;
  rawBytes: Uint8Array;
}

export interface SmartData {
  revision: number;
  attributes: SmartAttribute[];
  offlineCollectionStatus: number;
  offlineCollectionStatusText: string;
  selfTestStatus: number;
  selfTestStatusText: string;
  /** Percent of the running self-test still to do (0 when none runs). */
  selfTestPercentRemaining: number;
  offlineCollectionSeconds: number;
  offlineCapability: number;
  smartCapability: number;
  errorLoggingSupported: boolean;
  shortSelfTestMinutes: number;
  extendedSelfTestMinutes: number;
  conveyanceSelfTestMinutes: number;
  /** Sum of the 512 bytes is 0 mod 256; undefined for a short buffer. */
  checksumValid?: boolean;
  truncated: boolean;
}

const OFFLINE_STATUS: Record<number, string> = {
  0x00: 'never started',
  0x02: 'completed without error',
  0x03: 'in progress',
  0x04: 'suspended by an interrupting command',
  0x05: 'aborted by the host',
  0x06: 'aborted by the device with a fatal error',
};

const SELF_TEST_STATUS: Record<number, string> = {
  0x0: 'completed without error (or never run)',
  0x1: 'aborted by the host',
  0x2: 'interrupted by a reset',
  0x3: 'fatal error',
  0x4: 'completed with an unknown failure',
  0x5: 'completed with an electrical failure',
  0x6: 'completed with a servo/seek failure',
  0x7: 'completed with a read failure',
  0x8: 'completed with handling damage',
  0xf: 'in progress',
};

function checksum(data: Uint8Array): boolean | undefined {
  if (data.length < 512) return undefined;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += u8(data, i);
  return (sum & 0xff) === 0;
}

function le48(b: Uint8Array, i: number): bigint {
  let v = 0n;
  for (let k = 5; k >= 0; k--) v = (v << 8n) | BigInt(u8(b, i + k));
  return v;
}

const le16 = (b: Uint8Array, i: number) => u8(b, i) | (u8(b, i + 1) << 8);

/** Parses SMART READ DATA. Empty slots (ID 0) are skipped; a short buffer yields the attributes it holds. */
export function parseSmartData(data: Uint8Array): SmartData {
  if (data.length < 2)
    throw badInput(`SMART READ DATA: need at least the 2-byte revision, got ${data.length}; ask for 512 bytes`);
  const attributes: SmartAttribute[] = [];
  for (let slot = 0; slot < 30; slot++) {
    const o = 2 + slot * 12;
    if (o + 12 > data.length) break;
    const id = u8(data, o);
    if (id === 0) continue;
    const flags = le16(data, o + 1);
    attributes.push({
      id,
      name: smartAttributeName(id),
      flags,
      prefailure: (flags & 0x01) !== 0,
      online: (flags & 0x02) !== 0,
      current: u8(data, o + 3),
      worst: u8(data, o + 4),
      raw: le48(data, o + 5),
      rawBytes: data.slice(o + 5, o + 11),
    });
  }
  const offline = u8(data, 362);
  const selfTest = u8(data, 363);
  const extShort = u8(data, 373);
  const cs = checksum(data);
  return {
    revision: le16(data, 0),
    attributes,
    offlineCollectionStatus: offline,
    offlineCollectionStatusText:
      (OFFLINE_STATUS[offline & 0x7f] ?? `reserved/vendor status 0x${(offline & 0x7f).toString(16)}`) +
      (offline & 0x80 ? ' (automatic offline collection on)' : ''),
    selfTestStatus: selfTest >> 4,
    selfTestStatusText: SELF_TEST_STATUS[selfTest >> 4] ?? `reserved status ${selfTest >> 4}`,
    selfTestPercentRemaining: selfTest >> 4 === 0xf ? (selfTest & 0x0f) * 10 : 0,
    offlineCollectionSeconds: le16(data, 364),
    offlineCapability: u8(data, 367),
    smartCapability: le16(data, 368),
    errorLoggingSupported: (u8(data, 370) & 0x01) !== 0,
    shortSelfTestMinutes: u8(data, 372),
    // 0xFF in byte 373 means "see the 16-bit word at 375-376" (ACS-2 and later).
    extendedSelfTestMinutes: extShort === 0xff ? le16(data, 375) : extShort,
    conveyanceSelfTestMinutes: u8(data, 374),
    ...(cs !== undefined ? { checksumValid: cs } : {}),
    truncated: data.length < 512,
  };
}

export interface SmartThresholds {
  revision: number;
  thresholds: { id: number; name: string; threshold: number }[];
  checksumValid?: boolean;
  truncated: boolean;
}

/** Parses SMART READ THRESHOLDS (same slot layout: ID, threshold, 10 reserved bytes). */
export function parseSmartThresholds(data: Uint8Array): SmartThresholds {
  if (data.length < 2)
    throw badInput(`SMART READ THRESHOLDS: need at least the 2-byte revision, got ${data.length}; ask for 512 bytes`);
  const thresholds: SmartThresholds['thresholds'] = [];
  for (let slot = 0; slot < 30; slot++) {
    const o = 2 + slot * 12;
    if (o + 2 > data.length) break;
    const id = u8(data, o);
    if (id !== 0) thresholds.push({ id, name: smartAttributeName(id), threshold: u8(data, o + 1) });
  }
  const cs = checksum(data);
  return {
    revision: le16(data, 0),
    thresholds,
    ...(cs !== undefined ? { checksumValid: cs } : {}),
    truncated: data.length < 512,
  };
}

export interface SmartReturnStatus {
  /** passed: LBA mid/high 4Fh/C2h; failing: F4h/2Ch (threshold exceeded); unknown: anything else. */
  status: 'passed' | 'failing' | 'unknown';
  lbaMid?: number;
  lbaHigh?: number;
  reason?: string;
}

/**
 * Interprets SMART RETURN STATUS from the sense of an ATA PASS-THROUGH with
 * CK_COND set (see `ataSmartReturnStatusCdb`): the ATA Status Return
 * descriptor (or fixed-format ATA information) carries LBA mid and high.
 */
export function parseSmartReturnStatus(sense: DecodedSense | undefined): SmartReturnStatus {
  const ata = sense?.ataStatusReturn;
  if (!ata)
    return { status: 'unknown', reason: 'no ATA status return in the sense data (the bridge may not honour CK_COND)' };
  const lbaMid = Number((ata.lba >> 8n) & 0xffn);
  const lbaHigh = Number((ata.lba >> 16n) & 0xffn);
  if (lbaMid === 0x4f && lbaHigh === 0xc2) return { status: 'passed', lbaMid, lbaHigh };
  if (lbaMid === 0xf4 && lbaHigh === 0x2c) return { status: 'failing', lbaMid, lbaHigh };
  return {
    status: 'unknown',
    lbaMid,
    lbaHigh,
    reason: `unexpected LBA mid/high 0x${lbaMid.toString(16)}/0x${lbaHigh.toString(16)}`,
  };
}

/** Alias of {@link parseSmartReturnStatus}. */
export const smartStatusFromSense = parseSmartReturnStatus;

/** What a full SMART query through SAT gathers. */
export interface SmartReport {
  identify: AtaIdentify;
  data: SmartData;
  thresholds?: SmartThresholds;
  status: SmartReturnStatus;
}
