// Bridges and firmware load when a device first uses them: opening a device for INQUIRY or a
// read should not parse the NVMe and firmware code (CLI start-up).
import type { BridgeChoice, BridgeHost, HealthReport, NvmeDevice } from './bridges/index.js';
import { ErrorCodes, UsbScsiError, badInput } from './errors.js';
import type { FirmwareInfoOptions } from './firmware/download.js';
import type { DownloadFirmwareOptions, FirmwareCapabilities, FirmwareReport } from './firmware/types.js';
import * as scsi from './scsi/index.js';
import type { DecodedSense } from './scsi/sense-types.js';
import {
  DEFAULT_TIMEOUT_MS,
  ScsiStatus,
  type DataDirection,
  type ScsiJob,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransport,
} from './transport.js';
import type { MediumWriteClaim, MountInfo, TransferBuffer, UsbDeviceInfo } from './usb/backend.js';
import { hex } from './hex.js';
import type { DaemonDeviceIdentity } from './wire/types.js';
import { LENGTH_MISMATCH } from './wire/blocks.js';

/** A command that completed with CHECK CONDITION (or another non-GOOD status), raised by the typed helpers. */
export class CheckConditionError extends UsbScsiError {
  constructor(
    readonly result: ScsiResult,
    readonly sense: DecodedSense | undefined,
    cdb: Uint8Array,
  ) {
    const what = sense
      ? `${sense.senseKeyName}: ${sense.ascText} (sense ${hex(sense.senseKey)}/${hex(sense.asc)}/${hex(sense.ascq)})`
      : `SCSI status 0x${hex(result.status)} without sense data`;
    super(ErrorCodes.CHECK_CONDITION, `${scsi.opcodeName(cdb)} failed: ${what}`, {
      details: {
        status: result.status,
        ...(sense
          ? {
              senseKey: sense.senseKey,
              senseKeyName: sense.senseKeyName,
              asc: sense.asc,
              ascq: sense.ascq,
              ascText: sense.ascText,
            }
          : {}),
      },
    });
    this.name = 'CheckConditionError';
  }
}

/**
 * A UNIT ATTENTION saying the medium, or the capacity READ CAPACITY reports, may be another now:
 * 28/xx (not ready to ready: medium may have changed) or 2A/09 (capacity data has changed).
 */
function mediumMayHaveChanged(sense: DecodedSense | undefined): boolean {
  return sense?.senseKey === 0x06 && (sense.asc === 0x28 || (sense.asc === 0x2a && sense.ascq === 0x09));
}

/** WRITE(6), (10), (12), (16): they change blocks, not the capacity. */
const BLOCK_WRITE_OPCODES = new Set([0x0a, 0x2a, 0xaa, 0x8a]);

/**
 * A block transfer that met a medium change stops there, as Linux's sd does for removable media:
 * the rest would go to or come from another medium than the one the call began on (consent to
 * write was given for that one), and its block size may differ. The command did not run.
 */
function mediumChangedError(result: ScsiResult, cdb: Uint8Array, lba: bigint): CheckConditionError {
  const err = new CheckConditionError(result, result.sense, cdb);
  err.message +=
    `: the medium may have changed, so this transfer stopped at LBA ${lba} and sent nothing more; ` +
    'check the medium (usbscsi tur, readcap) and start the transfer again';
  err.details.mediumChanged = true;
  err.details.lba = lba.toString();
  return err;
}

export interface DeviceDescription {
  backend: string;
  transport: 'bot' | 'uas' | 'sg' | 'remote';
  lun: number;
  maxLun: number;
  usb?: UsbDeviceInfo;
  /** Block or sg node for the SG_IO transport. */
  path?: string;
  /** Through usbscsid: the device as the daemon lists it (its USB identity is the daemon's to read). */
  daemonDevice?: DaemonDeviceIdentity;
}

export interface ScsiDeviceOptions {
  lun?: number;
  description?: Partial<DeviceDescription>;
  /**
   * Largest data phase per command; reads and writes are split to fit. Default 1 MiB, and never above the transport's
   * own limit.
   */
  maxTransferBytes?: number;
  /** Mounted filesystems on the medium right now (medium writes are refused while any). */
  mounts?: () => Promise<MountInfo[]>;
  /**
   * Takes what a medium write goes ahead under, kept until the write call is over (SG_IO on
   * Linux: the disk's exclusive claim, so nothing is mounted mid-write). Given, it replaces
   * `mounts`.
   */
  claimMedium?: () => Promise<MediumWriteClaim>;
  /** Runs after the transport is closed (lease release). */
  onClose?: () => Promise<void>;
  /**
   * Timeout of every command sent without one of its own (default 20 s): a front end's
   * per-command timeout then reaches INQUIRY, SMART, NVMe and firmware queries alike. Given,
   * it also replaces the NVMe bridge layer's built-in per-phase timeouts (15 s), which would
   * otherwise win over it.
   */
  commandTimeoutMs?: number;
}

export interface ExecuteOptions {
  direction?: DataDirection;
  /** Stream the data phase to/from a regular file (transports with `fdStreaming` only). */
  dataFd?: { fd: number; position: number; length: number };
  /** Data-in length (allocates a buffer). */
  length?: number;
  /** Data-in buffer to fill, or data-out bytes. */
  data?: Uint8Array;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Explicit consent for a CDB that writes the medium or the firmware. */
  allowMediumWrite?: boolean;
}

