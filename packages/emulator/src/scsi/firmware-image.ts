/**
 * The simulated device's firmware image format. Real images carry a vendor header with their
 * size and a checksum: that is how a device knows that the last segment of a segmented download
 * has arrived and that the image is whole. This one has the same two facts, plus the revision the
 * device reports once it runs the image.
 *
 *   0  "USBSCSI-FW\0\0"   12-byte magic
 *  12  revision           4 bytes ASCII, space-padded (INQUIRY PRODUCT REVISION LEVEL)
 *  16  ATA revision       8 bytes ASCII, space-padded (IDENTIFY words 23-26)
 *  24  total length       u32 big-endian, header included
 *  28  checksum           u32 big-endian: sum of the bytes after the header, mod 2^32
 *  32  payload
 */
const MAGIC = 'USBSCSI-FW\0\0';
export const SIM_FIRMWARE_HEADER_BYTES = 32;

export interface SimFirmwareHeader {
  revision: string;
  ataRevision: string;
  totalLength: number;
  checksum: number;
}

/** Builds a valid image of `size` bytes (at least the header) that turns the device into `revision`. */
export function buildSimFirmwareImage(options: {
  revision: string;
  ataRevision?: string;
  size?: number;
  seed?: number;
}): Uint8Array {
  const size = options.size ?? 64 * 1024;
  if (!Number.isInteger(size) || size < SIM_FIRMWARE_HEADER_BYTES)
    throw new RangeError(`a simulated firmware image is at least ${SIM_FIRMWARE_HEADER_BYTES} bytes`);
  const image = new Uint8Array(size);
  let x = (options.seed ?? 0x2545f491) >>> 0;
  for (let i = SIM_FIRMWARE_HEADER_BYTES; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = x & 0xff;
  }
  writeAscii(image, 0, 12, MAGIC);
  writeAscii(image, 12, 4, options.revision.padEnd(4));
  writeAscii(image, 16, 8, (options.ataRevision ?? options.revision).padEnd(8));
  const view = new DataView(image.buffer);
  view.setUint32(24, size);
  view.setUint32(28, payloadChecksum(image, size));
  return image;
}

/** The header, or undefined when the bytes do not start with one. */
export function parseSimFirmwareHeader(bytes: Uint8Array): SimFirmwareHeader | undefined {
  if (bytes.length < SIM_FIRMWARE_HEADER_BYTES || readAscii(bytes, 0, 12) !== MAGIC) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    revision: readAscii(bytes, 12, 4).trimEnd(),
    ataRevision: readAscii(bytes, 16, 8).trimEnd(),
    totalLength: view.getUint32(24),
    checksum: view.getUint32(28),
  };
}

/** True when `bytes` holds a whole image whose checksum matches. */
export function isWholeSimFirmware(bytes: Uint8Array): boolean {
  const header = parseSimFirmwareHeader(bytes);
  return (
    header !== undefined &&
    bytes.length >= header.totalLength &&
    payloadChecksum(bytes, header.totalLength) === header.checksum
  );
}

function payloadChecksum(bytes: Uint8Array, end: number): number {
  let sum = 0;
  for (let i = SIM_FIRMWARE_HEADER_BYTES; i < end; i++) sum = (sum + (bytes[i] ?? 0)) >>> 0;
  return sum;
}

function writeAscii(b: Uint8Array, at: number, length: number, text: string): void {
  for (let i = 0; i < length; i++) b[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0x20;
}
function readAscii(b: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...b.subarray(at, at + length));
}
