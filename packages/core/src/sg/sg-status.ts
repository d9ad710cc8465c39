/**
 * Linux SG_IO host and driver status (include/scsi/scsi_status.h, sg.h): which
 * ones are a transport failure, and the typed error each one becomes. A SCSI
 * status (CHECK CONDITION, BUSY…) is a result, not in this table.
 */
import { ErrorCodes, UsbScsiError, type ErrorCode } from '../errors.js';

const HOST: Record<number, [name: string, code: ErrorCode, hint: string]> = {
  0x01: [
    'DID_NO_CONNECT',
    ErrorCodes.DEVICE_GONE,
    'the device is not connected (unplugged or detached): list devices again',
  ],
  0x02: ['DID_BUS_BUSY', ErrorCodes.BUSY, 'the bus stayed busy: retry'],
  0x03: ['DID_TIME_OUT', ErrorCodes.TIMEOUT, 'the command timed out: raise the timeout or check the device'],
  0x04: ['DID_BAD_TARGET', ErrorCodes.DEVICE_GONE, 'the target is gone'],
  0x05: ['DID_ABORT', ErrorCodes.TIMEOUT, 'the kernel aborted the command (usually after a timeout)'],
  0x06: ['DID_PARITY', ErrorCodes.IO, 'parity error'],
  0x07: [
    'DID_ERROR',
    ErrorCodes.IO,
    'the host adapter reported an error (for USB: a transport failure, the kernel ran reset recovery)',
  ],
  0x08: ['DID_RESET', ErrorCodes.IO, 'the bus or device was reset meanwhile: retry'],
  0x09: ['DID_BAD_INTR', ErrorCodes.IO, 'unexpected interrupt'],
  0x0a: ['DID_PASSTHROUGH', ErrorCodes.IO, 'passthrough failure'],
  0x0b: ['DID_SOFT_ERROR', ErrorCodes.IO, 'soft error: retry'],
  0x0c: ['DID_IMM_RETRY', ErrorCodes.BUSY, 'retry immediately'],
  0x0d: ['DID_REQUEUE', ErrorCodes.BUSY, 'requeued: retry'],
  0x0e: ['DID_TRANSPORT_DISRUPTED', ErrorCodes.IO, 'the transport was disrupted: retry'],
  0x0f: ['DID_TRANSPORT_FAILFAST', ErrorCodes.DEVICE_GONE, 'the transport failed (device gone or unreachable)'],
  0x10: ['DID_TARGET_FAILURE', ErrorCodes.IO, 'permanent target failure'],
  0x11: ['DID_NEXUS_FAILURE', ErrorCodes.IO, 'permanent nexus failure (reservation conflict?)'],
  0x12: [
    'DID_ALLOC_FAILURE',
    ErrorCodes.NO_MEMORY,
    'the kernel could not allocate for the command: lower the transfer length',
  ],
  0x13: ['DID_MEDIUM_ERROR', ErrorCodes.IO, 'medium error'],
  0x14: ['DID_TRANSPORT_MARGINAL', ErrorCodes.IO, 'the transport is marginal'],
};

const DRIVER_NAMES = [
  'DRIVER_OK',
  'DRIVER_BUSY',
  'DRIVER_SOFT',
  'DRIVER_MEDIA',
  'DRIVER_ERROR',
  'DRIVER_INVALID',
  'DRIVER_TIMEOUT',
  'DRIVER_HARD',
];
export const DRIVER_SENSE = 0x08;
export const DRIVER_TIMEOUT = 0x06;

/** Null when the command reached the device and came back (whatever its SCSI status). */
export function sgTransportError(
  path: string,
  hostStatus: number,
  driverStatus: number,
  hasSenseOrStatus: boolean,
): UsbScsiError | null {
  const details = { path, hostStatus, driverStatus };
  if (hostStatus !== 0) {
    const known = HOST[hostStatus];
    const name = known?.[0] ?? `host status 0x${hostStatus.toString(16)}`;
    return new UsbScsiError(
      known?.[1] ?? ErrorCodes.IO,
      `SG_IO on ${path}: ${name}: ${known?.[2] ?? 'the host adapter failed the command'}.`,
      { details: { ...details, host: name } },
    );
  }
  const driver = driverStatus & 0x0f;
  if (driver === DRIVER_TIMEOUT) {
    return new UsbScsiError(ErrorCodes.TIMEOUT, `SG_IO on ${path}: DRIVER_TIMEOUT: the command timed out.`, {
      details,
    });
  }
  if (driver !== 0 && !hasSenseOrStatus) {
    const name = DRIVER_NAMES[driver] ?? `driver status 0x${driver.toString(16)}`;
    return new UsbScsiError(ErrorCodes.IO, `SG_IO on ${path}: ${name}: the kernel driver failed the command.`, {
      details: { ...details, driver: name },
    });
  }
  return null;
}
