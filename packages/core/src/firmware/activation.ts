/**
 * After activation the device goes away in one of three ways and comes back: it reports UNIT
 * ATTENTION 3F/01 (MICROCODE HAS BEEN CHANGED) or 29/xx (a reset) on the same connection, or it
 * drops off the bus and re-enumerates (the handle dies; `reopen` finds it again). The wait is
 * bounded: past it the error says the device runs either firmware and what to do.
 */
import type { ScsiDevice } from '../device.js';
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import * as scsi from '../scsi/index.js';
import { ScsiStatus } from '../transport.js';
import type { FirmwareReport } from './types.js';

const POLL_MS = 100;
const GONE = new Set<string>([
  ErrorCodes.DEVICE_GONE,
  ErrorCodes.NOT_FOUND,
  ErrorCodes.BUSY,
  ErrorCodes.IO,
  ErrorCodes.STALL,
  ErrorCodes.PHASE_ERROR,
  ErrorCodes.TIMEOUT,
  ErrorCodes.PERMISSION,
]);

export interface CameBack {
  device: ScsiDevice;
  /** True when `device` was opened here (re-enumeration): the caller closes it. */
  reopened: boolean;
  how: NonNullable<FirmwareReport['cameBack']>;
  ms: number;
}

export async function waitForDevice(
  device: ScsiDevice,
  options: { timeoutMs: number; reopen?: () => Promise<ScsiDevice>; signal?: AbortSignal; gone?: boolean },
): Promise<CameBack> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let current = device;
  let reopened = false;
  let how: CameBack['how'] | undefined;
  let gone = options.gone === true;
  let lastProblem = 'no answer yet';
  const notBackYet = (err: unknown): err is UsbScsiError => isUsbScsiError(err) && GONE.has(err.code);
  while (Date.now() < deadline) {
    if (options.signal?.aborted) {
      throw new UsbScsiError(
        ErrorCodes.CANCELLED,
        'stopped while waiting for the device to come back from activation: it runs the old ' +
          'or the new firmware; check with `usbscsi firmware info`',
        {
          details: { reason: 'cancelled', deviceState: 'unknown' },
        },
      );
    }
    if (gone) {
      if (!options.reopen) {
        throw new UsbScsiError(
          ErrorCodes.DEVICE_GONE,
          'the device dropped off the bus after activation (it re-enumerates to run the new ' +
            'firmware): open it again to see its revision',
          {
            details: { reason: 'reenumerated', deviceState: 'unknown' },
          },
        );
      }
      try {
        if (reopened) await current.close().catch(() => undefined);
        current = await options.reopen();
        reopened = true;
        gone = false;
        how = 're-enumerated';
      } catch (err) {
        if (!notBackYet(err)) throw err;
        lastProblem = err.message;
      }
    }
    if (!gone) {
      try {
        const r = await current.execute(scsi.testUnitReadyCdb(), {
          timeoutMs: Math.max(1000, Math.min(5000, deadline - Date.now())),
        });
        if (r.status === ScsiStatus.GOOD)
          return { device: current, reopened, how: how ?? 'ready', ms: Date.now() - started };
        const s = r.sense;
        if (s?.senseKey === 0x06 && s.asc === 0x3f && s.ascq === 0x01) how ??= 'microcode-changed';
        else if (s?.senseKey === 0x06 && s.asc === 0x29) how ??= 'reset';
        lastProblem = s ? `${s.senseKeyName}: ${s.ascText}` : `status 0x${r.status.toString(16)}`;
      } catch (err) {
        if (!notBackYet(err)) throw err;
        // Off the bus (re-enumeration): find it again; anything else: ask again after a pause.
        if (err.code === ErrorCodes.DEVICE_GONE) gone = true;
        lastProblem = err.message;
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (reopened) await current.close().catch(() => undefined);
  throw new UsbScsiError(
    ErrorCodes.TIMEOUT,
    `the device did not come back within ${Math.round(options.timeoutMs / 1000)} s of ` +
      `activation (last: ${lastProblem}). It runs either its old or its new firmware, never ` +
      `a mix: power-cycle it and check with \`usbscsi firmware info\``,
    { details: { reason: 'did-not-come-back', deviceState: 'unknown', timeoutMs: options.timeoutMs } },
  );
}
