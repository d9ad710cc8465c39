/** Big-endian field access for CDBs and parameter data (SCSI is big-endian). */

export const be16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
export const be24 = (b: Uint8Array, at: number): number =>
  ((b[at] ?? 0) << 16) | ((b[at + 1] ?? 0) << 8) | (b[at + 2] ?? 0);
export const be32 = (b: Uint8Array, at: number): number =>
  (((b[at] ?? 0) << 24) >>> 0) + (((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0));
export const be64 = (b: Uint8Array, at: number): bigint => (BigInt(be32(b, at)) << 32n) | BigInt(be32(b, at + 4));

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function put24(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 16) & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = v & 0xff;
}
export function put32(b: Uint8Array, at: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0);
}
export function put64(b: Uint8Array, at: number, v: bigint): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, v);
}

/** ASCII, space-padded (or cut) to `length` bytes, as INQUIRY and VPD fields are. */
export function asciiField(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0x20);
  for (let i = 0; i < Math.min(length, text.length); i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}

/** Allocation-length truncation: a response is cut, never padded. */
export function cut(data: Uint8Array, allocationLength: number): Uint8Array {
  return data.length > allocationLength ? data.subarray(0, allocationLength) : data;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