export interface TransferProgressOptions {
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /**
   * Bytes per READ or WRITE command (a whole number of blocks); default and upper bound: the
   * device's `maxTransferBytes`.
   */
  commandBytes?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A range written piece by piece ({@link ScsiDevice.rangeWriter}). */
export interface RangeWriter {
  /** Writes the next piece (whole blocks) after the last one. */
  write(piece: Uint8Array): Promise<void>;
  /** Lets go of the medium's claim before the range is written to its end; a second call does nothing. */
  end(): void;
}

/** One read of {@link ScsiDevice.readBatch}: `blocks` logical blocks from `lba`. */
export interface BatchRead {
  lba: bigint | number;
  blocks: number;
}

export interface ReadBatchOptions {
  /**
   * Reads in flight at once (1 to 256). Default and upper bound: the transport's queue depth
   * (UAS: by tag; BOT and SG_IO run one command at a time, so their batches are serialised).
   */
  queueDepth?: number;
  signal?: AbortSignal;
  /** Each command's budget. */
  timeoutMs?: number;
}

/** What TEST UNIT READY saw besides GOOD: the UNIT ATTENTION reported (and cleared) first, if any. */
export interface TestUnitReadyReport {
  unitAttention?: DecodedSense;
}

/** READ CAPACITY result: (10), or (16) with its extra fields when the device needed it. */
export type DeviceCapacity = scsi.Capacity10 | scsi.Capacity16;

const MAX_DATA_LENGTH = 0xffff_ffff;

/**
 * The high-level device API: typed SCSI helpers over any {@link ScsiTransport}
 * (BOT, SG_IO, or the daemon). `execute` is the raw path and returns CHECK
 * CONDITION as a result; the typed helpers throw {@link CheckConditionError}.
 */
export class ScsiDevice {
  readonly description: DeviceDescription;
  private readonly lun: number;
  private readonly maxTransferBytes: number;
  private readonly commandTimeoutMs: number;
  private readonly bridgeTimeoutMs: number | undefined;
  /**
   * The last READ CAPACITY's answer, until a command reports that the medium or its capacity may
   * have changed, or a command that may change the medium other than by writing blocks is sent.
   */
  private capacityCache: DeviceCapacity | undefined;
  private closed = false;
  /** The medium claim held for the write calls running now, shared by all of them. */
  private medium: { holders: number; claim: Promise<MediumWriteClaim>; taken?: MediumWriteClaim } | undefined;

  constructor(
    readonly transport: ScsiTransport,
    private readonly options: ScsiDeviceOptions = {},
  ) {
    this.lun = options.lun ?? 0;
    if (!Number.isInteger(this.lun) || this.lun < 0 || this.lun > transport.maxLun) {
      throw badInput(`LUN ${options.lun} does not exist: the device has LUNs 0..${transport.maxLun}`);
    }
    const own = transport.maxTransferBytes;
    this.maxTransferBytes = Math.min(
      options.maxTransferBytes ?? 1024 * 1024,
      own !== undefined && own > 0 ? own : Infinity,
    );
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.bridgeTimeoutMs = options.commandTimeoutMs;
    if (!Number.isSafeInteger(this.commandTimeoutMs) || this.commandTimeoutMs < 1) {
      throw badInput(`a command timeout is a positive whole number of milliseconds; got ${options.commandTimeoutMs}`);
    }
    this.description = {
      backend: 'unknown',
      transport: transport.kind,
      lun: this.lun,
      maxLun: transport.maxLun,
      ...options.description,
    };
  }

  /** Which transport carries the commands: `bot`, `uas`, `sg` or `remote` (the daemon). */
  get transportKind(): DeviceDescription['transport'] {
    return this.description.transport;
  }

  /**
   * Sends any CDB. Never throws for CHECK CONDITION: the result carries the
   * status and decoded sense. Throws `UsbScsiError` for transport failures
   * and bad input; refuses medium writes without `allowMediumWrite`.
   */
  execute(cdb: Uint8Array, options: ExecuteOptions = {}): Promise<ScsiResult> {
    return this.send(cdb, options, true);
  }

  /**
   * `checkMounts` is false only for the commands of one write()/writeFromFd(),
   * which checked once before the first block: probing the mount table per
   * command cost SG_IO writes 6-10x in the benchmark.
   */
  private async send(
    cdb: Uint8Array,
    options: ExecuteOptions,
    checkMounts: boolean,
    declared?: 'read' | 'write',
  ): Promise<ScsiResult> {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the device is closed; open it again');
    if (!(cdb instanceof Uint8Array) || cdb.length < 1 || cdb.length > 16) {
      throw badInput(
        `a CDB is 1 to 16 bytes (6, 10, 12 or 16 for standard commands); ` +
          `got ${cdb instanceof Uint8Array ? cdb.length : typeof cdb}`,
      );
    }
    const direction: DataDirection =
      options.direction ?? (options.length !== undefined ? 'in' : options.data ? 'out' : 'none');
    let data: Uint8Array | undefined;
    if (options.dataFd) {
      if (direction === 'none') throw badInput("direction 'none' takes no data");
    } else if (direction === 'in') {
      if (options.data) data = options.data;
      else {
        const length = options.length ?? 0;
        if (!Number.isInteger(length) || length < 0 || length > MAX_DATA_LENGTH) {
          throw badInput(
            `data-in length must be a whole number of bytes from 0 to ${MAX_DATA_LENGTH}; got ${options.length}`,
          );
        }
        data = new Uint8Array(length);
      }
    } else if (direction === 'out') {
      if (!options.data) throw badInput("direction 'out' needs the bytes to send");
      data = options.data;
    } else if (options.data && options.data.length > 0) {
      throw badInput("direction 'none' takes no data");
    }
    // Consent is an allowlist question: anything not known to leave the medium alone needs it,
    // vendor-specific opcodes included, whatever their data direction. `declared` is the bridge
    // layer's own statement for a vendor CDB it built from a classified NVMe admin command
    // (private: `execute()` cannot declare a CDB read-only).
    const needsConsent =
      declared === 'read'
        ? undefined
        : (scsi.mediumWriteReason(cdb) ??
          (declared === 'write'
            ? `${scsi.opcodeName(cdb)} carries an NVMe command that changes the drive`
            : undefined));
    let release: (() => void) | undefined;
    if (needsConsent !== undefined) {
      if (!options.allowMediumWrite) {
        throw badInput(
          `${needsConsent}: pass explicit consent (--yes on the command line, allowMediumWrite: true in the API)`,
        );
      }
      // The claim is kept until the command is over: nothing is mounted while it runs.
      if (checkMounts) release = await this.holdMedium(cdb);
    }
    try {
      // Field by field, not conditional spreads: this runs once per command.
      const hasData = data !== undefined && data.length > 0;
      const request: ScsiRequest = {
        cdb,
        direction: options.dataFd || hasData ? direction : 'none',
        lun: this.lun,
        timeoutMs: options.timeoutMs ?? this.commandTimeoutMs,
      };
      if (options.dataFd) request.dataFd = options.dataFd;
      else if (hasData) request.data = data;
      if (options.signal) request.signal = options.signal;
      // FORMAT UNIT, MODE SELECT, a vendor command: what may change the medium may change its size,
      // whether it comes back or not (a timeout), so the capacity is forgotten before it is sent.
      const mayResize = needsConsent !== undefined && !BLOCK_WRITE_OPCODES.has(cdb[0]!);
      if (mayResize) this.capacityCache = undefined;
      const result = await this.transport.execute(request);
      if (mayResize || mediumMayHaveChanged(result.sense)) this.capacityCache = undefined;
      return result;
    } finally {
      release?.();
    }
  }

