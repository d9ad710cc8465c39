import { read } from 'node:fs';
import { ErrorCodes, UsbScsiError, badInput, isUsbScsiError, type ErrorCode } from '../errors.js';
import { decodeSense } from '../scsi/sense.js';
import {
  TransferStatus,
  transferStatusName,
  type BotExchangeRequest,
  type BotExchangeResult,
  type BotJobRequest,
  type TransferBuffer,
  type TransferResult,
  type UsbDeviceHandle,
} from '../usb/backend.js';
import {
  DEFAULT_TIMEOUT_MS,
  ScsiStatus,
  type ScsiJob,
  type ScsiJobResult,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransport,
} from '../transport.js';
import {
  bulkOnlyReset,
  findBotInterface,
  getMaxLun,
  selectAlternateSetting,
  type BotEndpoints,
} from './bot-interface.js';
import { Deadline } from './deadline.js';
import { genericBotJob } from './generic-exchange.js';
import type { BotEvent } from './events.js';
import { type BotQuirks, quirksFor } from './quirks.js';
import { interpretTransfer, type TransferOutcome } from './transfer-outcome.js';
import { CSW_LENGTH, CswStatus, encodeCommandBlockWrapper, judgeCommandStatusWrapper } from './wrappers.js';
import { hexBytes } from '../hex.js';
import { monotonicMs } from '../clock.js';

const START_STOP_UNIT = 0x1b;
/** Commands that read, write or size the medium (SBC-4): the quirk's START STOP UNIT goes first. */
const MEDIA_ACCESS_OPCODES = new Set([
  0x08,
  0x0a,
  0x28,
  0x2a,
  0xa8,
  0xaa,
  0x88,
  0x8a, // READ / WRITE (6, 10, 12, 16)
  0x2f,
  0xaf,
  0x8f, // VERIFY (10, 12, 16)
  0x25,
  0x9e, // READ CAPACITY (10), SERVICE ACTION IN(16) (READ CAPACITY (16))
  0x35,
  0x91, // SYNCHRONIZE CACHE (10, 16)
  0x41,
  0x93, // WRITE SAME (10, 16)
]);
/** Pause after a class reset when neither the caller nor the backend says otherwise (Linux waits too). */
const DEFAULT_RESET_DELAY_MS = 100;
/** REQUEST SENSE allocation length: room for descriptor sense with an ATA status return (SAT). */
const AUTO_SENSE_LENGTH = 96;

export interface BotTransportOptions {
  /** Which mass-storage interface to use when the device has several. */
  interfaceNumber?: number;
  /** Overrides on top of the quirks table entry for this VID:PID. */
  quirks?: Partial<BotQuirks>;
  /**
   * Detach an active kernel driver before claiming. Only the handoff lease
   * should pass true: detaching under a mounted filesystem loses data.
   */
  detachKernelDriver?: boolean;
  /**
   * Pause after the class reset before clearing the halts (Linux waits too). Default: the
   * handle's `capabilities.resetRecoveryMs` when the backend knows its device, else 100 ms.
   */
  resetDelayMs?: number;
  /**
   * Reset recovery when opening, before the first command. Default true: a holder that died
   * mid-command leaves the device in its data phase, where it stalls (or never takes) the
   * next CBW.
   */
  resetOnOpen?: boolean;
  /** Fast-path tuning passed to `botExchange`. */
  chunkSize?: number;
  depth?: number;
  /** Called for each phase, for tracing and debugging. */
  onEvent?: (event: BotEvent) => void;
}

/**
 * SCSI over USB Mass Storage Bulk-Only Transport 1.0, host side.
 *
 * The command flow follows the spec's §5.3 / §6.7 flow chart, phase by phase:
 * CBW out, optional data phase, CSW in. A stall in the data phase is cleared
 * and the CSW is still read; a stalled CSW read is retried once after clearing
 * the halt; an invalid or not meaningful CSW, a phase error, a timeout or a
 * cancellation ends in reset recovery. A failed command (CSW status 1) is a
 * result, not a transport error: REQUEST SENSE is issued and decoded.
 * Commands are serialised: BOT has one command in flight at a time.
 */
