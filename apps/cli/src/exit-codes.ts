/**
 * The one table of `usbscsi` exit statuses. Scripts branch on these numbers,
 * so they never change meaning; new categories get new numbers.
 */
import { ErrorCodes, type ErrorCode, isUsbScsiError } from '@usbscsi/core/errors';

export const ExitCode = {
  OK: 0,
  /** Anything not covered below (an I/O failure without a more specific category). */
  FAILURE: 1,
  /** Bad command line or bad input (E_BAD_INPUT): nothing was sent to the device. */
  USAGE: 2,
  /** No device matches the selector, or several do (E_NOT_FOUND, E_AMBIGUOUS). */
  NOT_FOUND: 3,
  /** The OS refused access (E_PERMISSION): udev rule, root or entitlement. */
  PERMISSION: 4,
  /** Another process or lease holds the interface, or md, dm or swap holds the disk of an SG_IO write (E_BUSY). */
  BUSY: 5,
  /** Refused because a filesystem of the device is mounted (E_MOUNTED). */
  MOUNTED: 6,
  /** The device went away or the handle died (E_DEVICE_GONE). */
  DEVICE_GONE: 7,
  /** A command or transfer timed out (E_TIMEOUT). */
  TIMEOUT: 8,
  /**
   * Transport failure: BOT phase error, bad CSW, unrecoverable stall, overflow (E_PHASE_ERROR, E_STALL, E_OVERFLOW,
   * E_IO).
   */
  TRANSPORT: 9,
  /** Not supported by this device, backend or platform (E_UNSUPPORTED, E_NO_NATIVE). */
  UNSUPPORTED: 10,
  /** The OS ran out of a resource, e.g. usbfs_memory_mb (E_NO_MEMORY). */
  NO_MEMORY: 11,
  /** CHECK CONDITION with another sense key (NO SENSE, RECOVERED ERROR, MISCOMPARE, …) or no sense data. */
  SENSE_OTHER: 20,
  SENSE_NOT_READY: 21,
  SENSE_MEDIUM_ERROR: 22,
  SENSE_HARDWARE_ERROR: 23,
  SENSE_ILLEGAL_REQUEST: 24,
  SENSE_UNIT_ATTENTION: 25,
  SENSE_DATA_PROTECT: 26,
  SENSE_ABORTED_COMMAND: 27,
  /** SCSI status other than GOOD and CHECK CONDITION (BUSY, RESERVATION CONFLICT, TASK SET FULL, …). */
  SCSI_STATUS: 28,
  /** An NVMe command behind a USB bridge completed with an error status (E_NVME_STATUS): the drive said no. */
  NVME_STATUS: 29,
  /** Interrupted (SIGINT / E_CANCELLED), as shells report 128 + SIGINT. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const BY_SENSE_KEY: Record<number, ExitCodeValue> = {
  0x2: ExitCode.SENSE_NOT_READY,
  0x3: ExitCode.SENSE_MEDIUM_ERROR,
  0x4: ExitCode.SENSE_HARDWARE_ERROR,
  0x5: ExitCode.SENSE_ILLEGAL_REQUEST,
  0x6: ExitCode.SENSE_UNIT_ATTENTION,
  0x7: ExitCode.SENSE_DATA_PROTECT,
  0xb: ExitCode.SENSE_ABORTED_COMMAND,
};

const BY_ERROR_CODE: Partial<Record<ErrorCode, ExitCodeValue>> = {
  [ErrorCodes.BAD_INPUT]: ExitCode.USAGE,
  [ErrorCodes.NOT_FOUND]: ExitCode.NOT_FOUND,
  [ErrorCodes.AMBIGUOUS]: ExitCode.NOT_FOUND,
  [ErrorCodes.PERMISSION]: ExitCode.PERMISSION,
  [ErrorCodes.BUSY]: ExitCode.BUSY,
  [ErrorCodes.MOUNTED]: ExitCode.MOUNTED,
  [ErrorCodes.DEVICE_GONE]: ExitCode.DEVICE_GONE,
  [ErrorCodes.TIMEOUT]: ExitCode.TIMEOUT,
  [ErrorCodes.PHASE_ERROR]: ExitCode.TRANSPORT,
  [ErrorCodes.STALL]: ExitCode.TRANSPORT,
  [ErrorCodes.OVERFLOW]: ExitCode.TRANSPORT,
  [ErrorCodes.IO]: ExitCode.TRANSPORT,
  [ErrorCodes.UNSUPPORTED]: ExitCode.UNSUPPORTED,
  [ErrorCodes.NO_NATIVE]: ExitCode.UNSUPPORTED,
  [ErrorCodes.NO_MEMORY]: ExitCode.NO_MEMORY,
  [ErrorCodes.CANCELLED]: ExitCode.INTERRUPTED,
  [ErrorCodes.NVME_STATUS]: ExitCode.NVME_STATUS,
};

/** Exit status for a completed command's SCSI status and sense key (sg_raw's job in `raw`). */
export function exitCodeForStatus(status: number, senseKey: number | undefined): ExitCodeValue {
  if (status === 0x00 || status === 0x04) return ExitCode.OK; // GOOD, CONDITION MET
  if (status !== 0x02) return ExitCode.SCSI_STATUS;
  return (senseKey !== undefined && BY_SENSE_KEY[senseKey]) || ExitCode.SENSE_OTHER;
}

function senseKeyOf(err: { details: Record<string, unknown> } & Record<string, unknown>): number | undefined {
  const sense = (err['sense'] ?? err.details['sense']) as { senseKey?: unknown } | undefined;
  if (typeof sense?.senseKey === 'number') return sense.senseKey;
  return typeof err.details['senseKey'] === 'number' ? err.details['senseKey'] : undefined;
}

export function exitCodeFor(err: unknown): ExitCodeValue {
  if (!isUsbScsiError(err)) return ExitCode.FAILURE;
  if (err.code === ErrorCodes.CHECK_CONDITION) {
    const status = typeof err.details['status'] === 'number' ? err.details['status'] : 0x02;
    return exitCodeForStatus(status, senseKeyOf(err as never));
  }
  return BY_ERROR_CODE[err.code] ?? ExitCode.FAILURE;
}

/** The table as `usbscsi --help` prints it and docs/cli.md documents it. */
export const EXIT_CODE_HELP: readonly [number, string][] = [
  [ExitCode.OK, 'success'],
  [ExitCode.FAILURE, 'other failure'],
  [ExitCode.USAGE, 'usage error or bad input (nothing was sent)'],
  [ExitCode.NOT_FOUND, 'device not found, or the selector is ambiguous'],
  [ExitCode.PERMISSION, 'permission denied (udev rule / root / entitlement)'],
  [ExitCode.BUSY, 'device busy (another process or lease), or its medium in use (md, dm, swap)'],
  [ExitCode.MOUNTED, 'refused: a filesystem of the device is mounted'],
  [ExitCode.DEVICE_GONE, 'device disconnected'],
  [ExitCode.TIMEOUT, 'command timed out'],
  [ExitCode.TRANSPORT, 'transport error (BOT phase error, bad CSW, stall, overflow)'],
  [ExitCode.UNSUPPORTED, 'not supported by this device/backend/platform'],
  [ExitCode.NO_MEMORY, 'out of OS resources (e.g. usbfs_memory_mb)'],
  [ExitCode.SENSE_OTHER, 'CHECK CONDITION, other sense key or no sense'],
  [ExitCode.SENSE_NOT_READY, 'CHECK CONDITION: NOT READY'],
  [ExitCode.SENSE_MEDIUM_ERROR, 'CHECK CONDITION: MEDIUM ERROR'],
  [ExitCode.SENSE_HARDWARE_ERROR, 'CHECK CONDITION: HARDWARE ERROR'],
  [ExitCode.SENSE_ILLEGAL_REQUEST, 'CHECK CONDITION: ILLEGAL REQUEST'],
  [ExitCode.SENSE_UNIT_ATTENTION, 'CHECK CONDITION: UNIT ATTENTION'],
  [ExitCode.SENSE_DATA_PROTECT, 'CHECK CONDITION: DATA PROTECT'],
  [ExitCode.SENSE_ABORTED_COMMAND, 'CHECK CONDITION: ABORTED COMMAND'],
  [ExitCode.SCSI_STATUS, 'SCSI status not GOOD (BUSY, RESERVATION CONFLICT, …)'],
  [ExitCode.NVME_STATUS, 'NVMe command completed with an error status'],
  [ExitCode.INTERRUPTED, 'interrupted (Ctrl-C)'],
];

export function exitCodeHelpText(): string {
  return ['Exit status:', ...EXIT_CODE_HELP.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`)].join('\n');
}