  /**
   * Runs a CDB and throws {@link CheckConditionError} unless the status is GOOD. Retries once after a UNIT ATTENTION,
   * except a medium change met by a block transfer (`range`), which stops it (mediumChangedError).
   */
  private async run(
    cdb: Uint8Array,
    options: ExecuteOptions = {},
    checkMounts = true,
    range?: { lba: bigint },
  ): Promise<ScsiResult> {
    let result = await this.send(cdb, options, checkMounts);
    if (result.status === ScsiStatus.CHECK_CONDITION && result.sense?.senseKey === 0x06) {
      if (range && mediumMayHaveChanged(result.sense)) throw mediumChangedError(result, cdb, range.lba);
      // A reset or medium change is reported once; the command itself did not run.
      result = await this.send(cdb, options, checkMounts);
    }
    if (result.status !== ScsiStatus.GOOD && result.status !== ScsiStatus.CONDITION_MET) {
      throw new CheckConditionError(result, result.sense, cdb);
    }
    return result;
  }

  async inquiry(): Promise<scsi.StandardInquiry> {
    const result = await this.run(scsi.inquiryCdb({ allocationLength: 96 }), { length: 96 });
    return scsi.parseInquiry(result.data);
  }

  /** A parsed VPD page (0x00, 0x80, 0x83, 0xB0), or its bytes for other pages. */
  async vpd(page: number): Promise<scsi.VpdPage> {
    if (!Number.isInteger(page) || page < 0 || page > 0xff) throw badInput(`a VPD page is 0x00..0xFF; got ${page}`);
    const result = await this.run(scsi.inquiryCdb({ vpdPage: page, allocationLength: 0xfc }), { length: 0xfc });
    return scsi.parseVpdPage(result.data);
  }

  /**
   * TEST UNIT READY. A UNIT ATTENTION (a reset, a medium change) is reported once and the
   * command retried, as every typed helper does; the report carries it (`unitAttention`), and
   * a CheckConditionError from the retry has it in `details.unitAttention`.
   */
  async testUnitReady(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TestUnitReadyReport> {
    const cdb = scsi.testUnitReadyCdb();
    let result = await this.execute(cdb, options);
    let unitAttention: DecodedSense | undefined;
    if (result.status === ScsiStatus.CHECK_CONDITION && result.sense?.senseKey === 0x06) {
      unitAttention = result.sense;
      result = await this.execute(cdb, options);
    }
    if (result.status !== ScsiStatus.GOOD) {
      const err = new CheckConditionError(result, result.sense, cdb);
      if (unitAttention) {
        err.details.unitAttention = {
          senseKey: unitAttention.senseKey,
          asc: unitAttention.asc,
          ascq: unitAttention.ascq,
          ascText: unitAttention.ascText,
        };
        err.message +=
          ` (after a UNIT ATTENTION: ${unitAttention.ascText}, sense 06/` +
          `${hex(unitAttention.asc)}/${hex(unitAttention.ascq)})`;
      }
      throw err;
    }
    return unitAttention ? { unitAttention } : {};
  }

  /** REQUEST SENSE: the device's pending sense, or undefined when it reports none (NO SENSE). */
  async requestSense(): Promise<DecodedSense | undefined> {
    const result = await this.run(scsi.requestSenseCdb({ allocationLength: 252 }), { length: 252 });
    if (result.transferred < 8) return undefined;
    return scsi.decodeSense(result.data);
  }

  /** READ CAPACITY(10), and (16) when the device has more than 2^32 - 1 blocks. */
  async readCapacity(): Promise<DeviceCapacity> {
    const r10 = await this.run(scsi.readCapacity10Cdb(), { length: 8 });
    let capacity: DeviceCapacity = scsi.parseReadCapacity10(r10.data);
    if (capacity.needsReadCapacity16) {
      const r16 = await this.run(scsi.readCapacity16Cdb(32), { length: 32 });
      capacity = scsi.parseReadCapacity16(r16.data);
    }
    if (capacity.blockSize === 0) {
      throw new UsbScsiError(
        ErrorCodes.IO,
        'the device reports a block size of 0 (no medium?); check with `usbscsi tur`',
      );
    }
    this.capacityCache = capacity;
    return capacity;
  }

  /**
   * The capacity from the last READ CAPACITY, sent again only when none is known or a command
   * since said the medium or its capacity may have changed (06/28, 06/2A/09), or was one that may
   * change the medium other than by writing blocks. For checking a range before it is sent (the
   * daemon does, per request); a medium swapped unseen still stops the range at its first command.
   */
  async knownCapacity(): Promise<DeviceCapacity> {
    return this.capacityCache ?? (await this.readCapacity());
  }

  private async blockSize(): Promise<number> {
    return (await this.knownCapacity()).blockSize;
  }

  /** Reads `blocks` logical blocks starting at `lba` into a new buffer. */
  async read(lba: bigint | number, blocks: number, options: TransferProgressOptions = {}): Promise<Uint8Array> {
    const blockSize = await this.blockSize();
    checkBlocks(blocks);
    const total = blocks * blockSize;
    if (!Number.isSafeInteger(total) || total > 2 ** 31) {
      throw badInput(
        `reading ${blocks} blocks of ${blockSize} bytes does not fit in memory; stream it to a file with readToFd`,
      );
    }
    const buffer = this.scratch(total);
    await this.transferBlocks('read', lba, buffer, blockSize, options);
    return buffer;
  }

  /**
   * Memory for `readInto` / `write` / `execute` data that the transport moves in place where it
   * can: the native engine on Linux maps it from usbfs, so large transfers skip the kernel's
   * per-byte copy (about 2x at 4 MiB in the benchmark); through usbscsid on a Unix socket it is a
   * file in memory shared with the daemon, which moves `readInto` / `write` ranges straight
   * between the device and it. Elsewhere (`pinned: false`) it is ordinary memory and `release()`
   * does nothing. Pinned memory counts toward `usbfs_memory_mb` (16 MiB by default, shared by
   * every process) until released.
   */
  allocateBuffer(bytes: number): TransferBuffer {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the device is closed; open it again');
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX_DATA_LENGTH) {
      throw badInput(`a transfer buffer is 1 to ${MAX_DATA_LENGTH} bytes; got ${bytes}`);
    }
    const pinned = bytes <= 0x7fff_ffff ? (this.transport.allocateBuffer?.(bytes) ?? null) : null;
    if (pinned) return pinned;
    return { bytes: new Uint8Array(bytes), pinned: false, release: () => undefined };
  }

