/**
 * downloadFirmware: probe (read-only), plan, send the chunks one at a time with each outcome
 * checked, activate, wait for the device to come back, and report the revision before and after.
 * Cancellation is honoured between chunks only: a chunk in flight always completes.
 */
import type { ScsiDevice } from '../device.js';
import { ErrorCodes, UsbScsiError, badInput, isUsbScsiError } from '../errors.js';
import { waitForDevice } from './activation.js';
import { DownloadMicrocodeTarget } from './ata-target.js';
import { capitalize, stateWhenStopped } from './errors.js';
import { checkFirmwareOptions } from './plan.js';
import { WriteBufferTarget } from './scsi-target.js';
import type {
  DownloadFirmwareOptions,
  FirmwareCapabilities,
  FirmwarePlan,
  FirmwareReport,
  FirmwareTarget,
} from './types.js';

export const DEFAULT_FIRMWARE_TIMEOUT_MS = 60_000;
export const DEFAULT_ACTIVATION_TIMEOUT_MS = 60_000;

export interface FirmwareInfoOptions {
  target?: 'auto' | 'scsi' | 'ata';
  bufferId?: number;
  timeoutMs?: number;
}

/**
 * Picks the target: WRITE BUFFER when the device reports a download mode, else DOWNLOAD MICROCODE when a SAT bridge
 * answers IDENTIFY with it.
 */
export async function resolveFirmwareTarget(
  device: ScsiDevice,
  options: FirmwareInfoOptions = {},
): Promise<{ target: FirmwareTarget; capabilities: FirmwareCapabilities }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_FIRMWARE_TIMEOUT_MS;
  const choice = options.target ?? 'auto';
  if (!['auto', 'scsi', 'ata'].includes(choice))
    throw badInput(`firmware target ${String(choice)} is not one of auto, scsi, ata`, { reason: 'bad-target' });
  if (choice === 'ata') {
    const ata = new DownloadMicrocodeTarget(device, timeoutMs);
    return { target: ata, capabilities: await ata.probe() };
  }
  const wb = new WriteBufferTarget(device, timeoutMs);
  const caps = await wb.probe(options.bufferId ?? 0);
  if (choice === 'scsi' || (caps.modes?.length ?? 0) > 0) return { target: wb, capabilities: caps };
  const ata = new DownloadMicrocodeTarget(device, timeoutMs);
  try {
    const ataCaps = await ata.probe();
    if ((ataCaps.modes?.length ?? 0) > 0) {
      ataCaps.notes.unshift(
        `WRITE BUFFER download modes are not reported (` +
          `${caps.modes ? 'none supported' : 'no REPORT SUPPORTED OPERATION CODES'}); ` +
          `the SATA drive behind the bridge supports DOWNLOAD MICROCODE`,
      );
      return { target: ata, capabilities: ataCaps };
    }
  } catch (err) {
    if (!isUsbScsiError(err) || ![ErrorCodes.UNSUPPORTED, ErrorCodes.CHECK_CONDITION].includes(err.code as never))
      throw err;
  }
  return { target: wb, capabilities: caps };
}

function checkOptions(image: Uint8Array, options: DownloadFirmwareOptions): void {
  if (!(image instanceof Uint8Array))
    throw badInput('the firmware image must be bytes (a Uint8Array / Buffer)', { reason: 'bad-image' });
  checkFirmwareOptions(image.length, options);
}