export class BotTransport implements ScsiTransport {
  readonly kind = 'bot' as const;
  readonly quirks: BotQuirks;
  private tag = (Math.random() * 0xffff_ffff) >>> 0;
  /** LUNs that got their START STOP UNIT (quirk `needsStartUnit`). */
  private readonly startedLuns = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Operations started or waiting in `queue` and not yet settled. */
  private queued = 0;
  private closed = false;
  private readonly engineNotes = new Set<string>();

  private constructor(
    readonly handle: UsbDeviceHandle,
    private readonly endpoints: BotEndpoints,
    readonly maxLun: number,
    quirks: BotQuirks,
    private readonly options: BotTransportOptions,
    private readonly detachedKernelDriver: boolean,
  ) {
    this.quirks = quirks;
  }

  /**
   * Finds the BOT interface, claims it, selects its alternate setting if another one is current,
   * runs reset recovery (unless `resetOnOpen: false`) and asks GET MAX LUN.
   */
  static async open(handle: UsbDeviceHandle, options: BotTransportOptions = {}): Promise<BotTransport> {
    const info = handle.info;
    const config = info.configurations[0];
    if (!config) throw new UsbScsiError(ErrorCodes.UNSUPPORTED, 'the device reports no configuration');
    const endpoints = findBotInterface(config.interfaces, options.interfaceNumber);
    const quirks = quirksFor(info.vendorId, info.productId, options.quirks);

    let detached = false;
    if (handle.capabilities.kernelDriver && (await handle.kernelDriverActive(endpoints.interfaceNumber))) {
      if (!options.detachKernelDriver) {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `the OS storage driver holds interface ${endpoints.interfaceNumber}: take a handoff ` +
            `lease (it unmounts and detaches safely) or use the SG_IO transport (--backend sg)`,
          { details: { interfaceNumber: endpoints.interfaceNumber } },
        );
      }
      await handle.detachKernelDriver(endpoints.interfaceNumber);
      detached = true;
    }
    try {
      await handle.claimInterface(endpoints.interfaceNumber);
      await selectAlternateSetting(handle, config.interfaces, endpoints, options.onEvent);
      if (options.resetOnOpen !== false) {
        options.onEvent?.({
          type: 'reset-recovery',
          reason: 'open: a previous holder may have left a command unfinished',
        });
        // A device that refuses the class request (it should not) still gets its halts cleared.
        await bulkOnlyReset(handle, endpoints, resetDelayMs(handle, options), true);
      }
      const maxLun = quirks.singleLun ? 0 : await getMaxLun(handle, endpoints.interfaceNumber);
      return new BotTransport(handle, endpoints, maxLun, quirks, options, detached);
    } catch (err) {
      await handle.releaseInterface(endpoints.interfaceNumber).catch(() => undefined);
      if (detached) await handle.attachKernelDriver(endpoints.interfaceNumber).catch(() => undefined);
      throw err;
    }
  }

  allocateBuffer(bytes: number): TransferBuffer | null {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the transport is closed; open the device again');
    return this.handle.allocTransferBuffer?.(bytes) ?? null;
  }

  get fdStreaming(): boolean {
    return this.handle.capabilities.fdStreaming;
  }

  get interfaceNumber(): number {
    return this.endpoints.interfaceNumber;
  }

  execute(request: ScsiRequest): Promise<ScsiResult> {
    return this.serialised(() => this.executeNow(request));
  }

  /**
   * Commands back to back (ScsiDevice's READs or WRITEs over a range). The backend's engine runs
   * them with no JavaScript in between (native), or core does over `botExchange`; either way
   * each CSW must be, byte for byte, the one a plain success carries (signature, the command's
   * tag, residue 0, status 0), and the first command that differs in any way is judged here as
   * `execute` judges one: sense, reset recovery, the same errors.
   */
  executeJob(job: ScsiJob): Promise<ScsiJobResult> {
    const run = this.queue.then(() => this.executeJobNow(job));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Bulk-Only Mass Storage Reset, then CLEAR_FEATURE(HALT) on both bulk endpoints (§5.3.4). */
  reset(): Promise<void> {
    return this.serialised(() => this.resetRecovery('requested'));
  }

  /**
   * One operation at a time, in call order. With nothing queued it starts at once rather than
   * behind a settled promise: a TUR's cost is mostly such promise turns.
   */
  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queued === 0 ? operation() : this.queue.then(operation);
    this.queued++;
    const settled = (): void => {
      this.queued--;
    };
    this.queue = run.then(settled, settled);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.handle.releaseInterface(this.endpoints.interfaceNumber).catch(ignoreGone);
      if (this.detachedKernelDriver)
        await this.handle.attachKernelDriver(this.endpoints.interfaceNumber).catch(ignoreGone);
    } finally {
      await this.handle.close().catch(ignoreGone);
    }
  }

  private nextTag(): number {
    this.tag = (this.tag + 1) >>> 0;
    return this.tag;
  }

  /**
   * One command, as Linux's `usb_stor_invoke_transport` splits it: the transport pass
   * ({@link transport}) either returns a result or says why host and device lost step; reset
   * recovery then runs here and only here, and the command's own error stays the thrown one.
   */
  private async executeNow(request: ScsiRequest): Promise<ScsiResult> {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the transport is closed; open the device again');
    // One clock read at the start serves the command's deadline and its duration: in a guest
    // without a vDSO clock each read is a syscall, and a TUR's whole cost is a few of them.
    const startedMs = monotonicMs();
    const command = this.prepare(request);
    let deadlineStartMs = startedMs;
    if (this.quirks.needsStartUnit) {
      await this.startUnitBeforeMediaAccess(command.lun, request.cdb[0]!, command.timeoutMs);
      deadlineStartMs = monotonicMs();
    }
    let result: ScsiResult;
    try {
      result = await this.transport(command, deadlineStartMs);
    } catch (err) {
      if (err instanceof TransportBroke) throw await this.recover(err);
      throw err;
    }
    if (result.status === ScsiStatus.CHECK_CONDITION && request.autoSense !== false) {
      const sense = await this.autoSense(command.lun, command.timeoutMs);
      if (sense) result.sense = sense;
    }
    result.durationNs = Math.round((monotonicMs() - startedMs) * 1e6);
    return result;
  }

  private async executeJobNow(job: ScsiJob): Promise<ScsiJobResult> {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the transport is closed; open the device again');
    const { commands, direction, data, dataFd, signal } = job;
    if (!Array.isArray(commands) || commands.length === 0) throw badInput('a job has at least one command');
    if (direction !== 'in' && direction !== 'out') throw badInput("a job's direction is 'in' or 'out'");
    if ((data === undefined) === (dataFd === undefined)) throw badInput('a job takes either data or dataFd');
    const total = commands.reduce((sum, c) => sum + c.length, 0);
    if (data && data.length !== total)
      throw badInput(`the job's data has ${data.length} bytes; its commands move ${total}`);
    // Each command as execute() would prepare it: the same checks, its own tag.
    let offset = 0;
    const prepared = commands.map((c) => {
      if (!Number.isSafeInteger(c.length) || c.length < 1) throw badInput(`a job command moves 1 byte or more`);
      const request: ScsiRequest = { cdb: c.cdb, direction, lun: job.lun ?? 0 };
      if (data) request.data = data.subarray(offset, offset + c.length);
      else request.dataFd = { fd: dataFd!.fd, position: dataFd!.position + offset, length: c.length };
      if (job.timeoutMs !== undefined) request.timeoutMs = job.timeoutMs;
      if (signal) request.signal = signal;
      offset += c.length;
      return this.prepare(request);
    });
    const first = prepared[0]!;
    // A quirk that accepts CSWs other than the plain one would stop every job at its first command.
    if (this.quirks.tolerateBadCswSignature || this.quirks.ignoreResidue) return this.jobOneByOne(prepared);
    if (this.quirks.needsStartUnit)
      await this.startUnitBeforeMediaAccess(first.lun, first.request.cdb[0]!, first.timeoutMs);
    const request: BotJobRequest = {
      commands: prepared.map((c) => ({ cbw: c.cbw, csw: plainCsw(decodeTag(c.cbw)), length: c.length })),
      outEndpoint: this.endpoints.bulkOut,
      inEndpoint: this.endpoints.bulkIn,
      data: data ? { direction, buffer: data } : { direction, fd: dataFd!.fd, position: dataFd!.position },
      timeoutMs: first.timeoutMs,
    };
    if (this.options.chunkSize) request.chunkSize = this.options.chunkSize;
    if (this.options.depth) request.depth = this.options.depth;
    if (signal) request.signal = signal;
    const started = process.hrtime.bigint();
    const outcome = this.handle.botJob ? await this.handle.botJob(request) : await genericBotJob(this.handle, request);
    this.noteEngine(outcome.notes);
    const { done } = outcome;
    if (done >= prepared.length) return { done: prepared.length };
    const command = prepared[done]!;
    if (!outcome.stopped) {
      throw new UsbScsiError(ErrorCodes.IO, `the ${this.handle.info.backend} backend stopped a job without its facts`);
    }
    // The command that ended the job: judged as execute() judges one (its CSW retry gets a fresh budget).
    let result: ScsiResult;
    try {
      result = await this.judge(command, outcome.stopped, new Deadline(command.timeoutMs));
    } catch (err) {
      if (err instanceof TransportBroke) throw await this.recover(err);
      throw err;
    }
    if (result.status === ScsiStatus.CHECK_CONDITION) {
      const sense = await this.autoSense(command.lun, command.timeoutMs);
      if (sense) result.sense = sense;
    }
    result.durationNs = Number(process.hrtime.bigint() - started);
    return { done, result };
  }

  /** A job for a device with CSW quirks: one command at a time, up to the first that is not a plain success. */
  private async jobOneByOne(prepared: BotCommand[]): Promise<ScsiJobResult> {
    for (let done = 0; done < prepared.length; done++) {
      const c = prepared[done]!;
      // Its CBW was encoded with a tag already; execute() encodes again with the next one.
      const result = await this.executeNow(c.request);
      if (result.status !== ScsiStatus.GOOD || result.transferred !== c.length) return { done, result };
    }
    return { done: prepared.length };
  }

  /** What the engine remarks (pinned memory refused, depth cut to fit usbfs), once each, for --verbose. */
  private noteEngine(notes: string[] | undefined): void {
    if (!notes || !this.options.onEvent) return;
    for (const note of notes) {
      if (this.engineNotes.has(note)) continue;
      this.engineNotes.add(note);
      this.options.onEvent({ type: 'engine-note', note });
    }
  }

  /** Checks the request and encodes its CBW; nothing is sent. */
  private prepare(request: ScsiRequest): BotCommand {
    const { cdb, direction } = request;
    const lun = request.lun ?? 0;
    if (lun > this.maxLun) throw badInput(`LUN ${lun} does not exist: the device reports LUNs 0..${this.maxLun}`);
    const data = request.data ?? new Uint8Array(0);
    const dataFd = request.dataFd;
    if (direction === 'none' && (data.length > 0 || dataFd)) throw badInput("direction 'none' takes no data buffer");
    if (direction !== 'none' && request.data === undefined && !dataFd)
      throw badInput(`direction '${direction}' needs a data buffer`);
    if (dataFd && request.data) throw badInput('give either data or dataFd, not both');
    if (dataFd && !this.fdStreaming) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `the ${this.handle.info.backend} backend cannot stream a data phase to a file descriptor; pass a buffer`,
      );
    }
    if (dataFd && (!Number.isSafeInteger(dataFd.length) || dataFd.length <= 0 || dataFd.length > 0xffff_ffff)) {
      throw badInput(`dataFd.length must be 1..4294967295 bytes; got ${dataFd.length}`);
    }
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1)
      throw badInput(`timeoutMs must be a positive number of milliseconds; got ${timeoutMs}`);
    if (request.signal?.aborted) throw new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before the command was sent');
    const length = direction === 'none' ? 0 : (dataFd?.length ?? data.length);
    const cbw = encodeCommandBlockWrapper({
      tag: this.nextTag(),
      dataTransferLength: length,
      dataIn: direction === 'in',
      lun,
      cdb,
    });
    return { request, cbw, lun, data, length, timeoutMs };
  }

  /**
   * The BOT flow chart (§5.3, §6.7) as one linear pass over the backend's exchange: CBW →
   * data → CSW, then the CSW judged. Throws {@link TransportBroke} when reset recovery must
   * follow; a thrown UsbScsiError (device gone...) is the backend's own failure.
   */
  private async transport(command: BotCommand, startedMs: number): Promise<ScsiResult> {
    const { request, cbw, data, length } = command;
    const { direction, dataFd, signal } = request;
    const { bulkIn, bulkOut } = this.endpoints;
    const deadline = new Deadline(command.timeoutMs, startedMs);

    // Assigned field by field (no conditional spreads): this runs once per command.
    const exchangeRequest: BotExchangeRequest = {
      cbw,
      outEndpoint: bulkOut,
      inEndpoint: bulkIn,
      timeoutMs: command.timeoutMs,
    };
    if (length > 0) {
      const dir = direction as 'in' | 'out';
      exchangeRequest.data = dataFd
        ? { direction: dir, fd: dataFd.fd, length: dataFd.length, position: dataFd.position }
        : { direction: dir, buffer: data };
    }
    if (this.options.chunkSize) exchangeRequest.chunkSize = this.options.chunkSize;
    if (this.options.depth) exchangeRequest.depth = this.options.depth;
    if (signal) exchangeRequest.signal = signal;
    const exchange = await this.handle.botExchange(exchangeRequest);
    this.noteEngine(exchange.notes);
    return this.judge(command, exchange, deadline);
  }

  /**
   * The BOT flow chart's verdict on one command's exchange (what the backend saw): the CSW
   * read by core when the exchange stopped before it, then judged. Throws {@link TransportBroke}.
   */
  private async judge(command: BotCommand, exchange: BotExchangeResult, deadline: Deadline): Promise<ScsiResult> {
    const { request, cbw, data, length } = command;
    const { cdb, direction, dataFd, signal } = request;
    const { bulkIn, bulkOut } = this.endpoints;

    // Command transport (§5.3.1): the CBW must go out whole.
    const cbwOutcome = interpretTransfer(exchange.cbw, cbw.length);
    if (cbwOutcome !== 'good') throw transferBroke(cbwOutcome, 'sending the CBW', cdb);

    // Data transport (§5.3.2): a stall ends the phase; clear it and go on to the CSW.
    let transferred = 0;
    let csw = exchange.csw;
    if (length > 0) {
      const dataResult = exchange.data;
      if (!dataResult) {
        throw new TransportBroke(
          'the exchange reported no data phase',
          ErrorCodes.IO,
          `the ${this.handle.info.backend} backend reported no data phase after a good CBW (CDB ${hex(cdb)})`,
          { cdb: hex(cdb) },
        );
      }
      transferred = dataResult.actualLength;
      const outcome = interpretTransfer(dataResult, length);
      if (outcome === 'long') {
        // The device sent more than dCBWDataTransferLength (case Hi < Di): we have lost step.
        throw new TransportBroke(
          'data phase overflow',
          ErrorCodes.OVERFLOW,
          `the device sent more data than the ${length} bytes asked for (CDB ${hex(cdb)}); ` +
            `ask for the full allocation length`,
          { requested: length },
        );
      }
      if (outcome === 'timeout' || outcome === 'cancelled') throw transferBroke(outcome, 'the data phase', cdb);
      if (outcome === 'stalled') {
        csw = undefined;
        await this.clearHalt(direction === 'in' ? bulkIn : bulkOut);
      } else if (outcome === 'short' && !csw && dataResult.afterShort) {
        // A short packet ends the data phase (Linux reasons the same way): what reads already
        // queued behind it received is the status phase, i.e. what our CSW read would have
        // received. More than 13 bytes is what a 13-byte read reports as babble.
        const after = dataResult.afterShort;
        csw =
          after.length > CSW_LENGTH
            ? { status: TransferStatus.OVERFLOW, actualLength: CSW_LENGTH, bytes: after.bytes.subarray(0, CSW_LENGTH) }
            : { status: TransferStatus.OK, actualLength: after.length, bytes: after.bytes };
      } else if (outcome === 'short' && !csw && direction === 'in' && transferred === CSW_LENGTH) {
        // Linux's rule (usb_stor_Bulk_transport): exactly 13 bytes in total, signed USBS, is the
        // CSW of a device that skipped its data phase. 13 bytes anywhere else are data.
        const first = dataFd ? await readFirstBytes(dataFd.fd, dataFd.position) : data.subarray(0, CSW_LENGTH);
        if (isSignedCsw(first)) {
          csw = { status: TransferStatus.OK, actualLength: CSW_LENGTH, bytes: first.slice() };
          transferred = 0;
        }
      }
    }

    // Status transport (§5.3.3): read by core, with the time left, when the exchange stopped before it.
    // A whole CSW from the exchange (every good command) needs no async step.
    const cswBytes =
      csw && interpretTransfer(csw, CSW_LENGTH) === 'good'
        ? cswBuffer(csw.bytes)
        : await this.readCsw(csw, deadline, signal, cdb);
    const verdict = judgeCommandStatusWrapper(cswBytes, decodeTag(cbw), length, {
      badSignature: this.quirks.tolerateBadCswSignature,
      ignoreResidue: this.quirks.ignoreResidue,
    });
    if (!verdict.ok) {
      throw new TransportBroke(
        `invalid CSW (${verdict.reason})`,
        ErrorCodes.PHASE_ERROR,
        `the device answered with an invalid CSW (${verdict.reason})`,
        {
          reason: verdict.reason,
          cdb: hex(cdb),
        },
        'the next command can be sent',
      );
    }
    const status = verdict.csw;
    if (status.status === CswStatus.PHASE_ERROR) {
      throw new TransportBroke(
        'phase error',
        ErrorCodes.PHASE_ERROR,
        `the device reported a phase error for CDB ${hex(cdb)} (it disagrees with the direction or length asked)`,
        {
          cdb: hex(cdb),
          direction,
          length,
        },
      );
    }
    return {
      status: status.status === CswStatus.PASSED ? ScsiStatus.GOOD : ScsiStatus.CHECK_CONDITION,
      data: direction === 'in' ? data.subarray(0, transferred) : new Uint8Array(0),
      transferred,
      residue: this.quirks.ignoreResidue ? length - transferred : status.dataResidue,
      durationNs: 0,
    };
  }

  /**
   * The CSW: what the exchange read, or a read from core with the time left. A stall is
   * cleared and the read tried once more, a zero-length packet is skipped once, both within
   * the same deadline.
   */
  private async readCsw(
    fromExchange: (TransferResult & { bytes: Uint8Array }) | undefined,
    deadline: Deadline,
    signal: AbortSignal | undefined,
    cdb: Uint8Array,
  ): Promise<Uint8Array> {
    const buffer = fromExchange ? cswBuffer(fromExchange.bytes) : new Uint8Array(CSW_LENGTH);
    const read = () => deadline.within((ms) => this.handle.bulkIn(this.endpoints.bulkIn, buffer, ms, signal));
    let result: TransferResult;
    if (fromExchange) {
      result = fromExchange;
    } else {
      result = await read();
    }
    for (let attempt = 0; ; attempt++) {
      const outcome = interpretTransfer(result, CSW_LENGTH);
      if (outcome === 'good') return buffer;
      const retryable = attempt === 0 && (outcome === 'stalled' || (outcome === 'short' && result.actualLength === 0));
      if (retryable) {
        this.options.onEvent?.({ type: 'csw-retry', reason: outcome === 'stalled' ? 'stall' : 'zero-length packet' });
        if (outcome === 'stalled') await this.clearHalt(this.endpoints.bulkIn);
        result = await read();
        continue;
      }
      if (outcome === 'short') return buffer.subarray(0, result.actualLength); // judged invalid (length)
      if (outcome === 'stalled') {
        throw new TransportBroke('CSW read stalled', ErrorCodes.STALL, `the CSW read stalled twice (CDB ${hex(cdb)})`, {
          cdb: hex(cdb),
        });
      }
      throw transferBroke(outcome, 'reading the CSW', cdb);
    }
  }

  /** Reset recovery after a broken command; the command's error stays the error, a failed reset is its `cause`. */
  private async recover(broke: TransportBroke): Promise<UsbScsiError> {
    try {
      await this.resetRecovery(broke.reason);
    } catch (resetError) {
      const why = resetError instanceof Error ? resetError.message : String(resetError);
      return new UsbScsiError(broke.code, `${broke.message}; reset recovery failed too (${why})`, {
        cause: resetError,
        details: { ...broke.details, resetFailed: true },
      });
    }
    return new UsbScsiError(
      broke.code,
      `${broke.message}; reset recovery was done${broke.hint ? ` — ${broke.hint}` : ''}`,
      { details: broke.details },
    );
  }

  /**
   * Quirk `needsStartUnit`: START STOP UNIT with START=1 (SBC-4 §5.25) once per LUN, before the
   * first command that touches the medium. Its outcome is only reported as an event: the media
   * command that follows says what the device can do.
   */
  private async startUnitBeforeMediaAccess(lun: number, opcode: number, timeoutMs: number): Promise<void> {
    if (opcode === START_STOP_UNIT) this.startedLuns.add(lun);
    if (this.startedLuns.has(lun) || !MEDIA_ACCESS_OPCODES.has(opcode)) return;
    this.startedLuns.add(lun);
    const cdb = Uint8Array.of(START_STOP_UNIT, 0, 0, 0, 0x01, 0);
    let outcome: string;
    try {
      const r = await this.executeNow({ cdb, direction: 'none', lun, timeoutMs, autoSense: false });
      outcome = r.status === ScsiStatus.GOOD ? 'good' : `status 0x${r.status.toString(16)}`;
    } catch (err) {
      if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) throw err;
      outcome = isUsbScsiError(err) ? err.code : String(err);
    }
    this.options.onEvent?.({ type: 'start-unit', lun, outcome });
  }

  private async autoSense(lun: number, timeoutMs: number) {
    this.options.onEvent?.({ type: 'auto-sense' });
    const buffer = new Uint8Array(AUTO_SENSE_LENGTH);
    const cdb = Uint8Array.of(0x03, 0, 0, 0, AUTO_SENSE_LENGTH, 0); // REQUEST SENSE (SPC-5 §6.39)
    try {
      const sense = await this.executeNow({ cdb, direction: 'in', data: buffer, lun, timeoutMs, autoSense: false });
      if (sense.status !== ScsiStatus.GOOD || sense.transferred < 8) return undefined;
      return decodeSense(sense.data);
    } catch (err) {
      if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) throw err;
      return undefined; // the command's own failure is what the caller needs to see
    }
  }

  private async clearHalt(endpoint: number): Promise<void> {
    this.options.onEvent?.({ type: 'clear-halt', endpoint });
    await this.handle.clearHalt(endpoint);
  }

  /** §5.3.4 Reset Recovery. If the class reset itself fails the device is beyond BOT's help. */
  private async resetRecovery(reason: string): Promise<void> {
    this.options.onEvent?.({ type: 'reset-recovery', reason });
    const status = await bulkOnlyReset(this.handle, this.endpoints, resetDelayMs(this.handle, this.options));
    if (status !== TransferStatus.OK) {
      throw new UsbScsiError(
        ErrorCodes.IO,
        `Bulk-Only Mass Storage Reset failed (${transferStatusName(status)}) after ${reason}; ` +
          `the device needs a port reset: usbscsi reset --port`,
        { details: { reason, resetStatus: transferStatusName(status) } },
      );
    }
  }
}