  /** Reads into the caller's buffer, whose length must be a whole number of blocks. */
  async readInto(lba: bigint | number, buffer: Uint8Array, options: TransferProgressOptions = {}): Promise<void> {
    const blockSize = await this.blockSize();
    if (buffer.length % blockSize !== 0)
      throw badInput(`the buffer (${buffer.length} bytes) is not a whole number of ${blockSize}-byte blocks`);
    await this.transferBlocks('read', lba, buffer, blockSize, options);
  }

  /**
   * Many small reads at once (random 4 KiB reads, say): each entry is read into its own buffer,
   * returned in the order given, with up to `queueDepth` commands in flight on a transport that
   * queues (UAS) and one after the other on one that does not (BOT, SG_IO: as transport jobs,
   * with no JavaScript between the commands). Each read gets what
   * `read` gives one: whole blocks or an error. The first read that fails stops the batch (reads
   * not yet sent are not sent) and its error is thrown once the reads in flight are back.
   */
  async readBatch(reads: readonly BatchRead[], options: ReadBatchOptions = {}): Promise<Uint8Array[]> {
    const list: unknown = reads;
    const count: unknown = Array.isArray(list) ? list.length : undefined;
    if (typeof count !== 'number' || count < 1 || count > MAX_BATCH_READS)
      throw badInput(`a read batch is an array of 1 to ${MAX_BATCH_READS} reads; got ${String(count)}`);
    const limit = this.transport.queueDepth ?? 1;
    const asked = options.queueDepth;
    if (asked !== undefined && (!Number.isInteger(asked) || asked < 1 || asked > 256))
      throw badInput(`a batch's queue depth is 1 to 256 reads; got ${asked}`);
    let total = 0;
    for (const [i, r] of reads.entries()) {
      if (r === null || typeof r !== 'object') throw badInput(`read ${i} of the batch must be { lba, blocks }`);
      checkBlocks(r.blocks);
      if (BigInt(r.lba) < 0n) throw badInput(`read ${i} of the batch: LBA must not be negative; got ${r.lba}`);
      total += r.blocks;
    }
    const blockSize = await this.blockSize();
    if (!Number.isSafeInteger(total * blockSize) || total * blockSize > 2 ** 31)
      throw badInput(`a read batch of ${total} blocks of ${blockSize} bytes does not fit in memory; split it`);
    const memory = new Uint8Array(total * blockSize);
    const out: Uint8Array[] = [];
    let at = 0;
    for (const r of reads) {
      out.push(memory.subarray(at, at + r.blocks * blockSize));
      at += r.blocks * blockSize;
    }
    const perCommand = this.blocksPerCommand(blockSize, {});
    const one: TransferProgressOptions = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    };
    // One command at a time anyway (BOT, SG_IO): the reads go as jobs, the transport running one
    // READ after another with no JavaScript between them; the buffers lie back to back already.
    if (this.transport.executeJob && limit === 1) {
      let commands: BlockJobCommand[] = [];
      let bytes = 0;
      let at = 0;
      for (const r of reads) {
        for (let left = r.blocks, lba = BigInt(r.lba); left > 0;) {
          const n = Math.min(left, perCommand);
          commands.push({ cdb: blockCdb('read', lba, n), length: n * blockSize, lba });
          bytes += n * blockSize;
          lba += BigInt(n);
          left -= n;
          if (bytes >= JOB_BYTES) {
            await this.blockJob('read', commands, { data: memory }, at, one);
            at += bytes;
            commands = [];
            bytes = 0;
          }
        }
      }
      if (commands.length > 0) await this.blockJob('read', commands, { data: memory }, at, one);
      return out;
    }
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (!failure && next < reads.length) {
        const i = next++;
        const { lba, blocks } = reads[i]!;
        try {
          if (blocks <= perCommand) await this.blockCommand('read', BigInt(lba), blocks, { data: out[i]! }, one);
          else await this.transferBlocks('read', lba, out[i]!, blockSize, one);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(asked ?? limit, limit, reads.length) }, worker));
    if (failure) throw failure.error;
    return out;
  }

  /**
   * Reads `blocks` blocks into a file descriptor with bounded memory. A regular
   * file on a transport that streams (the native engine) gets each command's
   * data phase written straight from the engine at `position` onwards, with no
   * JavaScript per chunk; anything else (pipes, other backends) goes through one
   * reused buffer of at most the max transfer size, written sequentially.
   */
  async readToFd(
    lba: bigint | number,
    blocks: number,
    fd: number,
    options: TransferProgressOptions & { position?: number } = {},
  ): Promise<number> {
    return this.streamFd('read', lba, blocks, fd, options);
  }

  /** Writes `blocks` blocks read from a file descriptor (consent needed; refused on a mounted medium). */
  async writeFromFd(
    lba: bigint | number,
    blocks: number,
    fd: number,
    options: TransferProgressOptions & { position?: number; allowMediumWrite: boolean },
  ): Promise<number> {
    if (options?.allowMediumWrite !== true) {
      throw badInput(
        'writing to the medium needs explicit consent: --yes on the command line, allowMediumWrite: true in the API',
      );
    }
    const release = await this.holdMedium(scsi.write10Cdb({ lba: 0, blocks: 0 }));
    try {
      return await this.streamFd('write', lba, blocks, fd, options);
    } finally {
      release();
    }
  }

  private async streamFd(
    kind: 'read' | 'write',
    lba: bigint | number,
    blocks: number,
    fd: number,
    options: TransferProgressOptions & { position?: number },
  ): Promise<number> {
    const { fstatSync, readSync, writeSync } = await import('node:fs');
    const blockSize = await this.blockSize();
    checkBlocks(blocks);
    if (BigInt(lba) < 0n) throw badInput(`LBA must not be negative; got ${lba}`);
    const isFile = fstatSync(fd).isFile();
    if (this.transport.blockRanges)
      return this.forgetCapacityIfChanged(this.fdRange(kind, BigInt(lba), blocks, blockSize, fd, isFile, options));
    const direct = isFile && this.transport.fdStreaming === true;
    const perCommand = this.blocksPerCommand(blockSize, options);
    // Through memory, a transport with jobs moves a window of several commands per job.
    const viaJobs = !direct && this.transport.executeJob !== undefined;
    const window = viaJobs ? Math.max(perCommand, Math.floor(FD_WINDOW_BYTES / blockSize)) : perCommand;
    const buffer = direct ? undefined : this.scratch(Math.min(blocks, window) * blockSize);
    const total = blocks * blockSize;
    let position = options.position ?? 0;
    if (direct && this.transport.executeJob) {
      await this.blockJobs(kind, BigInt(lba), blocks, blockSize, { fd, position }, options);
      return total;
    }
    let done = 0;
    let next = BigInt(lba);
    for (let left = blocks; left > 0;) {
      const n = Math.min(left, window);
      const bytes = n * blockSize;
      if (direct) {
        await this.blockCommand(kind, next, n, { dataFd: { fd, position, length: bytes } }, options);
      } else {
        const view = buffer!.subarray(0, bytes);
        if (kind === 'write') {
          for (let off = 0; off < bytes;) {
            const got = readSync(fd, view, off, bytes - off, isFile ? position + off : null);
            if (got === 0) throw badInput(`the input ends after ${done + off} bytes; ${total} were to be written`);
            off += got;
          }
        }
        if (viaJobs) {
          const { onProgress: _progress, ...jobOptions } = options;
          await this.blockJobs(kind, next, n, blockSize, { data: view }, jobOptions);
        } else await this.blockCommand(kind, next, n, { data: view }, options);
        if (kind === 'read')
          for (let off = 0; off < bytes;) off += writeSync(fd, view, off, bytes - off, isFile ? position + off : null);
      }
      done += bytes;
      position += bytes;
      options.onProgress?.(done, total);
      left -= n;
      next += BigInt(n);
    }
    return done;
  }

  /** Writes whole blocks; needs explicit consent and refuses a mounted medium. */
  async write(
    lba: bigint | number,
    data: Uint8Array,
    options: TransferProgressOptions & { allowMediumWrite: boolean },
  ): Promise<void> {
    if (options?.allowMediumWrite !== true) {
      throw badInput(
        'writing to the medium needs explicit consent: --yes on the command line, allowMediumWrite: true in the API',
      );
    }
    const blockSize = await this.blockSize();
    if (data.length === 0 || data.length % blockSize !== 0) {
      throw badInput(
        `write data must be a non-empty whole number of ${blockSize}-byte blocks; got ${data.length} bytes`,
      );
    }
    const release = await this.holdMedium(scsi.write10Cdb({ lba: 0, blocks: 0 }));
    try {
      await this.transferBlocks('write', lba, data, blockSize, options);
    } finally {
      release();
    }
  }

  /**
   * A writer of one range that arrives piece by piece (the daemon's streamed write): consent and
   * the mount check once for the whole range, as write() does for its buffer, then each write()
   * writes the next piece at the next LBA (whole blocks, never past the range). One call at a time.
   * The medium's claim is held from here until the last piece is written or end() is called (a
   * range given up early must call it; close() lets go of it too).
   */
  async rangeWriter(
    lba: bigint | number,
    blocks: number,
    options: TransferProgressOptions & { allowMediumWrite: boolean },
  ): Promise<RangeWriter> {
    if (options?.allowMediumWrite !== true) {
      throw badInput(
        'writing to the medium needs explicit consent: --yes on the command line, allowMediumWrite: true in the API',
      );
    }
    checkBlocks(blocks);
    let next = BigInt(lba);
    if (next < 0n) throw badInput(`LBA must not be negative; got ${lba}`);
    const blockSize = await this.blockSize();
    const release = await this.holdMedium(scsi.write10Cdb({ lba: 0, blocks: 0 }));
    let left = blocks;
    return {
      write: async (piece) => {
        const n = piece.length / blockSize;
        if (!Number.isInteger(n) || n === 0 || n > left)
          throw badInput(
            `a piece of ${piece.length} bytes is not 1 to ${left} whole ${blockSize}-byte blocks ` +
              '(what is left of the range)',
          );
        const at = next;
        next += BigInt(n);
        left -= n;
        await this.transferBlocks('write', at, piece, blockSize, options);
        if (left === 0) release();
      },
      end: release,
    };
  }

  private async transferBlocks(
    kind: 'read' | 'write',
    lba: bigint | number,
    buffer: Uint8Array,
    blockSize: number,
    options: TransferProgressOptions,
  ): Promise<void> {
    let next = BigInt(lba);
    if (next < 0n) throw badInput(`LBA must not be negative; got ${lba}`);
    if (this.transport.blockRanges)
      return this.forgetCapacityIfChanged(this.bufferRange(kind, next, buffer, blockSize, options));
    if (this.transport.executeJob) {
      await this.blockJobs(kind, next, buffer.length / blockSize, blockSize, { data: buffer }, options);
      return;
    }
    const perCommand = this.blocksPerCommand(blockSize, options);
    const total = buffer.length;
    for (let offset = 0; offset < total;) {
      const blocks = Math.min(perCommand, (total - offset) / blockSize);
      const view = buffer.subarray(offset, offset + blocks * blockSize);
      await this.blockCommand(kind, next, blocks, { data: view }, options);
      offset += view.length;
      next += BigInt(blocks);
      options.onProgress?.(offset, total);
    }
  }

  /**
   * A range a transport moved whole (the daemon) that met a medium change, or that the daemon
   * counts in blocks of another size than this device knows (another client met the change): the
   * capacity cached here is dropped, so the next call asks for it again.
   */
  private async forgetCapacityIfChanged<T>(moving: Promise<T>): Promise<T> {
    try {
      return await moving;
    } catch (err) {
      if (err instanceof UsbScsiError && (err.details.mediumChanged === true || err.details.reason === LENGTH_MISMATCH))
        this.capacityCache = undefined;
      throw err;
    }
  }

  /** transferBlocks on a transport that moves whole ranges (the daemon client). */
  private async bufferRange(
    kind: 'read' | 'write',
    lba: bigint,
    buffer: Uint8Array,
    blockSize: number,
    options: TransferProgressOptions,
  ): Promise<void> {
    const ranges = this.transport.blockRanges!;
    const total = buffer.length;
    const blocks = total / blockSize;
    const rangeOptions = {
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: options.timeoutMs ?? this.commandTimeoutMs,
    };
    let done = 0;
    // The whole buffer to the transport, where it takes one (memory it gave out moves in place).
    const whole = kind === 'read' ? ranges.readBlocksInto?.bind(ranges) : ranges.writeBlocksFrom?.bind(ranges);
    if (whole) {
      const onProgress = options.onProgress;
      await whole(lba, blocks, blockSize, buffer, rangeOptions, onProgress && ((n) => onProgress(n, total)));
      return;
    }
    if (kind === 'read') {
      await ranges.readBlocks(
        lba,
        blocks,
        blockSize,
        (chunk) => {
          buffer.set(chunk, done);
          done += chunk.length;
          options.onProgress?.(done, total);
        },
        rangeOptions,
      );
      return;
    }
    const piece = this.maxTransferBytes;
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < total; at += piece) {
        if (at > 0) options.onProgress?.(at, total);
        yield buffer.subarray(at, Math.min(total, at + piece));
      }
    }
    await ranges.writeBlocks(lba, blocks, blockSize, pieces(), rangeOptions);
    options.onProgress?.(total, total);
  }

  /** streamFd on a transport that moves whole ranges: one reused buffer for a write's source. */
  private async fdRange(
    kind: 'read' | 'write',
    lba: bigint,
    blocks: number,
    blockSize: number,
    fd: number,
    isFile: boolean,
    options: TransferProgressOptions & { position?: number },
  ): Promise<number> {
    const { readSync, writeSync } = await import('node:fs');
    const ranges = this.transport.blockRanges!;
    const total = blocks * blockSize;
    const rangeOptions = {
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: options.timeoutMs ?? this.commandTimeoutMs,
    };
    const start = options.position ?? 0;
    if (isFile && ranges.transferFile) {
      const onBytes = options.onProgress ? (moved: number) => options.onProgress!(moved, total) : undefined;
      const moved = await ranges.transferFile(kind, lba, blocks, blockSize, fd, start, rangeOptions, onBytes);
      if (moved !== null) return moved;
    }
    let done = 0;
    if (kind === 'read') {
      await ranges.readBlocks(
        lba,
        blocks,
        blockSize,
        (chunk) => {
          for (let off = 0; off < chunk.length;)
            off += writeSync(fd, chunk, off, chunk.length - off, isFile ? start + done + off : null);
          done += chunk.length;
          options.onProgress?.(done, total);
        },
        rangeOptions,
      );
      return done;
    }
    const buffer = new Uint8Array(Math.min(total, this.maxTransferBytes));
    async function* fromFd(): AsyncGenerator<Uint8Array> {
      while (done < total) {
        const want = Math.min(buffer.length, total - done);
        let got = 0;
        while (got < want) {
          const n = readSync(fd, buffer, got, want - got, isFile ? start + done + got : null);
          if (n === 0) throw badInput(`the input ends after ${done + got} bytes; ${total} were to be written`);
          got += n;
        }
        yield buffer.subarray(0, got);
        done += got;
        options.onProgress?.(done, total);
      }
    }
    await ranges.writeBlocks(lba, blocks, blockSize, fromFd(), rangeOptions);
    return total;
  }

  /**
   * Memory for a data phase that this class allocates itself: SG_IO's page-aligned memory, which
   * the block layer maps in place instead of the engine copying it (ordinary memory, no budget
   * like usbfs_memory_mb behind it); a plain array elsewhere.
   */
  private scratch(bytes: number): Uint8Array {
    const aligned = this.transport.kind === 'sg' ? this.transport.allocateBuffer?.(bytes) : null;
    return aligned ? aligned.bytes : new Uint8Array(bytes);
  }

  private blocksPerCommand(blockSize: number, options: TransferProgressOptions): number {
    const asked = options.commandBytes;
    if (asked !== undefined && (!Number.isSafeInteger(asked) || asked < blockSize || asked % blockSize !== 0))
      throw badInput(`commandBytes must be a whole number of ${blockSize}-byte blocks; got ${asked}`);
    return Math.max(1, Math.floor(Math.min(this.maxTransferBytes, asked ?? Infinity) / blockSize));
  }

  /**
   * READs or WRITEs of `blocks` blocks from `lba` as jobs (transports that run commands back to
   * back: `ScsiTransport.executeJob`), each of at most JOB_BYTES so progress is reported and
   * memory for the command list stays small (blockJob runs each).
   */
  private async blockJobs(
    kind: 'read' | 'write',
    lba: bigint,
    blocks: number,
    blockSize: number,
    target: { data: Uint8Array } | { fd: number; position: number },
    options: TransferProgressOptions,
  ): Promise<void> {
    const perCommand = this.blocksPerCommand(blockSize, options);
    const total = blocks * blockSize;
    let done = 0; // bytes
    let next = lba;
    while (done < total) {
      const commands: BlockJobCommand[] = [];
      let bytes = 0;
      for (let left = (total - done) / blockSize; left > 0 && bytes < JOB_BYTES;) {
        const n = Math.min(left, perCommand);
        const at = next + BigInt(bytes / blockSize);
        commands.push({ cdb: blockCdb(kind, at, n), length: n * blockSize, lba: at });
        bytes += n * blockSize;
        left -= n;
      }
      await this.blockJob(kind, commands, target, done, options);
      done += bytes;
      next += BigInt(bytes / blockSize);
      options.onProgress?.(done, total);
    }
  }

  /**
   * One job of block commands whose data lie back to back in `target` from byte `at`. The
   * command that ends it early is handled as {@link blockCommand} handles one: a UNIT ATTENTION
   * of a reset sends it once more, a medium change stops the transfer (mediumChangedError), any
   * other status throws, GOOD with bytes missing is an error; the commands after it then go as a
   * job of their own.
   */
  private async blockJob(
    kind: 'read' | 'write',
    commands: BlockJobCommand[],
    target: { data: Uint8Array } | { fd: number; position: number },
    at: number,
    options: TransferProgressOptions,
  ): Promise<void> {
    const direction = kind === 'read' ? 'in' : 'out';
    let first = 0;
    let offset = at; // where commands[first]'s data starts in target
    while (first < commands.length) {
      const part = first === 0 ? commands : commands.slice(first);
      let bytes = 0;
      for (const c of part) bytes += c.length;
      const job: ScsiJob = {
        commands: part,
        direction,
        lun: this.lun,
        timeoutMs: options.timeoutMs ?? this.commandTimeoutMs,
      };
      if ('data' in target) job.data = target.data.subarray(offset, offset + bytes);
      else job.dataFd = { fd: target.fd, position: target.position + offset };
      if (options.signal) job.signal = options.signal;
      const r = await this.transport.executeJob!(job);
      for (let i = 0; i < r.done; i++) offset += part[i]!.length;
      first += r.done;
      if (first >= commands.length) return;
      const c = commands[first]!;
      let result = r.result;
      if (!result) throw new UsbScsiError(ErrorCodes.IO, 'the transport stopped a job without a result');
      if (result.status === ScsiStatus.CHECK_CONDITION && result.sense?.senseKey === 0x06) {
        if (mediumMayHaveChanged(result.sense)) {
          this.capacityCache = undefined;
          throw mediumChangedError(result, c.cdb, c.lba);
        }
        // A reset is reported once; the command itself did not run.
        const phase =
          'data' in target
            ? { data: target.data.subarray(offset, offset + c.length) }
            : { dataFd: { fd: target.fd, position: target.position + offset, length: c.length } };
        result = await this.send(
          c.cdb,
          {
            direction,
            ...phase,
            allowMediumWrite: kind === 'write',
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          },
          false,
        );
      }
      if (result.status !== ScsiStatus.GOOD && result.status !== ScsiStatus.CONDITION_MET)
        throw new CheckConditionError(result, result.sense, c.cdb);
      checkMoved(c.cdb, c.lba, c.length, result);
      offset += c.length;
      first++;
    }
  }

  /**
   * One READ or WRITE (10, or 16 when the LBA or count needs it) of whole blocks
   * within a transfer whose mount check is already done; GOOD status with bytes
   * missing is an error, never data passed off as whole.
   */
  private async blockCommand(
    kind: 'read' | 'write',
    lba: bigint,
    blocks: number,
    phase: { data: Uint8Array } | { dataFd: { fd: number; position: number; length: number } },
    options: TransferProgressOptions,
  ): Promise<void> {
    const cdb = blockCdb(kind, lba, blocks);
    const expected = 'data' in phase ? phase.data.length : phase.dataFd.length;
    const result = await this.run(
      cdb,
      {
        direction: kind === 'read' ? 'in' : 'out',
        ...phase,
        allowMediumWrite: kind === 'write',
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      },
      false,
      { lba },
    );
    checkMoved(cdb, lba, expected, result);
  }

  /** ATA IDENTIFY DEVICE through SAT ATA PASS-THROUGH(16) (USB-SATA bridges). */
  async ataIdentify(): Promise<scsi.AtaIdentify> {
    const result = await this.run(scsi.ataIdentifyDeviceCdb(16), { length: 512 });
    return scsi.parseAtaIdentify(result.data);
  }

  /** SMART data, thresholds and health through SAT. */
  async smart(): Promise<scsi.SmartReport> {
    const identify = await this.ataIdentify();
    const data = scsi.parseSmartData((await this.run(scsi.ataSmartReadDataCdb(16), { length: 512 })).data);
    let thresholds: scsi.SmartThresholds | undefined;
    try {
      thresholds = scsi.parseSmartThresholds(
        (await this.run(scsi.ataSmartReadThresholdsCdb(16), { length: 512 })).data,
      );
    } catch (err) {
      if (!(err instanceof CheckConditionError)) throw err;
    }
    // RETURN STATUS answers in the ATA registers: CHECK CONDITION with an ATA status return descriptor (CK_COND).
    const statusResult = await this.execute(scsi.ataSmartReturnStatusCdb(16));
    const status = scsi.parseSmartReturnStatus(statusResult.sense);
    return { identify, data, ...(thresholds ? { thresholds } : {}), status };
  }

  /**
   * NVMe admin commands to a drive behind a USB bridge (JMicron, ASMedia, Realtek), through the
   * bridge `bridge` names or the one detected (VID:PID table, then safe probes).
   */
  async nvme(options: { bridge?: BridgeChoice } = {}): Promise<NvmeDevice> {
    const { openNvme } = await import('./bridges/index.js');
    return openNvme(this.bridgeHost(), options.bridge);
  }

  /** One health summary: SAT SMART for a SATA drive, the NVMe SMART / health log through a bridge. */
  async health(options: { bridge?: BridgeChoice } = {}): Promise<HealthReport> {
    const { readHealth } = await import('./bridges/index.js');
    return readHealth({ ...this.bridgeHost(), satSmart: () => this.smart() }, options.bridge);
  }

  private bridgeHost(): BridgeHost {
    return {
      exchange: (cdb, r) =>
        this.send(
          cdb,
          {
            direction: r.direction,
            ...(r.length !== undefined ? { length: r.length } : {}),
            ...(r.data ? { data: r.data } : {}),
            // The caller's per-call timeout, else the device's command timeout (--timeout), else the phase's default.
            ...((r.timeoutMs ?? this.bridgeTimeoutMs ?? r.defaultTimeoutMs) !== undefined
              ? { timeoutMs: r.timeoutMs ?? this.bridgeTimeoutMs ?? r.defaultTimeoutMs }
              : {}),
            ...(r.signal ? { signal: r.signal } : {}),
            ...(r.allowMediumWrite ? { allowMediumWrite: true } : {}),
          },
          true,
          r.effect,
        ),
      ataIdentify: () => this.ataIdentify(),
      usb: this.description.usb,
    };
  }

  /**
   * Puts a firmware image on the device (WRITE BUFFER, or ATA DOWNLOAD MICROCODE behind a SAT
   * bridge): needs consent, refuses a mounted medium, stops between chunks on `signal`, and after
   * activation waits for the device to come back. See firmware/types.ts for the options.
   */
  async downloadFirmware(image: Uint8Array, options: DownloadFirmwareOptions): Promise<FirmwareReport> {
    const { downloadFirmware } = await import('./firmware/download.js');
    return downloadFirmware(this, image, options);
  }

  /** What the device reports about firmware download (modes, offset boundary, buffer size, revision); read-only. */
  async firmwareInfo(options: FirmwareInfoOptions = {}): Promise<FirmwareCapabilities> {
    const { resolveFirmwareTarget } = await import('./firmware/download.js');
    return (await resolveFirmwareTarget(this, options)).capabilities;
  }

  /** Transport-level reset (BOT reset recovery). */
  async reset(): Promise<void> {
    await this.transport.reset();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const medium = this.medium;
    this.medium = undefined;
    try {
      await this.transport.close();
    } finally {
      if (medium) letGoOfMedium(medium);
      await this.options.onClose?.();
    }
  }

  /**
   * Takes the medium's claim for a write call, or joins the one held for the calls running now
   * (the claim is exclusive: a second one taken by this device would find the first), and refuses
   * a mounted medium or one something else holds. The release it returns is for this caller only;
   * the claim goes when its last holder lets go.
   */
  private async holdMedium(cdb: Uint8Array): Promise<() => void> {
    let medium = this.medium;
    if (!medium) {
      const { claimMedium, mounts } = this.options;
      const claim = claimMedium
        ? claimMedium()
        : (mounts?.() ?? Promise.resolve([])).then((found) => ({ mounts: found, heldBy: [], release: () => {} }));
      medium = { holders: 0, claim };
      this.medium = medium;
    }
    const held = medium;
    held.holders++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--held.holders > 0) return;
      if (this.medium === held) this.medium = undefined;
      letGoOfMedium(held);
    };
    let claim: MediumWriteClaim;
    try {
      claim = await held.claim;
    } catch (err) {
      release();
      throw err;
    }
    held.taken = claim;
    const { mounts, heldBy } = claim;
    if (mounts.length > 0 || heldBy.length > 0) {
      release();
      if (mounts.length > 0)
        throw new UsbScsiError(
          ErrorCodes.MOUNTED,
          `refusing ${scsi.opcodeName(cdb)}: the medium is mounted (` +
            `${mounts.map((m) => `${m.device} on ${m.mountPoint}`).join(', ')}); ` +
            `unmount it first`,
          { details: { mounts } },
        );
      throw new UsbScsiError(
        ErrorCodes.BUSY,
        `refusing ${scsi.opcodeName(cdb)}: the medium is in use by ` +
          `${heldBy.map((h) => `${h.user} on ${h.device}`).join(', ')}; ` +
          `stop that first (swapoff, mdadm --stop, dmsetup remove, or let the other program finish)`,
        { details: { heldBy } },
      );
    }
    return release;
  }
}

