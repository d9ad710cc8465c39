/**
 * Device-side BOT wrappers (USB MSC Bulk-Only Transport 1.0 §5.1, §5.2),
 * written independently of core's host-side codec on purpose: the emulator
 * is what checks core's codec, so it must not share its bugs.
 */

export const CBW_LENGTH = 31;
export const CSW_LENGTH = 13;
export const CBW_SIGNATURE = 0x43425355; // "USBC" little-endian
export const CSW_SIGNATURE = 0x53425355; // "USBS" little-endian

export const CswStatus = { PASSED: 0, FAILED: 1, PHASE_ERROR: 2 } as const;

/** A CBW as the device received it. */
export interface ReceivedCbw {
  tag: number;
  dataTransferLength: number;
  /** bmCBWFlags bit 7: 1 = data-in (device to host). */
  directionIn: boolean;
  flags: number;
  lun: number;
  /** The raw bCBWLUN byte (reserved bits included). */
  lunByte: number;
  cbLength: number;
  /** The first `cbLength` bytes of CBWCB. */
  cdb: Uint8Array;
  raw: Uint8Array;
}

/**
 * §6.2.1 validity: 31 bytes and the signature. Anything else is "not valid"
 * and the device must stall until reset recovery (§6.6.1).
 */
export function isValidCbw(bytes: Uint8Array): boolean {
  if (bytes.length !== CBW_LENGTH) return false;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true) === CBW_SIGNATURE;
}

/** Parses a valid CBW. Call {@link isValidCbw} first. */
export function parseCbw(bytes: Uint8Array): ReceivedCbw {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint8(12);
  const lunByte = view.getUint8(13);
  const cbLength = view.getUint8(14) & 0x1f;
  return {
    tag: view.getUint32(4, true),
    dataTransferLength: view.getUint32(8, true),
    directionIn: (flags & 0x80) !== 0,
    flags,
    lun: lunByte & 0x0f,
    lunByte,
    cbLength: view.getUint8(14),
    cdb: bytes.slice(15, 15 + Math.min(cbLength, 16)),
    raw: bytes.slice(),
  };
}

/**
 * §6.2.2 meaningfulness: reserved bits zero, bCBWCBLength 1..16. (The LUN
 * range is checked by the device, which knows its LUN count.)
 */
export function isMeaningfulCbw(cbw: ReceivedCbw): boolean {
  return (cbw.flags & 0x7f) === 0 && (cbw.lunByte & 0xf0) === 0 && cbw.cbLength >= 1 && cbw.cbLength <= 16;
}

export function encodeCsw(tag: number, residue: number, status: number, signature = CSW_SIGNATURE): Uint8Array {
  const bytes = new Uint8Array(CSW_LENGTH);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, signature >>> 0, true);
  view.setUint32(4, tag >>> 0, true);
  view.setUint32(8, Math.max(0, residue) >>> 0, true);
  view.setUint8(12, status & 0xff);
  return bytes;
}
