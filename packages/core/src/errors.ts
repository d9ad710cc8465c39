/**
 * Every failure usbscsi reports is a {@link UsbScsiError} with a stable `code`.
 * Callers branch on `code`, never on message text: messages say what to do
 * and may be reworded; codes are API.
 */
export const ErrorCodes = {
  /** The command completed with CHECK CONDITION; `sense` holds the decoded sense data. */
  CHECK_CONDITION: 'E_CHECK_CONDITION',
  /** BOT phase error (CSW status 2) or an invalid CSW; reset recovery was run. */
  PHASE_ERROR: 'E_PHASE_ERROR',
  /** A transfer or command did not complete in time; reset recovery was run. */
  TIMEOUT: 'E_TIMEOUT',
  /** An endpoint stalled and could not be recovered. */
  STALL: 'E_STALL',
  /** The device disconnected or the handle is no longer valid. */
  DEVICE_GONE: 'E_DEVICE_GONE',
  /** Another process or lease holds the interface. */
  BUSY: 'E_BUSY',
  /** A handoff was refused because a filesystem of the device is mounted. */
  MOUNTED: 'E_MOUNTED',
  /** The OS refused access; the message names the fix (udev rule, root, entitlement). */
  PERMISSION: 'E_PERMISSION',
  /** The caller's input is invalid; nothing was sent to the device. */
  BAD_INPUT: 'E_BAD_INPUT',
  /** No device matches the selector. */
  NOT_FOUND: 'E_NOT_FOUND',
  /** A selector matches more than one device; the candidates are listed. */
  AMBIGUOUS: 'E_AMBIGUOUS',
  /** The operation is not supported by this device, backend or platform (e.g. a UAS-only interface over BOT). */
  UNSUPPORTED: 'E_UNSUPPORTED',
  /** The operation was cancelled (AbortSignal, client went away, shutdown). */
  CANCELLED: 'E_CANCELLED',
  /** The device sent more data than asked for (babble / overflow). */
  OVERFLOW: 'E_OVERFLOW',
  /** The OS ran out of a resource (e.g. usbfs_memory_mb on Linux). */
  NO_MEMORY: 'E_NO_MEMORY',
  /** A transport-level I/O failure not covered by a more specific code. */
  IO: 'E_IO',
  /** The native addon is not available (not built, or failed to load). */
  NO_NATIVE: 'E_NO_NATIVE',
  /** An NVMe command behind a USB bridge completed with an error status (`details.status`, SCT/SC). */
  NVME_STATUS: 'E_NVME_STATUS',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface UsbScsiErrorOptions {
  cause?: unknown;
  /** Machine-readable extra facts (candidates, mount points, libusb error name, …). */
  details?: Record<string, unknown>;
}

export class UsbScsiError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: UsbScsiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UsbScsiError';
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(Object.keys(this.details).length ? { details: this.details } : {}),
    };
  }
}

export function isUsbScsiError(err: unknown, code?: ErrorCode): err is UsbScsiError {
  return err instanceof UsbScsiError && (code === undefined || err.code === code);
}

export function badInput(message: string, details?: Record<string, unknown>): UsbScsiError {
  return new UsbScsiError(ErrorCodes.BAD_INPUT, message, details ? { details } : {});
}
