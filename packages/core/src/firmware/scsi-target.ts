/**
 * Firmware through SCSI WRITE BUFFER (SPC-5 §6.49): the device's modes from REPORT SUPPORTED
 * OPERATION CODES (§6.35, one-command format with the mode as the requested service action), its
 * offset boundary and buffer capacity from READ BUFFER descriptor mode 03h (§6.20.5).
 */
import type { ScsiDevice } from '../device.js';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { ScsiStatus, type ScsiResult } from '../transport.js';
import * as scsi from '../scsi/index.js';
import { activationOf, checkBufferId, chooseMode, chunkImage, MAX_WRITE_BUFFER_FIELD } from './plan.js';
import {
  DOWNLOAD_MODES,
  MODE_NAMES,
  type DownloadFirmwareOptions,
  type FirmwareCapabilities,
  type FirmwareChunk,
  type FirmwarePlan,
  type FirmwareTarget,
} from './types.js';
import { activateRefused, chunkRefused } from './errors.js';
import { hex0x } from '../hex.js';

const QUERY_TIMEOUT_MS = 10_000;

/** REPORT SUPPORTED OPERATION CODES, REPORTING OPTIONS 011b: one opcode and service action. */
export function reportSupportedOperationCodeCdb(
  opcode: number,
  serviceAction: number,
  allocationLength = 64,
): Uint8Array {
  const cdb = new Uint8Array(12);
  cdb[0] = 0xa3;
  cdb[1] = 0x0c;
  cdb[2] = 0x03;
  cdb[3] = opcode;
  cdb[4] = serviceAction >> 8;
  cdb[5] = serviceAction & 0xff;
  new DataView(cdb.buffer).setUint32(6, allocationLength);
  return cdb;
}

/** SUPPORT field of the one-command format: 011b (per the standard) or 101b (vendor-specific) mean supported. */
export function parseOneCommandSupport(data: Uint8Array): 'supported' | 'not-supported' | 'unknown' {
  if (data.length < 2) return 'unknown';
  const support = (data[1] ?? 0) & 0x07;
  if (support === 0x03 || support === 0x05) return 'supported';
  if (support === 0x01) return 'not-supported';
  return 'unknown';
}

export class WriteBufferTarget implements FirmwareTarget {
  readonly kind = 'scsi' as const;

  constructor(
    private readonly device: ScsiDevice,
    private readonly timeoutMs: number,
  ) {}

  async probe(bufferId = 0): Promise<FirmwareCapabilities> {
    const notes: string[] = [];
    const revision = await this.revision(this.device);
    let modes: number[] | undefined = [];
    for (const mode of [...DOWNLOAD_MODES, 0x0f]) {
      const r = await this.device.execute(reportSupportedOperationCodeCdb(0x3b, mode), {
        length: 64,
        timeoutMs: QUERY_TIMEOUT_MS,
      });
      if (r.status !== ScsiStatus.GOOD) {
        notes.push(
          `REPORT SUPPORTED OPERATION CODES is not supported (${senseText(r)}): the download modes are not known`,
        );
        modes = undefined;
        break;
      }
      if (parseOneCommandSupport(r.data) === 'supported') modes.push(mode);
    }
    let offsetBoundary: number | undefined;
    let bufferCapacity: number | undefined;
    const d = await this.device.execute(
      scsi.readBuffer10Cdb({ mode: scsi.ReadBufferMode.DESCRIPTOR, bufferId, length: 4 }),
      { length: 4, timeoutMs: QUERY_TIMEOUT_MS },
    );
    if (d.status === ScsiStatus.GOOD && d.transferred >= 4) {
      const exponent = d.data[0] ?? 0;
      // SPC-5 table 204: 2^n bytes; FFh: only buffer offset 0.
      offsetBoundary = exponent === 0xff ? 0 : 2 ** exponent;
      bufferCapacity = ((d.data[1] ?? 0) << 16) | ((d.data[2] ?? 0) << 8) | (d.data[3] ?? 0);
    } else {
      notes.push(
        `READ BUFFER descriptor mode is not supported (${senseText(d)}): offset boundary and buffer size are not known`,
      );
    }
    return {
      target: 'scsi',
      modes,
      modesSource: modes ? 'report-supported-operation-codes' : 'not-reported',
      offsetBoundary,
      bufferCapacity,
      revision,
      notes,
    };
  }

  plan(caps: FirmwareCapabilities, imageBytes: number, options: DownloadFirmwareOptions): FirmwarePlan {
    const bufferId = checkBufferId(options.bufferId);
    const { mode, reason } = chooseMode(caps, imageBytes, options);
    const base = options.offset ?? 0;
    const capacity = caps.bufferCapacity && caps.bufferCapacity > 0 ? caps.bufferCapacity : MAX_WRITE_BUFFER_FIELD;
    const limitName = caps.bufferCapacity ? 'download buffer' : 'WRITE BUFFER offset and length fields';
    const whole = mode === 0x05;
    const alignment = whole || caps.offsetBoundary === 0 ? 1 : (caps.offsetBoundary ?? 1);
    if ((whole || caps.offsetBoundary === 0) && base !== 0) {
      throw new UsbScsiError(
        ErrorCodes.BAD_INPUT,
        `mode ${hex0x(mode)} on this device takes no buffer offset: drop --offset`,
        { details: { reason: 'misaligned-offset', offset: base } },
      );
    }
    const { chunkSize, chunks } = chunkImage(imageBytes, base, whole ? imageBytes : options.chunkSize, {
      alignment,
      minChunk: 1,
      maxChunk: whole ? MAX_WRITE_BUFFER_FIELD : Math.min(capacity, MAX_WRITE_BUFFER_FIELD),
      limit: Math.min(capacity, MAX_WRITE_BUFFER_FIELD + 1),
      limitName,
    });
    return {
      target: 'scsi',
      mode,
      modeName: MODE_NAMES[mode]!,
      reason,
      bufferId,
      imageBytes,
      chunkSize,
      chunks,
      activation: activationOf(mode, options.activate === true),
    };
  }

  async sendChunk(plan: FirmwarePlan, chunk: FirmwareChunk, bytes: Uint8Array): Promise<void> {
    // 0Dh's MODE SPECIFIC selects the activation events: power on and hard reset (PO_ACT | HR_ACT).
    const modeSpecific = plan.mode === 0x0d ? 0x06 : 0;
    const cdb = scsi.writeBuffer10Cdb({
      mode: plan.mode,
      modeSpecific,
      bufferId: plan.bufferId,
      offset: plan.mode === 0x05 ? 0 : chunk.offset,
      length: bytes.length,
    });
    const r = await this.device.execute(cdb, { data: bytes, allowMediumWrite: true, timeoutMs: this.timeoutMs });
    if (r.status !== ScsiStatus.GOOD) throw chunkRefused(plan, chunk, r);
  }

  async activate(plan: FirmwarePlan): Promise<void> {
    const cdb = scsi.writeBuffer10Cdb({ mode: 0x0f, bufferId: plan.bufferId, length: 0 });
    const r = await this.device.execute(cdb, { allowMediumWrite: true, timeoutMs: this.timeoutMs });
    if (r.status !== ScsiStatus.GOOD) throw activateRefused(plan, r);
  }

  async revision(device: ScsiDevice): Promise<string> {
    return (await device.inquiry()).revision;
  }
}

function senseText(r: ScsiResult): string {
  return r.sense ? `${r.sense.senseKeyName}, ${r.sense.ascText}` : `status 0x${r.status.toString(16)}`;
}