interface BotCommand {
  request: ScsiRequest;
  cbw: Uint8Array;
  lun: number;
  /** The caller's buffer (empty for no data phase or an fd data phase). */
  data: Uint8Array;
  /** dCBWDataTransferLength. */
  length: number;
  timeoutMs: number;
}

/** Host and device lost step during a command: reset recovery follows, then this becomes the thrown error. */
class TransportBroke extends Error {
  constructor(
    readonly reason: string,
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown>,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'TransportBroke';
  }
}

function transferBroke(outcome: TransferOutcome, phase: string, cdb: Uint8Array): TransportBroke {
  const reason = `${phase}: ${outcome}`;
  if (outcome === 'timeout') {
    return new TransportBroke(
      reason,
      ErrorCodes.TIMEOUT,
      `the device did not answer in time while ${phase} (CDB ${hex(cdb)})`,
      { phase, cdb: hex(cdb) },
      'raise --timeout if the command is slow',
    );
  }
  if (outcome === 'cancelled')
    return new TransportBroke(reason, ErrorCodes.CANCELLED, `cancelled while ${phase} (CDB ${hex(cdb)})`, { phase });
  if (outcome === 'stalled')
    return new TransportBroke(reason, ErrorCodes.STALL, `the device stalled while ${phase} (CDB ${hex(cdb)})`, {
      phase,
    });
  return new TransportBroke(reason, ErrorCodes.IO, `transfer ${outcome} while ${phase} (CDB ${hex(cdb)})`, {
    phase,
    outcome,
  });
}

