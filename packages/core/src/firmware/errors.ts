/**
 * Firmware errors say what state the device is in, because that is what the user must act on.
 * Codes are the library's usual ones; `details.reason` tells firmware failures apart and
 * `details.deviceState` says which firmware runs.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { ScsiResult } from '../transport.js';
import type { FirmwareChunk, FirmwarePlan } from './types.js';
import { hex } from '../hex.js';

export type DeviceFirmwareState = 'old-firmware' | 'new-firmware-deferred' | 'unknown';

/** What runs on the device when a download stops before its end. */
export function stateWhenStopped(
  plan: FirmwarePlan,
  chunksAccepted: number,
): { state: DeviceFirmwareState; text: string } {
  const all = chunksAccepted >= plan.chunks.length;
  if (!all) {
    return {
      state: 'old-firmware',
      text:
        plan.mode === 0x05
          ? 'the device still runs its old firmware (the whole-image command did not complete)'
          : 'the device still runs its old firmware: a segmented download changes nothing until ' +
            'its last segment, and a new download starts over at the first',
    };
  }
  if (plan.activation === 'with-last-chunk')
    return {
      state: 'unknown',
      text: 'the last segment was accepted, so the device may be switching to the new firmware',
    };
  // Accepting every segment is not proof of a saved image: the device decides whether they make a
  // whole, valid one, and WRITE BUFFER does not say (the activate command would).
  return {
    state: 'new-firmware-deferred',
    text:
      'the old firmware still runs; every segment was accepted, so if the device took them ' +
      'as a whole image it holds it until the activate command (0x0f), a power cycle or a hard reset',
  };
}

const refusal = (result: ScsiResult, ataError: string | undefined) => {
  const s = result.sense;
  return {
    what:
      ataError ??
      (s
        ? `${s.senseKeyName}: ${s.ascText} (sense ${hex(s.senseKey)}/${hex(s.asc)}/${hex(s.ascq)})`
        : `SCSI status 0x${hex(result.status)}`),
    details: {
      status: result.status,
      ...(s
        ? { senseKey: s.senseKey, senseKeyName: s.senseKeyName, asc: s.asc, ascq: s.ascq, ascText: s.ascText }
        : {}),
    },
  };
};

/** A chunk the device answered with other than GOOD. */
export function chunkRefused(
  plan: FirmwarePlan,
  chunk: FirmwareChunk,
  result: ScsiResult,
  ataError?: string,
): UsbScsiError {
  const { what, details } = refusal(result, ataError);
  const state = stateWhenStopped(plan, chunk.index);
  return new UsbScsiError(
    ErrorCodes.CHECK_CONDITION,
    `the device refused chunk ${chunk.index + 1} of ${plan.chunks.length} at buffer offset ` +
      `${chunk.offset}: ${what}. ${capitalize(state.text)}; check that the image is meant ` +
      `for this device and try again.`,
    {
      details: {
        reason: 'chunk-refused',
        ...details,
        chunk: chunk.index,
        offset: chunk.offset,
        deviceState: state.state,
      },
    },
  );
}

/**
 * The activate command (0Fh) refused: nothing was activated, so the old firmware runs. What the
 * device holds depends on why: COMMAND SEQUENCE ERROR (2C/00) is SPC-5's answer when no deferred
 * microcode is saved (the segments did not make a whole, valid image); otherwise it does not say.
 */
export function activateRefused(plan: FirmwarePlan, result: ScsiResult, ataError?: string): UsbScsiError {
  const { what, details } = refusal(result, ataError);
  const s = result.sense;
  const nothingSaved = ataError === undefined && s?.senseKey === 0x05 && s.asc === 0x2c && s.ascq === 0x00;
  const command =
    plan.target === 'ata'
      ? 'the activate command (ATA DOWNLOAD MICROCODE subcommand 0x0f)'
      : 'the activate command (WRITE BUFFER mode 0x0f)';
  const held = nothingSaved
    ? 'it holds no saved image to activate: it did not take the downloaded segments as a whole, valid image'
    : 'whether it kept the downloaded image (to run after a power cycle or a hard reset) it does not say';
  return new UsbScsiError(
    ErrorCodes.CHECK_CONDITION,
    `the device refused ${command} after accepting ` +
      `${plan.chunks.length === 1 ? 'its only chunk' : `all ${plan.chunks.length} chunks`}: ` +
      `${what}. The device still runs its old firmware; ${held}. Check that the ` +
      `image is meant for this device and download it again.`,
    {
      details: {
        reason: 'activate-refused',
        ...details,
        activate: true,
        chunksSent: plan.chunks.length,
        deviceState: 'old-firmware',
        deferredImage: nothingSaved ? 'none' : 'unknown',
      },
    },
  );
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
