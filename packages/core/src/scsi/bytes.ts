/**
 * Byte helpers for CDBs and response parsers. Every reader returns 0 past the
 * end of the buffer, so parsers of short responses never throw RangeError:
 * callers check lengths where a missing field must be reported as absent.
 */
import { badInput } from '../errors.js';

export function u8(buf: Uint8Array, i: number): number {
  return buf[i] ?? 0;
}

export function be16(buf: Uint8Array, i: number): number {
  return (u8(buf, i) << 8) | u8(buf, i + 1);
}

export function be24(buf: Uint8Array, i: number): number {
  return (u8(buf, i) << 16) | (u8(buf, i + 1) << 8) | u8(buf, i + 2);
}

export function be32(buf: Uint8Array, i: number): number {
  return ((u8(buf, i) << 24) >>> 0) + ((u8(buf, i + 1) << 16) | (u8(buf, i + 2) << 8) | u8(buf, i + 3));
}

/** Big-endian unsigned integer of `len` bytes (up to 8) as a bigint. */
export function beBig(buf: Uint8Array, i: number, len: number): bigint {
  let v = 0n;
  for (let k = 0; k < len; k++) v = (v << 8n) | BigInt(u8(buf, i + k));
  return v;
}

/** Little-endian 16-bit word `w` of an ATA data block (ATA words are little-endian). */
export function le16word(buf: Uint8Array, w: number): number {
  return u8(buf, 2 * w) | (u8(buf, 2 * w + 1) << 8);
}

export function putBe16(buf: Uint8Array, i: number, v: number): void {
  buf[i] = (v >>> 8) & 0xff;
  buf[i + 1] = v & 0xff;
}

export function putBe24(buf: Uint8Array, i: number, v: number): void {
  buf[i] = (v >>> 16) & 0xff;
  buf[i + 1] = (v >>> 8) & 0xff;
  buf[i + 2] = v & 0xff;
}

export function putBe32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = (v >>> 24) & 0xff;
  buf[i + 1] = (v >>> 16) & 0xff;
  buf[i + 2] = (v >>> 8) & 0xff;
  buf[i + 3] = v & 0xff;
}

export function putBe64(buf: Uint8Array, i: number, v: bigint): void {
  for (let k = 7; k >= 0; k--) {
    buf[i + k] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Printable ASCII of bytes [start, start+len) clipped to the buffer, NULs dropped, trimmed. */
export function ascii(buf: Uint8Array, start: number, len: number): string {
  const end = Math.min(buf.length, start + len);
  let s = '';
  for (let i = start; i < end; i++) {
    const c = u8(buf, i);
    if (c === 0) continue;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return s.trim();
}

/** Checks `value` is an integer in [0, max]; throws E_BAD_INPUT naming the field and the range. */
export function checkUint(command: string, field: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw badInput(
      `${command}: ${field} must be an integer from 0 to ${max} (0x${max.toString(16)}); got ${String(value)}`,
      { command, field, value, max },
    );
  }
  return value;
}

/** Like {@link checkUint} for 64-bit fields given as bigint or safe integer. */
export function checkUint64(command: string, field: string, value: bigint | number, maxBits = 64): bigint {
  const max = (1n << BigInt(maxBits)) - 1n;
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (Number.isSafeInteger(value)) v = BigInt(value);
  else
    throw badInput(`${command}: ${field} must be an integer (pass a bigint above 2^53); got ${String(value)}`, {
      command,
      field,
    });
  if (v < 0n || v > max) {
    throw badInput(`${command}: ${field} must be from 0 to 0x${max.toString(16)}; got ${v.toString()}`, {
      command,
      field,
      max: max.toString(),
    });
  }
  return v;
}

/** Throws E_BAD_INPUT when a response is shorter than its fixed header. */
export function requireLength(what: string, buf: Uint8Array, min: number): void {
  if (buf.length < min) {
    throw badInput(
      `${what}: need at least ${min} bytes to parse the header, got ${buf.length}; ask for a larger allocation length`,
      {
        what,
        length: buf.length,
        min,
      },
    );
  }
}
