import { ErrorCodes, UsbScsiError, type ErrorCode } from '@usbscsi/core';

/**
 * HTTP status for each stable core error code. A CHECK CONDITION from
 * /execute is a result (200 with status + sense), so it only reaches this
 * table when some other route fails with it.
 */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  E_BAD_INPUT: 400,
  E_AMBIGUOUS: 400,
  E_PERMISSION: 403,
  E_NOT_FOUND: 404,
  E_BUSY: 409,
  E_MOUNTED: 409,
  E_DEVICE_GONE: 410,
  E_CHECK_CONDITION: 422,
  E_NVME_STATUS: 422,
  E_UNSUPPORTED: 501,
  E_PHASE_ERROR: 502,
  E_STALL: 502,
  E_OVERFLOW: 502,
  E_IO: 502,
  E_CANCELLED: 503,
  E_NO_MEMORY: 503,
  E_NO_NATIVE: 503,
  E_TIMEOUT: 504,
};

export function httpStatusFor(code: ErrorCode): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/** Anything thrown, as a UsbScsiError (unknown failures become E_IO, keeping the cause). */
export function asUsbScsiError(err: unknown): UsbScsiError {
  if (err instanceof UsbScsiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UsbScsiError(ErrorCodes.IO, `unexpected daemon failure: ${message}`, { cause: err });
}

export const cancelled = (message: string) => new UsbScsiError(ErrorCodes.CANCELLED, message);
export const notFound = (message: string, details?: Record<string, unknown>) =>
  new UsbScsiError(ErrorCodes.NOT_FOUND, message, details ? { details } : {});
export const busy = (message: string, details?: Record<string, unknown>) =>
  new UsbScsiError(ErrorCodes.BUSY, message, details ? { details } : {});
export const deviceGone = (message: string) => new UsbScsiError(ErrorCodes.DEVICE_GONE, message);
/** The daemon is at one of its limits: 503 with Retry-After (not 409: nobody holds anything, come back later). */
export const overloaded = (message: string, details: Record<string, unknown> = {}, retryAfterS = 1) =>
  new UsbScsiError(ErrorCodes.BUSY, message, { details: { ...details, retryAfterS } });