/** Releases a medium claim: at once when it has been taken, else as soon as it is. */
function letGoOfMedium(medium: { claim: Promise<MediumWriteClaim>; taken?: MediumWriteClaim }): void {
  if (medium.taken) medium.taken.release();
  else
    medium.claim.then(
      (claim) => claim.release(),
      () => {},
    );
}

/** A READ or WRITE of a job, with the LBA its errors name. */
interface BlockJobCommand {
  cdb: Uint8Array;
  length: number;
  lba: bigint;
}

/** Bytes per job of READs or WRITEs: the progress step, and a bound on the command list. */
const JOB_BYTES = 64 << 20;
/** A file streamed through memory by a transport with jobs: bytes per job (the buffer's size). */
const FD_WINDOW_BYTES = 4 << 20;
/** Reads one `readBatch` call takes at most. */
const MAX_BATCH_READS = 1 << 20;

/** READ or WRITE (10), or (16) when the LBA or count needs it. */
function blockCdb(kind: 'read' | 'write', lba: bigint, blocks: number): Uint8Array {
  const long = lba + BigInt(blocks) > 0xffff_ffffn || blocks > 0xffff;
  return kind === 'read'
    ? (long ? scsi.read16Cdb : scsi.read10Cdb)({ lba, blocks })
    : (long ? scsi.write16Cdb : scsi.write10Cdb)({ lba, blocks });
}

/** GOOD status with bytes missing is an error, never data passed off as whole. */
function checkMoved(cdb: Uint8Array, lba: bigint, expected: number, result: ScsiResult): void {
  if (result.transferred !== expected) {
    throw new UsbScsiError(
      ErrorCodes.IO,
      `${scsi.opcodeName(cdb)} at LBA ${lba} moved ${result.transferred} of ${expected} ` +
        `bytes (residue ${result.residue}) with GOOD status`,
      { details: { lba: lba.toString(), expected, transferred: result.transferred } },
    );
  }
}

function checkBlocks(blocks: number): void {
  if (!Number.isInteger(blocks) || blocks <= 0)
    throw badInput(`block count must be a positive whole number; got ${blocks}`);
}
