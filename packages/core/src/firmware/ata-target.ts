/**
 * Firmware through a USB-SATA bridge: ATA DOWNLOAD MICROCODE (92h) / DOWNLOAD MICROCODE DMA (93h),
 * ACS-4 §7.7 and §7.8, inside SAT ATA PASS-THROUGH(16). Modes are given in WRITE BUFFER numbers and
 * translated as SAT-4's WRITE BUFFER translation does: 05h → subcommand 07h, 07h → 03h,
 * 0Eh → 0Eh, 0Fh → 0Fh (0Dh has no ATA counterpart).
 *
 * Taskfile (ACS-4 §7.7.3): FEATURE 7:0 = subcommand; COUNT 7:0 = block count 7:0 and LBA 7:0 =
 * block count 15:8 (512-byte blocks); LBA 23:8 = buffer offset in blocks. On completion COUNT
 * says 01h more segments expected, 02h applied, 03h saved for deferred activation (§7.7.4); CK_COND
 * asks the bridge to return those registers. IDENTIFY (ACS-4 table 45): words 83/86 bit 0 support
 * and enable, words 119/120 bit 4 mode 3 (offsets), word 69 bit 8 the DMA command, words 234/235
 * the minimum and maximum segment size in blocks (0000h and FFFFh: not reported).
 */
import type { ScsiDevice } from '../device.js';
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import { ScsiStatus, type ScsiResult } from '../transport.js';
import * as scsi from '../scsi/index.js';
import { activateRefused, chunkRefused } from './errors.js';
import { activationOf, checkBufferId, chooseMode, chunkImage } from './plan.js';
import {
  MODE_NAMES,
  type DownloadFirmwareOptions,
  type FirmwareCapabilities,
  type FirmwareChunk,
  type FirmwarePlan,
  type FirmwareTarget,
} from './types.js';
import { hex0x } from '../hex.js';

const BLOCK = 512;
/**
 * Segments stay within COUNT 7:0, where SAT's T_LENGTH 10b takes the transfer length from, as every
 * SATL understands it. A whole image (07h) has no segments: its 16-bit count spills into LBA 7:0,
 * and T_LENGTH 11b (TPSIU) tells the SATL to take the length from the transport instead of COUNT.
 */
const MAX_BLOCKS_PER_COMMAND = 255;
const MAX_WHOLE_BLOCKS = 0xffff;
/** LBA 23:8 holds the offset in blocks. */
const MAX_OFFSET_BLOCKS = 0xffff;

export const ATA_SUBCOMMAND: Readonly<Record<number, number>> = { 0x05: 0x07, 0x07: 0x03, 0x0e: 0x0e, 0x0f: 0x0f };

export function downloadMicrocodeCdb(o: {
  subcommand: number;
  blocks: number;
  offsetBlocks: number;
  dma?: boolean;
}): Uint8Array {
  const data = o.subcommand !== 0x0f;
  if (!Number.isInteger(o.blocks) || o.blocks < 0 || o.blocks > MAX_WHOLE_BLOCKS)
    throw badInput(`DOWNLOAD MICROCODE carries at most ${MAX_WHOLE_BLOCKS} blocks in one command; got ${o.blocks}`, {
      reason: 'image-too-large',
    });
  // COUNT alone (T_LENGTH 10b) would tell the SATL to move only `blocks & 0xff` blocks.
  const tLength = o.blocks > MAX_BLOCKS_PER_COMMAND ? scsi.AtaTLength.TPSIU : scsi.AtaTLength.COUNT;
  return scsi.ataPassThrough16Cdb({
    protocol: data ? (o.dma ? scsi.AtaProtocol.DMA : scsi.AtaProtocol.PIO_DATA_OUT) : scsi.AtaProtocol.NON_DATA,
    command: o.dma ? 0x93 : 0x92,
    features: o.subcommand,
    count: o.blocks & 0xff,
    lba: ((o.offsetBlocks & 0xffff) << 8) | ((o.blocks >> 8) & 0xff),
    device: 0x40,
    checkCondition: true,
    ...(data ? { direction: 'out' as const, blocks: true, tLength } : {}),
  });
}

