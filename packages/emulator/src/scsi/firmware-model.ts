/**
 * The simulated device's firmware: what WRITE BUFFER's download modes (SPC-5 §6.49) and ATA
 * DOWNLOAD MICROCODE (ACS-4 §7.7) do to it. The running image changes only when a whole image
 * (header length reached, checksum good) is activated: a refused segment, a lost connection or a
 * bad image leaves the old firmware running, never half of the new one.
 */
import { CheckCondition } from './check-condition.js';
import { isWholeSimFirmware, parseSimFirmwareHeader } from './firmware-image.js';
import { Sense, SenseKey, type SenseSpec } from './sense.js';

export interface FirmwareModelOptions {
  /**
   * WRITE BUFFER download modes the device implements (and REPORT SUPPORTED OPERATION CODES lists). Default 05h, 07h,
   * 0Dh, 0Eh, 0Fh.
   */
  modes?: number[];
  /** READ BUFFER descriptor OFFSET BOUNDARY: segments start at multiples of 2^n bytes. Default 9 (512). */
  offsetBoundary?: number;
  /** Download buffer capacity in bytes (READ BUFFER descriptor). Default 1 MiB. */
  capacity?: number;
  /** DOWNLOAD MICROCODE segment limits in 512-byte blocks (IDENTIFY words 234/235). Default 1 and 128. */
  ataMinBlocks?: number;
  ataMaxBlocks?: number;
  /**
   * After activation: a unit attention 3F/01 only, or also drop off the bus and come back (re-enumerate). Default
   * 'unit-attention'.
   */
  activation?: 'unit-attention' | 'reenumerate';
  /** How long activation takes: NOT READY 04/01 (or off the bus) for this long. Default 200 ms. */
  activationMs?: number;
  /** Fault: refuse the Nth segment of a download (1-based); see {@link FirmwareModel.refuseSegment}. */
  refuseSegment?: number;
}

export const DEFAULT_FIRMWARE_MODES: readonly number[] = [0x05, 0x07, 0x0d, 0x0e, 0x0f];

/** SPC-5 ASC 3Fh/01h MICROCODE HAS BEEN CHANGED, a unit attention after activation. */
export const microcodeChanged = (): SenseSpec => ({ key: SenseKey.UNIT_ATTENTION, asc: 0x3f, ascq: 0x01 });

/** What the model asks of the device around it. */
export interface FirmwareModelHost {
  /** The image's revisions are now running. */
  setRevisions(revision: string, ataRevision: string): void;
  /** Raise a unit attention on every LUN. */
  raiseUnitAttention(sense: SenseSpec): void;
  /** Drop off the bus now and come back after `ms` (re-enumeration). Absent: only the unit attention. */
  reenumerate?(ms: number): void;
}

/** ATA DOWNLOAD MICROCODE completion COUNT values (ACS-4 §7.7.4 table). */
export const AtaMicrocodeStatus = {
  NO_INDICATION: 0x00,
  MORE_EXPECTED: 0x01,
  APPLIED: 0x02,
  SAVED_DEFERRED: 0x03,
} as const;

type Outcome = 'segment' | 'activated' | 'deferred';

export class FirmwareModel {
  readonly modes: ReadonlySet<number>;
  readonly offsetBoundary: number;
  readonly capacity: number;
  readonly ataMinBlocks: number;
  readonly ataMaxBlocks: number;
  activation: 'unit-attention' | 'reenumerate';
  activationMs: number;
  /**
   * Fault: the Nth segment of the current download is refused (HARDWARE ERROR 44/00, the segment is dropped and so is
   * the download).
   */
  refuseSegment: number | undefined;
  /** Images activated so far (tests read the revisions). */
  readonly activated: string[] = [];
  private staging: Uint8Array = new Uint8Array(0);
  private staged = 0;
  private segments = 0;
  private deferred: Uint8Array | null = null;
  private notReadyUntil = 0;

  constructor(
    private readonly host: FirmwareModelHost,
    options: FirmwareModelOptions = {},
  ) {
    this.modes = new Set(options.modes ?? DEFAULT_FIRMWARE_MODES);
    this.offsetBoundary = options.offsetBoundary ?? 9;
    this.capacity = options.capacity ?? 1024 * 1024;
    this.ataMinBlocks = options.ataMinBlocks ?? 1;
    this.ataMaxBlocks = options.ataMaxBlocks ?? 128;
    this.activation = options.activation ?? 'unit-attention';
    this.activationMs = options.activationMs ?? 200;
    this.refuseSegment = options.refuseSegment;
  }

  /** Bytes of the current (not yet complete) segmented download; 0 when none is under way. */
  get pendingBytes(): number {
    return this.staged;
  }
  get hasDeferred(): boolean {
    return this.deferred !== null;
  }

  /** True while the device is activating new microcode (commands get NOT READY 04/01). */
  activating(now = Date.now()): boolean {
    return now < this.notReadyUntil;
  }