const CSW_SIGNATURE_BYTES = [0x55, 0x53, 0x42, 0x53]; // 'USBS'

function isSignedCsw(bytes: Uint8Array): boolean {
  return bytes.length === CSW_LENGTH && CSW_SIGNATURE_BYTES.every((b, i) => bytes[i] === b);
}

/** The 13 bytes a file-streamed data-in phase wrote at `position` (fewer if the file is shorter). */
async function readFirstBytes(fd: number, position: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(CSW_LENGTH);
  const n = await new Promise<number>((resolve) =>
    read(fd, bytes, 0, CSW_LENGTH, position, (err, got) => resolve(err ? 0 : got)),
  );
  return bytes.subarray(0, n);
}

/** The CSW of a plain success: signature, the command's tag, residue 0, status 0 (BOT 1.0 §5.2). */
function plainCsw(tag: number): Uint8Array {
  const csw = new Uint8Array(CSW_LENGTH);
  csw.set(CSW_SIGNATURE_BYTES);
  new DataView(csw.buffer).setUint32(4, tag, true);
  return csw;
}

function decodeTag(cbw: Uint8Array): number {
  return (cbw[4]! | (cbw[5]! << 8) | (cbw[6]! << 16) | (cbw[7]! << 24)) >>> 0;
}

function ignoreGone(err: unknown): void {
  if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) return;
  throw err;
}

export const hex = (bytes: Uint8Array): string => hexBytes(bytes, ' ');

/** The CSW's 13 bytes in a buffer of their own (what the exchange reported may be reused). */
function cswBuffer(bytes: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(CSW_LENGTH);
  buffer.set(bytes.subarray(0, CSW_LENGTH));
  return buffer;
}

function resetDelayMs(handle: UsbDeviceHandle, options: BotTransportOptions): number {
  return options.resetDelayMs ?? handle.capabilities.resetRecoveryMs ?? DEFAULT_RESET_DELAY_MS;
}
