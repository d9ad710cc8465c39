import type { DecodedSense } from './scsi/sense-types.js';
import type { TransferBuffer } from './usb/backend.js';

export type DataDirection = 'none' | 'in' | 'out';

/** SCSI status byte values (SAM-5). */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

export interface ScsiRequest {
  /** 6, 10, 12 or 16 bytes (BOT carries 1..16). */
  cdb: Uint8Array;
  direction: DataDirection;
  /**
   * `in`: the buffer to fill; its length is the transfer length asked for.
   * `out`: the bytes to send. `none`: absent.
   */
  data?: Uint8Array;
  /**
   * Instead of `data`: the data phase streams straight to (`in`) or from (`out`) a
   * regular file at `position`, with no JavaScript per chunk. Only transports whose
   * `fdStreaming` is true accept it.
   */
  dataFd?: { fd: number; position: number; length: number };
  /** Default 0. */
  lun?: number;
  /** Default 20 000 ms (sg_raw's default). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Issue REQUEST SENSE after a failed command when the transport did not return sense. Default true. */
  autoSense?: boolean;
}

/** Commands for {@link ScsiTransport.executeJob}: their data phases follow one another in `data` (or the file). */
export interface ScsiJob {
  /** Each command's CDB and data length (>= 1 byte). */
  commands: { cdb: Uint8Array; length: number }[];
  direction: 'in' | 'out';
  /** The data of every command, back to back: exactly the sum of the lengths. */
  data?: Uint8Array;
  /** Instead of `data` (`fdStreaming` transports): a regular file from `position` on. */
  dataFd?: { fd: number; position: number };
  lun?: number;
  /** Each command's budget (default 20 000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ScsiJobResult {
  /** Commands that completed GOOD with every byte moved and no residue. */
  done: number;
  /** When the job stopped early: the result of command `done` (what `execute` returns for it). */
  result?: ScsiResult;
}

/**
 * The one result shape of every transport. A CHECK CONDITION is a *result*
 * (status 0x02 + sense), not a transport failure: transports resolve it; the
 * device API decides whether to throw.
 */
export interface ScsiResult {
  status: number;
  sense?: DecodedSense;
  /** `in`: the received bytes (a view of the request buffer, `transferred` long); otherwise empty. */
  data: Uint8Array;
  transferred: number;
  /** Bytes asked for minus bytes processed, as the device reported it (BOT dCSWDataResidue) or the OS computed it. */
  residue: number;
  durationNs: number;
}

/** Sends one SCSI command and returns its result. BOT, UAS, SG_IO and the daemon client implement it. */
export interface ScsiTransport {
  readonly kind: 'bot' | 'uas' | 'sg' | 'remote';
  /** Commands `execute` runs at once (UAS: by tag); absent = 1, commands serialised. */
  readonly queueDepth?: number;
  /** Highest LUN (0 for single-LUN devices). */
  readonly maxLun: number;
  /**
   * Largest data phase one command may carry, when the transport has such a limit (SG_IO: the
   * kernel queue's). `ScsiDevice` splits reads and writes to it; a raw command over it is refused.
   */
  readonly maxTransferBytes?: number | undefined;
  /** Accepts `ScsiRequest.dataFd` (the native engine's file streaming). */
  readonly fdStreaming?: boolean;
  /** Pinned data-phase memory from the backend, or null (see `UsbDeviceHandle.allocTransferBuffer`). */
  allocateBuffer?(bytes: number): TransferBuffer | null;
  /**
   * Moves whole READ/WRITE ranges itself, when the commands run elsewhere (the daemon client: one
   * streamed request per range instead of one round trip per command). ScsiDevice uses it for
   * read, readInto, readToFd, write and writeFromFd after its own checks (consent, mounts, range).
   */
  readonly blockRanges?: BlockRangeMover;
  execute(request: ScsiRequest): Promise<ScsiResult>;
  /**
   * Optional: a run of commands that move data the same way, one after the other, with no
   * JavaScript between them where the backend can (BOT on the native engine). Resolves with how
   * many completed GOOD with every byte moved; the first one that did not is returned as
   * `execute` would have returned it (after auto-sense), or its error thrown as `execute` would
   * have (after reset recovery). Commands after it are not sent.
   */
  executeJob?(job: ScsiJob): Promise<ScsiJobResult>;
  /** Transport-level reset (BOT reset recovery; SG_IO device reset). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 20_000;

export interface BlockRangeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** See {@link ScsiTransport.blockRanges}. Either call moves every byte of the range or throws. */
export interface BlockRangeMover {
  /** `sink` gets the range's bytes in order; each chunk is valid during the call only. */
  readBlocks(
    lba: bigint,
    blocks: number,
    blockSize: number,
    sink: (chunk: Uint8Array) => void,
    options: BlockRangeOptions,
  ): Promise<void>;
  /**
   * Optional: the range's bytes straight into `buffer` (blocks x blockSize long), without a copy
   * per chunk; `onBytes` gets the bytes received so far.
   */
  readBlocksInto?(
    lba: bigint,
    blocks: number,
    blockSize: number,
    buffer: Uint8Array,
    options: BlockRangeOptions,
    onBytes?: (received: number) => void,
  ): Promise<void>;
  /**
   * Optional: the range straight between the device and the regular file `fd`, from byte
   * `position` of the file (the daemon client hands the file itself to usbscsid). Resolves with
   * the bytes moved, or null, having moved nothing, where it cannot: then the caller streams.
   * `onBytes` gets the bytes moved so far (after each request of the range).
   */
  transferFile?(
    kind: 'read' | 'write',
    lba: bigint,
    blocks: number,
    blockSize: number,
    fd: number,
    position: number,
    options: BlockRangeOptions,
    onBytes?: (moved: number) => void,
  ): Promise<number | null>;
  /** `source` yields exactly blocks x blockSize bytes; a chunk may be reused once the next is asked for. */
  writeBlocks(
    lba: bigint,
    blocks: number,
    blockSize: number,
    source: AsyncIterable<Uint8Array>,
    options: BlockRangeOptions,
  ): Promise<void>;
  /**
   * Optional: the range from `buffer` (blocks x blockSize long), whole, so that memory the
   * transport gave out (allocateBuffer) can be moved in place; `onBytes` gets the bytes sent so far.
   */
  writeBlocksFrom?(
    lba: bigint,
    blocks: number,
    blockSize: number,
    buffer: Uint8Array,
    options: BlockRangeOptions,
    onBytes?: (sent: number) => void,
  ): Promise<void>;
}