  /** WRITE BUFFER with a download mode; throws CheckCondition on refusal. */
  writeBuffer(mode: number, modeSpecific: number, offset: number, data: Uint8Array): void {
    if (!this.modes.has(mode)) throw new CheckCondition(Sense.invalidFieldInCdb());
    switch (mode) {
      case 0x04:
      case 0x05:
        if (offset !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
        this.whole(data);
        return;
      case 0x06:
      case 0x07:
        this.segment(offset, data, 'now');
        return;
      case 0x0d:
        // MODE SPECIFIC selects the activation events (PO_ACT, HR_ACT, VSE_ACT); 0 means none, which SPC-5 leaves the
        // device to refuse.
        if ((modeSpecific & 0x06) === 0) throw new CheckCondition(Sense.invalidFieldInCdb());
        this.segment(offset, data, 'defer');
        return;
      case 0x0e:
        this.segment(offset, data, 'defer');
        return;
      case 0x0f:
        if (offset !== 0 || data.length !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
        this.activateDeferred();
        return;
      default:
        throw new CheckCondition(Sense.invalidFieldInCdb());
    }
  }

  /**
   * ATA DOWNLOAD MICROCODE (92h / 93h), ACS-4 §7.7: `subcommand` in FEATURE, `blocks` and
   * `blockOffset` in 512-byte units. Returns the COUNT the device reports; throws CheckCondition
   * (the SAT layer reports ABORT) on refusal.
   */
  ataDownload(subcommand: number, blocks: number, blockOffset: number, data: Uint8Array): number {
    const mode = { 0x07: 0x05, 0x03: 0x07, 0x0e: 0x0e, 0x0f: 0x0f }[subcommand];
    if (mode === undefined || !this.modes.has(mode)) throw new CheckCondition(Sense.invalidFieldInCdb());
    if (subcommand === 0x0f) {
      this.activateDeferred();
      return AtaMicrocodeStatus.APPLIED;
    }
    if (data.length !== blocks * 512) throw new CheckCondition(Sense.invalidFieldInCdb());
    if (subcommand !== 0x07 && (blocks < this.ataMinBlocks || blocks > this.ataMaxBlocks))
      throw new CheckCondition(Sense.invalidFieldInCdb());
    if (subcommand === 0x07) {
      this.whole(data);
      return AtaMicrocodeStatus.APPLIED;
    }
    const outcome = this.segment(blockOffset * 512, data, subcommand === 0x03 ? 'now' : 'defer');
    return outcome === 'segment'
      ? AtaMicrocodeStatus.MORE_EXPECTED
      : outcome === 'activated'
        ? AtaMicrocodeStatus.APPLIED
        : AtaMicrocodeStatus.SAVED_DEFERRED;
  }

  /** Power cycle or re-plug: a download under way is lost; a saved deferred image activates (SPC-5 mode 0Eh). */
  powerOn(): void {
    this.dropStaging();
    if (this.deferred) {
      const image = this.deferred;
      this.deferred = null;
      this.run(image);
    }
  }

  private whole(data: Uint8Array): void {
    if (data.length > this.capacity) throw new CheckCondition(Sense.invalidFieldInCdb());
    this.dropStaging();
    this.countSegment();
    if (!isWholeSimFirmware(data)) throw new CheckCondition(Sense.invalidFieldInParameterList());
    this.activate(data.slice(0, parseSimFirmwareHeader(data)!.totalLength));
  }

  private segment(offset: number, data: Uint8Array, when: 'now' | 'defer'): Outcome {
    if (offset % 2 ** this.offsetBoundary !== 0 || offset + data.length > this.capacity)
      throw new CheckCondition(Sense.invalidFieldInCdb());
    if (offset === 0) this.dropStaging();
    // Segments arrive in order: a gap or a rewind means the host lost its place.
    if (offset !== this.staged) {
      this.dropStaging();
      throw new CheckCondition(Sense.invalidFieldInCdb());
    }
    this.countSegment();
    if (this.staging.length < offset + data.length) {
      const grown = new Uint8Array(Math.min(this.capacity, Math.max(offset + data.length, this.staging.length * 2)));
      grown.set(this.staging.subarray(0, this.staged));
      this.staging = grown;
    }
    this.staging.set(data, offset);
    this.staged = offset + data.length;
    const header = parseSimFirmwareHeader(this.staging.subarray(0, this.staged));
    if (!header || this.staged < header.totalLength) return 'segment';
    const image = this.staging.slice(0, header.totalLength);
    this.dropStaging();
    if (!isWholeSimFirmware(image)) throw new CheckCondition(Sense.invalidFieldInParameterList());
    if (when === 'defer') {
      this.deferred = image;
      return 'deferred';
    }
    this.activate(image);
    return 'activated';
  }

  private countSegment(): void {
    this.segments++;
    if (this.refuseSegment !== undefined && this.segments === this.refuseSegment) {
      this.refuseSegment = undefined;
      this.dropStaging();
      throw new CheckCondition(Sense.internalTargetFailure());
    }
  }

  private activateDeferred(): void {
    // SPC-5: ACTIVATE DEFERRED MICROCODE with nothing deferred is a command sequence error (2C/00).
    if (!this.deferred) throw new CheckCondition({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x2c, ascq: 0x00 });
    const image = this.deferred;
    this.deferred = null;
    this.activate(image);
  }

  private activate(image: Uint8Array): void {
    this.run(image);
    this.notReadyUntil = Date.now() + this.activationMs;
    if (this.activation === 'reenumerate' && this.host.reenumerate) this.host.reenumerate(this.activationMs);
  }

  private run(image: Uint8Array): void {
    const header = parseSimFirmwareHeader(image)!;
    this.host.setRevisions(header.revision, header.ataRevision);
    this.host.raiseUnitAttention(microcodeChanged());
    this.activated.push(header.revision);
  }

  private dropStaging(): void {
    this.staging = new Uint8Array(0);
    this.staged = 0;
    this.segments = 0;
  }
}