const word = (d: Uint8Array, i: number) => (d[2 * i] ?? 0) | ((d[2 * i + 1] ?? 0) << 8);

export class DownloadMicrocodeTarget implements FirmwareTarget {
  readonly kind = 'ata' as const;

  constructor(
    private readonly device: ScsiDevice,
    private readonly timeoutMs: number,
  ) {}

  async probe(): Promise<FirmwareCapabilities> {
    const r = await this.device.execute(scsi.ataIdentifyDeviceCdb(16), { length: 512, timeoutMs: 10_000 });
    if (r.status !== ScsiStatus.GOOD || r.transferred < 512) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        'the device does not answer ATA IDENTIFY DEVICE through ATA PASS-THROUGH: it is not ' +
          'a USB-SATA bridge (use the SCSI target)',
        {
          details: { reason: 'not-ata', status: r.status },
        },
      );
    }
    const d = r.data;
    const notes: string[] = [];
    const supported = (word(d, 83) & 0xc001) === 0x4001;
    const offsets = supported && (word(d, 119) & 0xc010) === 0x4010;
    const modes = supported ? [0x05, ...(offsets ? [0x07] : [])] : [];
    if (!supported) notes.push('IDENTIFY word 83 bit 0 is clear: the drive does not support DOWNLOAD MICROCODE');
    if (offsets)
      notes.push(
        'deferred activation (0x0e/0x0f) is reported in the IDENTIFY DEVICE data log, not ' +
          'read here: ask for --mode 0xe explicitly',
      );
    if ((word(d, 69) & 0x0100) !== 0) notes.push('DOWNLOAD MICROCODE DMA (93h) is supported (ataDma)');
    const min = word(d, 234);
    const max = word(d, 235);
    const reported = (n: number) => n !== 0 && n !== 0xffff;
    return {
      target: 'ata',
      modes,
      modesSource: 'identify',
      offsetBoundary: BLOCK,
      bufferCapacity: (MAX_OFFSET_BLOCKS + MAX_BLOCKS_PER_COMMAND) * BLOCK,
      minSegment: (reported(min) ? min : 1) * BLOCK,
      maxSegment:
        Math.min(reported(max) ? max : reported(min) ? min : MAX_BLOCKS_PER_COMMAND, MAX_BLOCKS_PER_COMMAND) * BLOCK,
      revision: scsi.ataString(d, 23, 4),
      notes,
    };
  }

  plan(caps: FirmwareCapabilities, imageBytes: number, options: DownloadFirmwareOptions): FirmwarePlan {
    const bufferId = checkBufferId(options.bufferId);
    if (bufferId !== 0)
      throw badInput('ATA DOWNLOAD MICROCODE has no buffer id: drop --buffer-id', { reason: 'bad-buffer-id' });
    // Explicit 0x0e is allowed though IDENTIFY cannot report it (see probe()).
    const asked = options.mode === 0x0e ? { ...caps, modes: [...(caps.modes ?? []), 0x0e, 0x0f] } : caps;
    const { mode, reason } = chooseMode(asked, imageBytes, options);
    if (mode === 0x0d)
      throw new UsbScsiError(ErrorCodes.UNSUPPORTED, 'mode 0x0d has no ATA counterpart: use 0xe', {
        details: { reason: 'mode-unsupported', mode },
      });
    if (imageBytes % BLOCK !== 0) {
      throw badInput(
        `the image (${imageBytes} bytes) is not a whole number of 512-byte blocks, and ATA ` +
          `DOWNLOAD MICROCODE moves only whole blocks: check the image (padding it is for its vendor to say)`,
        {
          reason: 'image-not-blocks',
          imageBytes,
        },
      );
    }
    const whole = mode === 0x05;
    const { chunkSize, chunks } = chunkImage(imageBytes, options.offset ?? 0, whole ? imageBytes : options.chunkSize, {
      alignment: BLOCK,
      minChunk: whole ? BLOCK : (caps.minSegment ?? BLOCK),
      maxChunk: whole ? MAX_WHOLE_BLOCKS * BLOCK : (caps.maxSegment ?? MAX_BLOCKS_PER_COMMAND * BLOCK),
      limit: whole ? MAX_WHOLE_BLOCKS * BLOCK : (caps.bufferCapacity ?? MAX_OFFSET_BLOCKS * BLOCK),
      limitName: whole ? 'DOWNLOAD MICROCODE block count (65535 blocks)' : 'DOWNLOAD MICROCODE offset range',
    });
    if (whole && (options.offset ?? 0) !== 0)
      throw badInput('mode 0x05 (DOWNLOAD MICROCODE 07h) takes no offset: drop --offset', {
        reason: 'misaligned-offset',
      });
    // The last segment may be shorter than the minimum only where the drive says so; a shorter
    // segment is a whole image's tail, which ACS-4 allows (the minimum applies to all but the last).
    return {
      target: 'ata',
      mode,
      modeName:
        `${MODE_NAMES[mode]!} — ATA DOWNLOAD MICROCODE${options.ataDma ? ' DMA' : ''} ` +
        `subcommand ${hex0x(ATA_SUBCOMMAND[mode]!)}`,
      reason,
      bufferId: 0,
      imageBytes,
      chunkSize,
      chunks,
      activation: activationOf(mode, options.activate === true),
      ...(options.ataDma ? { dma: true } : {}),
    };
  }

  async sendChunk(plan: FirmwarePlan, chunk: FirmwareChunk, bytes: Uint8Array): Promise<void> {
    const cdb = downloadMicrocodeCdb({
      subcommand: ATA_SUBCOMMAND[plan.mode]!,
      blocks: bytes.length / BLOCK,
      offsetBlocks: chunk.offset / BLOCK,
      dma: plan.dma === true,
    });
    const r = await this.device.execute(cdb, { data: bytes, allowMediumWrite: true, timeoutMs: this.timeoutMs });
    const failure = ataFailure(r);
    if (failure !== undefined) throw chunkRefused(plan, chunk, r, failure);
  }

  async activate(plan: FirmwarePlan): Promise<void> {
    const r = await this.device.execute(
      downloadMicrocodeCdb({ subcommand: 0x0f, blocks: 0, offsetBlocks: 0, dma: plan.dma === true }),
      { allowMediumWrite: true, timeoutMs: this.timeoutMs },
    );
    const failure = ataFailure(r);
    if (failure !== undefined) throw activateRefused(plan, r, failure);
  }

  async revision(device: ScsiDevice): Promise<string> {
    return (await device.ataIdentify()).firmware;
  }
}

/**
 * Undefined when the drive accepted the command; else what went wrong. CK_COND makes success a CHECK CONDITION
 * (RECOVERED ERROR 00/1D) carrying the registers.
 */
export function ataFailure(r: ScsiResult): string | undefined {
  if (r.status === ScsiStatus.GOOD) return undefined;
  const regs = r.sense?.ataStatusReturn;
  if (r.status === ScsiStatus.CHECK_CONDITION && regs) {
    if ((regs.status & 0x01) === 0 && (regs.status & 0x08) === 0) return undefined;
    return (
      `the drive aborted DOWNLOAD MICROCODE (ATA status 0x${regs.status.toString(16)}, ` +
      `error 0x${regs.error.toString(16)}, count 0x${regs.count.toString(16)})`
    );
  }
  return undefined === r.sense
    ? `SCSI status 0x${r.status.toString(16)}`
    : `${r.sense.senseKeyName}: ${r.sense.ascText}`;
}
