/**
 * Firmware download: the vocabulary shared by the planner, the targets (SCSI WRITE BUFFER, ATA
 * DOWNLOAD MICROCODE through SAT; NVMe Firmware Image Download/Commit behind a bridge later) and
 * the front ends. Modes are named by their SPC-5 WRITE BUFFER numbers everywhere; a target that
 * speaks another command set translates them (ATA: SAT-4's WRITE BUFFER translation).
 */
import type { ScsiDevice } from '../device.js';

/** SPC-5 table 236, the download modes this library drives. */
export const FirmwareMode = {
  /** 05h: the whole image in one command; saved and activated when it completes. */
  WHOLE_SAVE_ACTIVATE: 0x05,
  /** 07h: segments with offsets; saved and activated after the last segment. */
  SEGMENTED_SAVE_ACTIVATE: 0x07,
  /** 0Dh: segments with offsets, saved, activation deferred to the events selected (power on, hard reset) or 0Fh. */
  SEGMENTED_SELECT_ACTIVATION_DEFER: 0x0d,
  /** 0Eh: segments with offsets, saved, activation deferred to 0Fh, power on or hard reset. */
  SEGMENTED_SAVE_DEFER: 0x0e,
  /** 0Fh: activate deferred microcode (no data). */
  ACTIVATE_DEFERRED: 0x0f,
} as const;

export type DownloadMode = 0x05 | 0x07 | 0x0d | 0x0e;
export const DOWNLOAD_MODES: readonly DownloadMode[] = [0x05, 0x07, 0x0d, 0x0e];

export const MODE_NAMES: Readonly<Record<number, string>> = {
  0x05: 'download microcode, save and activate',
  0x07: 'download microcode with offsets, save and activate',
  0x0d: 'download microcode with offsets, select activation events, save and defer activation',
  0x0e: 'download microcode with offsets, save and defer activation',
  0x0f: 'activate deferred microcode',
};

export type FirmwareTargetKind = 'scsi' | 'ata';

/** What the device says about downloading firmware (nothing here changes it). */
export interface FirmwareCapabilities {
  target: FirmwareTargetKind;
  /** Download modes the device reports as supported (WRITE BUFFER numbering); undefined when it cannot say. */
  modes: number[] | undefined;
  /** Where `modes` came from. */
  modesSource: 'report-supported-operation-codes' | 'identify' | 'not-reported';
  /** Segments start at multiples of this many bytes; 0 when only offset 0 is allowed; undefined when not reported. */
  offsetBoundary: number | undefined;
  /** Bytes the download buffer holds; undefined when not reported. */
  bufferCapacity: number | undefined;
  /** Segment size limits in bytes (ATA IDENTIFY words 234/235). */
  minSegment?: number;
  maxSegment?: number;
  /** Current firmware revision (INQUIRY PRODUCT REVISION LEVEL, or IDENTIFY words 23-26). */
  revision: string;
  /** Facts worth telling the user (e.g. "REPORT SUPPORTED OPERATION CODES is not supported"). */
  notes: string[];
}

export interface FirmwareChunk {
  index: number;
  /** Buffer offset in bytes (sent as-is for SCSI; in 512-byte units for ATA). */
  offset: number;
  /** Where in the image the chunk's bytes start. */
  imageOffset: number;
  length: number;
}

/**
 * What a download will send; `downloadFirmware({ dryRun: true })` returns it and sends nothing that changes the device.
 */
export interface FirmwarePlan {
  target: FirmwareTargetKind;
  mode: DownloadMode;
  modeName: string;
  /** Why this mode (auto) or "asked for". */
  reason: string;
  bufferId: number;
  imageBytes: number;
  chunkSize: number;
  chunks: FirmwareChunk[];
  /**
   * `with-last-chunk` (05h/07h), `activate-command` (0Eh/0Dh then 0Fh), or `deferred` (0Eh/0Dh, nothing activates now).
   */
  activation: 'with-last-chunk' | 'activate-command' | 'deferred';
  /** ATA only: DOWNLOAD MICROCODE DMA (93h) instead of PIO (92h). */
  dma?: boolean;
}

