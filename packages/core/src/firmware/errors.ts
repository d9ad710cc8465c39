/**
 * Firmware errors say what state the device is in, because that is what the user must act on.
 * Codes are the library's usual ones; `details.reason` tells firmware failures apart and
 * `details.deviceState` says which firmware runs.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { ScsiResult } from '../transport.js';
import type { FirmwareChunk, FirmwarePlan } from './types.js';

export type DeviceFirmwareState = 'old-firmware' | 'new-firmware-deferred' | 'unknown';

/** What runs on the device when a download stops before its end. */
export function stateWhenStopped(plan: FirmwarePlan, chunksAccepted: number): { state: DeviceFirmwareState; text: string } {
  const all = chunksAccepted >= plan.chunks.length;
  if (!all) {
    return {
      state: 'old-firmware',
      text:
        plan.mode === 0x05
          ? 'the device still runs its old firmware (the whole-image command did not complete)'
          : 'the device still runs its old firmware: a segmented download changes nothing until its last segment, and a new download starts over at the first',
    };
  }
  if (plan.activation === 'with-last-chunk') return { state: 'unknown', text: 'the last segment was accepted, so the device may be switching to the new firmware' };
  return { state: 'new-firmware-deferred', text: 'the new firmware is saved and not active: it runs after the activate command (0x0f), a power cycle or a hard reset' };
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

/** A chunk (or the activate command) the device answered with other than GOOD. */
export function chunkRefused(plan: FirmwarePlan, chunk: FirmwareChunk | undefined, result: ScsiResult, ataError?: string): UsbScsiError {
  const s = result.sense;
  const what = ataError ?? (s ? `${s.senseKeyName}: ${s.ascText} (sense ${hex(s.senseKey)}/${hex(s.asc)}/${hex(s.ascq)})` : `SCSI status 0x${hex(result.status)}`);
  const where = chunk ? `chunk ${chunk.index + 1} of ${plan.chunks.length} at buffer offset ${chunk.offset}` : 'the activate command (0x0f)';
  const state = stateWhenStopped(plan, chunk ? chunk.index : plan.chunks.length);
  return new UsbScsiError(ErrorCodes.CHECK_CONDITION, `the device refused ${where}: ${what}. ${capitalize(state.text)}; check that the image is meant for this device and try again.`, {
    details: {
      reason: 'chunk-refused',
      status: result.status,
      ...(s ? { senseKey: s.senseKey, senseKeyName: s.senseKeyName, asc: s.asc, ascq: s.ascq, ascText: s.ascText } : {}),
      ...(chunk ? { chunk: chunk.index, offset: chunk.offset } : { activate: true }),
      deviceState: state.state,
    },
  });
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
