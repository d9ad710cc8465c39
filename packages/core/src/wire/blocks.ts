import type { UsbScsiError } from '../errors.js';
import { errorBody, errorFromBody } from './json.js';

/**
 * Whole-range reads and writes through usbscsid (`POST /v1/devices/{id}/read|write?lba=&blocks=`):
 * the data travels as raw bytes, streamed both ways; the daemon holds two pieces of a few commands each,
 * never the range. A read's answer is chunked: its length and block size in headers first, then
 * the bytes, then a trailer that says how it ended (the status line was sent before the first
 * command finished, so a failure midway can only be told there).
 */
export const BlockHeaders = {
  /** Answer header: the device's logical block size. */
  blockSize: 'x-usbscsi-block-size',
  /** Answer header: bytes the body will carry when the read completes. */
  length: 'x-usbscsi-length',
  /** Trailer: bytes the daemon read from the device and sent. */
  transferred: 'x-usbscsi-transferred',
  /** Trailer, on failure only: the error envelope as base64url JSON. */
  error: 'x-usbscsi-error',
} as const;

/**
 * A range this long or shorter goes in one request; longer ones are split (a body must arrive
 * within the daemon's request timeout, and other clients get their turn between requests).
 */
export const BLOCK_STREAM_SEGMENT_BYTES = 64 * 1024 * 1024;

export function errorTrailer(err: UsbScsiError): string {
  return Buffer.from(JSON.stringify(errorBody(err))).toString('base64url');
}

/** The error a read's trailer describes (untrusted: anything unreadable becomes E_IO). */
export function errorFromTrailer(value: string): UsbScsiError {
  return errorFromBody(Buffer.from(value, 'base64url'), 200);
}

/** The JSON answer of a completed range write. */
export interface BlockWriteResultJson {
  /** Bytes written to the medium. */
  written: number;
}

/**
 * A range between the device and the client's own file, handed to the daemon over its Unix socket
 * (`?file=passed`, Linux, the native addon at both ends): the daemon answers `102 Processing` once
 * it listens for the descriptor, the client then sends one byte carrying it (SCM_RIGHTS), and the
 * daemon moves the bytes between the device and that file itself, none of them through the
 * socket. The file must be a regular file, open for writing (read) or reading (write); `position`
 * is the file offset of the range's first byte; `bytes`, when given, is the range's size as the
 * client counts it, and a range of another size on the device (its block size is not the one the
 * client knew) is refused, E_BAD_INPUT reason {@link LENGTH_MISMATCH}, before anything moves: the
 * daemon would otherwise read or write that many bytes of the file. The final answer is {@link BlockFileResultJson}
 * or an error envelope; `E_UNSUPPORTED` with reason {@link FILE_PASSING_UNAVAILABLE} (sent
 * before the 102, nothing moved) means "stream the bytes instead".
 */
export const FILE_PASSING_QUERY = 'file=passed';
export const FILE_PASSING_UNAVAILABLE = 'file-passing-unavailable';
/**
 * `details.reason` of a range whose byte count on the device is not the one the other side counted
 * (the medium's block size changed): the daemon's refusal, and the client's check of what the daemon announced.
 */
export const LENGTH_MISMATCH = 'length-mismatch';

/** The JSON answer of a completed range between the device and a passed file. */
export interface BlockFileResultJson {
  /** Bytes moved between the medium and the file. */
  bytes: number;
}