export interface FirmwareProgress {
  phase: 'download' | 'activate' | 'wait';
  /** Chunks accepted so far, of `chunks`. */
  chunk: number;
  chunks: number;
  bytes: number;
  totalBytes: number;
  /** Offset of the chunk just accepted. */
  offset?: number;
  elapsedMs: number;
}

export interface DownloadFirmwareOptions {
  /** A download mode (05h, 07h, 0Dh, 0Eh) or 'auto' (default): chosen from what the device reports. */
  mode?: 'auto' | number;
  /**
   * Bytes per segment (segmented modes); a multiple of the offset boundary. Default: 64 KiB within the device's limits.
   */
  chunkSize?: number;
  /** WRITE BUFFER BUFFER ID (default 0). */
  bufferId?: number;
  /** Buffer offset of the first segment (default 0); a multiple of the offset boundary. */
  offset?: number;
  /** Activate the new firmware now (0Eh/0Dh followed by 0Fh). Modes 05h/07h always activate. Default false. */
  activate?: boolean;
  /** 'auto' (default): WRITE BUFFER when the device reports it, else ATA DOWNLOAD MICROCODE behind a SAT bridge. */
  target?: 'auto' | FirmwareTargetKind;
  /** ATA: DOWNLOAD MICROCODE DMA (93h) instead of PIO (92h). */
  ataDma?: boolean;
  /** Explicit consent: new firmware changes the device. */
  allowMediumWrite: boolean;
  /** Work out the plan and return it; no download command is sent (only the read-only queries of `firmwareInfo`). */
  dryRun?: boolean;
  onProgress?: (progress: FirmwareProgress) => void;
  /** Stops between chunks, never inside one. */
  signal?: AbortSignal;
  /** Per command (default 60 s: devices may write flash before they answer). */
  timeoutMs?: number;
  /** How long to wait for the device to come back after activation (default 60 s). */
  activationTimeoutMs?: number;
  /**
   * Finds the device again after it re-enumerated (the old handle is dead). Called until it
   * resolves or the activation timeout passes; `downloadFirmware` closes what it returns.
   */
  reopen?: () => Promise<ScsiDevice>;
}

export interface FirmwareReport {
  plan: FirmwarePlan;
  chunksSent: number;
  bytesSent: number;
  revisionBefore: string;
  /** Read after the device came back (activation), else undefined. */
  revisionAfter?: string;
  /**
   * `activated`; `deferred` (saved; runs after 0Fh, a power cycle or a hard reset); `planned` (dry run: nothing sent).
   */
  state: 'activated' | 'deferred' | 'planned';
  /** How the device showed it came back: UNIT ATTENTION 3F/01, a reset (29/xx), a re-enumeration, or simply ready. */
  cameBack?: 'microcode-changed' | 'reset' | 're-enumerated' | 'ready';
  activationMs?: number;
  durationMs: number;
}

/** One way to put firmware on a device; SCSI WRITE BUFFER and ATA DOWNLOAD MICROCODE implement it (NVMe later). */
export interface FirmwareTarget {
  readonly kind: FirmwareTargetKind;
  /** Reads what the device reports; sends only read-only commands. */
  probe(): Promise<FirmwareCapabilities>;
  /** The plan for `imageBytes` under `options`; throws E_BAD_INPUT / E_UNSUPPORTED with what to do. */
  plan(caps: FirmwareCapabilities, imageBytes: number, options: DownloadFirmwareOptions): FirmwarePlan;
  /** Sends one chunk; throws a typed error naming the offset when the device refuses it. */
  sendChunk(plan: FirmwarePlan, chunk: FirmwareChunk, bytes: Uint8Array, last: boolean): Promise<void>;
  /** Activates deferred microcode (0Fh). */
  activate(plan: FirmwarePlan): Promise<void>;
  /** The running firmware revision of `device` (this one, or the one found again after re-enumeration). */
  revision(device: ScsiDevice): Promise<string>;
}
