import { badInput } from '@usbscsi/core/errors';
import type { SenseSpec } from './sense.js';
import { FileBlockStore, RamBlockStore, type BlockStore } from './store.js';

export interface LunOptions {
  /** Bytes per logical block (default 512). */
  blockSize?: number;
  /** Logical blocks (default: 16 MiB worth). */
  blockCount?: number | bigint;
  /** Back the LBAs with this file (positioned I/O) instead of RAM. */
  file?: string;
  /** Bring your own store (overrides blockSize/blockCount/file). */
  store?: BlockStore;
  readOnly?: boolean;
  /** INQUIRY RMB bit; START STOP UNIT LoEj is honoured only when removable. Default false. */
  removable?: boolean;
  /** Default true. */
  mediumPresent?: boolean;
  /** Caching page WCE bit. Default true. */
  writeCacheEnabled?: boolean;
}

const DEFAULT_BYTES = 16 * 1024 * 1024;

/** One logical unit: its LBAs and the state SCSI keeps per LUN (sense, unit attention, readiness). */
export class LogicalUnit {
  private medium: BlockStore;
  readonly removable: boolean;
  mediumPresent: boolean;
  /** Cleared by START STOP UNIT with START=0; media access then reports NOT READY 04/02. */
  started = true;
  preventRemoval = false;
  writeCacheEnabled: boolean;
  /** Sense of the last CHECK CONDITION, held until REQUEST SENSE. */
  pendingSense: SenseSpec | null = null;
  /** A unit attention condition, reported (and cleared) by the next command that is not INQUIRY / REPORT LUNS. */
  unitAttention: SenseSpec | null = null;
  /** Commands that get NOT READY 04/01 (becoming ready) before the unit turns ready. */
  becomingReadyFor = 0;
  /** Bytes last given to WRITE BUFFER data mode, per buffer id. */
  readonly buffers = new Map<number, Uint8Array>();

  constructor(
    readonly index: number,
    options: LunOptions = {},
  ) {
    const blockSize = options.blockSize ?? 512;
    if (options.store) this.medium = options.store;
    else if (options.file) {
      this.medium = new FileBlockStore(options.file, {
        blockSize,
        ...(options.blockCount === undefined ? {} : { blockCount: toBlocks(options.blockCount) }),
        ...(options.readOnly === undefined ? {} : { readOnly: options.readOnly }),
      });
    } else {
      const blocks =
        options.blockCount === undefined ? BigInt(Math.floor(DEFAULT_BYTES / blockSize)) : toBlocks(options.blockCount);
      this.medium = new RamBlockStore(blockSize, blocks, { readOnly: options.readOnly ?? false });
    }
    this.removable = options.removable ?? false;
    this.mediumPresent = options.mediumPresent ?? true;
    this.writeCacheEnabled = options.writeCacheEnabled ?? true;
  }

  /** The medium's blocks (another one after insertMedium(store)). */
  get store(): BlockStore {
    return this.medium;
  }
  get blockSize(): number {
    return this.store.blockSize;
  }
  get blockCount(): bigint {
    return this.store.blockCount;
  }
  get readOnly(): boolean {
    return this.store.readOnly;
  }

  /** Simulates pulling the medium (NOT READY 3A/00 until inserted again). */
  removeMedium(): void {
    this.mediumPresent = false;
  }
  /** Inserts the medium again, or another one (`store`: its own block size and count). */
  insertMedium(store?: BlockStore): void {
    if (store) this.medium = store;
    this.mediumPresent = true;
    this.unitAttention = { key: 0x6, asc: 0x28, ascq: 0x00 }; // NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED
  }
}

function toBlocks(value: number | bigint): bigint {
  if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 1))
    throw badInput(`block count ${value} must be a positive integer`);
  return BigInt(value);
}
