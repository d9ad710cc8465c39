/**
 * Hex as usbscsi prints it everywhere (IDs, opcodes, status bytes, CDBs):
 * lowercase, zero-padded, `0x` only where a bare number could be misread.
 */

/** `n` in hex, zero-padded to `digits`: `hex(0x46f4, 4)` → `46f4`, `hex(5)` → `05`. */
export function hex(n: number | bigint, digits = 2): string {
  return n.toString(16).padStart(digits, '0');
}

/** `hex0x(0x12)` → `0x12`, `hex0x(0x1234, 4)` → `0x1234`. */
export function hex0x(n: number | bigint, digits = 2): string {
  return `0x${hex(n, digits)}`;
}

/** Bytes as two hex digits each: `hexBytes(cdb)` → `120000002400`, `hexBytes(cdb, ' ')` → `12 00 00 00 24 00`. */
export function hexBytes(bytes: Uint8Array, separator = ''): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(separator);
}

/** `VID:PID` as lsusb prints it: `46f4:0001`. */
export function usbIdsOf(device: { vendorId: number; productId: number }): string {
  return `${hex(device.vendorId, 4)}:${hex(device.productId, 4)}`;
}