export async function downloadFirmware(
  device: ScsiDevice,
  image: Uint8Array,
  options: DownloadFirmwareOptions,
): Promise<FirmwareReport> {
  checkOptions(image, options);
  const started = Date.now();
  const { target, capabilities } = await resolveFirmwareTarget(device, {
    ...(options.target ? { target: options.target } : {}),
    ...(options.bufferId !== undefined ? { bufferId: options.bufferId } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  const plan = target.plan(capabilities, image.length, options);
  const report: FirmwareReport = {
    plan,
    chunksSent: 0,
    bytesSent: 0,
    revisionBefore: capabilities.revision,
    state: 'planned',
    durationMs: 0,
  };
  if (options.dryRun) return { ...report, durationMs: Date.now() - started };

  const progress = (phase: 'download' | 'activate' | 'wait', offset?: number) =>
    options.onProgress?.({
      phase,
      chunk: report.chunksSent,
      chunks: plan.chunks.length,
      bytes: report.bytesSent,
      totalBytes: plan.imageBytes,
      ...(offset !== undefined ? { offset } : {}),
      elapsedMs: Date.now() - started,
    });
  let goneDuringActivation = false;
  for (const chunk of plan.chunks) {
    if (options.signal?.aborted) throw stopped(plan, report.chunksSent, ErrorCodes.CANCELLED, 'stopped');
    const last = chunk.index === plan.chunks.length - 1;
    try {
      await target.sendChunk(plan, chunk, image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.length), last);
    } catch (err) {
      // A device that activates with its last segment may drop off the bus before the status reaches us.
      if (last && plan.activation === 'with-last-chunk' && isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) {
        goneDuringActivation = true;
      } else if (isUsbScsiError(err) && err.details['reason'] !== 'chunk-refused') {
        throw stopped(
          plan,
          report.chunksSent,
          err.code,
          `${err.message}, during chunk ${chunk.index + 1} of ${plan.chunks.length} at buffer offset ${chunk.offset}`,
          err,
          chunk.offset,
        );
      } else throw err;
    }
    report.chunksSent++;
    report.bytesSent += chunk.length;
    progress('download', chunk.offset);
  }
  if (plan.activation === 'deferred') return { ...report, state: 'deferred', durationMs: Date.now() - started };
  if (plan.activation === 'activate-command') {
    if (options.signal?.aborted)
      throw stopped(plan, report.chunksSent, ErrorCodes.CANCELLED, 'stopped before the activate command');
    progress('activate');
    try {
      await target.activate(plan);
    } catch (err) {
      // Gone before its status reached us: the device is already switching to the new firmware.
      if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) goneDuringActivation = true;
      else if (isUsbScsiError(err) && err.details['reason'] !== 'activate-refused') throw activationLost(err);
      else throw err;
    }
  }
  progress('wait');
  const back = await waitForDevice(device, {
    timeoutMs: options.activationTimeoutMs ?? DEFAULT_ACTIVATION_TIMEOUT_MS,
    ...(options.reopen ? { reopen: options.reopen } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(goneDuringActivation ? { gone: true } : {}),
  });
  try {
    report.revisionAfter = await target.revision(back.device);
  } finally {
    if (back.reopened) await back.device.close().catch(() => undefined);
  }
  return { ...report, state: 'activated', cameBack: back.how, activationMs: back.ms, durationMs: Date.now() - started };
}

function stopped(
  plan: FirmwarePlan,
  accepted: number,
  code: UsbScsiError['code'],
  what: string,
  cause?: UsbScsiError,
  offset?: number,
): UsbScsiError {
  const state = stateWhenStopped(plan, accepted);
  const next = plan.chunks[accepted];
  const at =
    code === ErrorCodes.CANCELLED
      ? ` after ${accepted} of ${plan.chunks.length} chunks${next ? ` (next buffer offset ${next.offset})` : ''}`
      : '';
  return new UsbScsiError(code, `${capitalize(what)}${at}: ${state.text}.`, {
    ...(cause ? { cause } : {}),
    details: {
      ...(cause?.details ?? {}),
      reason: code === ErrorCodes.CANCELLED ? 'cancelled' : (cause?.details['reason'] ?? 'transport'),
      chunksSent: accepted,
      ...(offset !== undefined ? { offset } : next ? { offset: next.offset } : {}),
      deviceState: state.state,
    },
  });
}

/** The activate command failed without an answer (timeout, transport): it may or may not have reached the device. */
function activationLost(cause: UsbScsiError): UsbScsiError {
  return new UsbScsiError(
    cause.code,
    `${capitalize(cause.message)}, during the activate command (0x0f): the device runs ` +
      `either its old or its new firmware, never a mix; power-cycle it and check with \`usbscsi ` +
      `firmware info\`.`,
    {
      cause,
      details: {
        ...cause.details,
        reason: cause.details['reason'] ?? 'transport',
        activate: true,
        deviceState: 'unknown',
      },
    },
  );
}
