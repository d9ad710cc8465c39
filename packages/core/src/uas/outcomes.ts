// What a UAS command's end means: its result, or the typed error it ends with.
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import { decodeSense } from '../scsi/sense.js';
import type { DecodedSense } from '../scsi/sense-types.js';
import type { ScsiRequest, ScsiResult } from '../transport.js';
import { ResponseCode, responseCodeName, type StatusIu } from './ius.js';

export function cancelled(): UsbScsiError {
  return new UsbScsiError(ErrorCodes.CANCELLED, 'the command was cancelled (its AbortSignal fired)');
}

export function phaseError(message: string, details?: Record<string, unknown>): UsbScsiError {
  return new UsbScsiError(ErrorCodes.PHASE_ERROR, message, details ? { details } : {});
}

/** A Response IU in place of a command's status: the device refused or lost the command. */
export function responseError(iu: Extract<StatusIu, { id: 'response' }>, lun: number): UsbScsiError {
  const details = { tag: iu.tag, responseCode: iu.responseCode, additionalInfo: iu.additionalInfo };
  const what = `the device answered UAS tag ${iu.tag} with a Response IU: ${responseCodeName(iu.responseCode)}`;
  switch (iu.responseCode) {
    case ResponseCode.INCORRECT_LUN:
      return new UsbScsiError(ErrorCodes.BAD_INPUT, `${what}; LUN ${lun} does not exist on the device`, { details });
    case ResponseCode.INVALID_IU:
    case ResponseCode.OVERLAPPED_TAG:
      return phaseError(`${what}; host and device lost step`, details);
    default:
      return new UsbScsiError(ErrorCodes.IO, what, { details });
  }
}

/** The command's result from its Sense IU and the bytes its data phase moved (capped at the buffer). */
export function resultOfSenseIu(
  iu: Extract<StatusIu, { id: 'sense' }>,
  direction: ScsiRequest['direction'],
  buffer: Uint8Array | undefined,
  moved: number,
): ScsiResult {
  const length = buffer?.length ?? 0;
  const transferred = Math.min(moved, length);
  const sense = senseOf(iu.sense);
  return {
    status: iu.status,
    ...(sense ? { sense } : {}),
    data: direction === 'in' && buffer ? buffer.subarray(0, transferred) : new Uint8Array(0),
    transferred,
    residue: length - transferred,
    durationNs: 0,
  };
}

export function senseOf(bytes: Uint8Array): DecodedSense | undefined {
  if (bytes.length === 0) return undefined;
  try {
    return decodeSense(bytes);
  } catch {
    return undefined;
  }
}

export function asError(err: unknown): UsbScsiError {
  return isUsbScsiError(err) ? err : new UsbScsiError(ErrorCodes.IO, String(err), { cause: err });
}

export function ignoreGone(err: unknown): void {
  if (isUsbScsiError(err) && err.code === ErrorCodes.DEVICE_GONE) return;
  throw err;
}

/** The error of a command whose budget ran out. */
export function timedOut(timeoutMs: number, tag: number): UsbScsiError {
  return new UsbScsiError(
    ErrorCodes.TIMEOUT,
    `the command did not complete within ${timeoutMs} ms (UAS tag ${tag}); it was aborted`,
    { details: { timeoutMs, tag } },
  );
}
