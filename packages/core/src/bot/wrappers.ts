import { badInput } from '../errors.js';

/** USB MSC Bulk-Only Transport 1.0 §5.1: 31-byte Command Block Wrapper. */
export const CBW_LENGTH = 31;
export const CBW_SIGNATURE = 0x43425355; // 'USBC' little-endian
/** §5.2: 13-byte Command Status Wrapper. */
export const CSW_LENGTH = 13;
export const CSW_SIGNATURE = 0x53425355; // 'USBS' little-endian

export const CswStatus = { PASSED: 0, FAILED: 1, PHASE_ERROR: 2 } as const;

export interface CommandBlockWrapper {
  tag: number;
  dataTransferLength: number;
  /** true: device-to-host (bmCBWFlags bit 7). */
  dataIn: boolean;
  lun: number;
  cdb: Uint8Array;
}

export function encodeCommandBlockWrapper(cbw: CommandBlockWrapper): Uint8Array {
  if (cbw.cdb.length < 1 || cbw.cdb.length > 16) {
    throw badInput(`a BOT CDB is 1 to 16 bytes long, got ${cbw.cdb.length}`);
  }
  if (!Number.isInteger(cbw.lun) || cbw.lun < 0 || cbw.lun > 15) {
    throw badInput(`LUN must be 0..15, got ${cbw.lun}`);
  }
  if (!Number.isInteger(cbw.dataTransferLength) || cbw.dataTransferLength < 0 || cbw.dataTransferLength > 0xffff_ffff) {
    throw badInput(`data transfer length must be 0..4294967295 bytes, got ${cbw.dataTransferLength}`);
  }
  // Byte stores, not a DataView: `.buffer` on a small (on-heap) typed array makes V8 move it
  // off the heap, once per command.
  const bytes = new Uint8Array(CBW_LENGTH);
  putUint32LE(bytes, 0, CBW_SIGNATURE);
  putUint32LE(bytes, 4, cbw.tag >>> 0);
  putUint32LE(bytes, 8, cbw.dataTransferLength);
  bytes[12] = cbw.dataIn ? 0x80 : 0x00;
  bytes[13] = cbw.lun & 0x0f;
  bytes[14] = cbw.cdb.length & 0x1f;
  bytes.set(cbw.cdb, 15);
  return bytes;
}

/** Decodes a CBW (used by tests and traces; devices validate their own). Returns null when not a valid CBW. */
export function decodeCommandBlockWrapper(bytes: Uint8Array): CommandBlockWrapper | null {
  if (bytes.length !== CBW_LENGTH) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== CBW_SIGNATURE) return null;
  const cdbLength = bytes[14]! & 0x1f;
  if (cdbLength < 1 || cdbLength > 16) return null;
  return {
    tag: view.getUint32(4, true),
    dataTransferLength: view.getUint32(8, true),
    dataIn: (bytes[12]! & 0x80) !== 0,
    lun: bytes[13]! & 0x0f,
    cdb: bytes.slice(15, 15 + cdbLength),
  };
}

export interface CommandStatusWrapper {
  signature: number;
  tag: number;
  dataResidue: number;
  status: number;
}

export function decodeCommandStatusWrapper(bytes: Uint8Array): CommandStatusWrapper | null {
  if (bytes.length < CSW_LENGTH) return null;
  return {
    signature: getUint32LE(bytes, 0),
    tag: getUint32LE(bytes, 4),
    dataResidue: getUint32LE(bytes, 8),
    status: bytes[12]!,
  };
}

function putUint32LE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = value >>> 24;
}

function getUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/**
 * §6.3: a CSW is *valid* when it is 13 bytes, has the signature and echoes
 * the tag; it is *meaningful* when, in addition, the status is 0..2 and the
 * residue does not exceed what was asked. Anything else means host and device
 * have lost step: reset recovery.
 */
export type CswVerdict =
  | { ok: true; csw: CommandStatusWrapper }
  | { ok: false; reason: 'length' | 'signature' | 'tag' | 'status' | 'residue'; csw?: CommandStatusWrapper };

export function judgeCommandStatusWrapper(
  bytes: Uint8Array,
  expectedTag: number,
  dataTransferLength: number,
  tolerance: { badSignature?: boolean; ignoreResidue?: boolean } = {},
): CswVerdict {
  if (bytes.length !== CSW_LENGTH) return { ok: false, reason: 'length' };
  const csw = decodeCommandStatusWrapper(bytes)!;
  if (csw.signature !== CSW_SIGNATURE && !tolerance.badSignature) return { ok: false, reason: 'signature', csw };
  if (csw.tag !== expectedTag >>> 0) return { ok: false, reason: 'tag', csw };
  if (csw.status > CswStatus.PHASE_ERROR) return { ok: false, reason: 'status', csw };
  if (csw.dataResidue > dataTransferLength && !tolerance.ignoreResidue) return { ok: false, reason: 'residue', csw };
  return { ok: true, csw };
}
