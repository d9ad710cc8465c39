import { ErrorCodes, UsbScsiError, badInput, isUsbScsiError } from '../errors.js';
import { decodeSense } from '../scsi/sense.js';
import {
  MSC_PROTOCOL_BOT,
  MSC_PROTOCOL_UAS,
  USB_CLASS_MASS_STORAGE,
  type BotExchangeRequest,
  type BotExchangeResult,
  type InterfaceDescriptor,
  type TransferBuffer,
  type TransferResult,
  type UsbDeviceHandle,
} from '../usb/backend.js';
import { DEFAULT_TIMEOUT_MS, ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from '../transport.js';
import { type BotQuirks, quirksFor } from './quirks.js';
import { interpretTransfer } from './transfer-outcome.js';
import { CSW_LENGTH, CswStatus, encodeCommandBlockWrapper, judgeCommandStatusWrapper } from './wrappers.js';
import { hexBytes } from '../hex.js';

/** Class-specific requests, BOT 1.0 §3. */
const BULK_ONLY_RESET = 0xff;
const GET_MAX_LUN = 0xfe;
const CLASS_INTERFACE_OUT = 0x21;
const CLASS_INTERFACE_IN = 0xa1;
/** GET_INTERFACE (USB 2.0 §9.4.4): the current alternate setting of an interface. */
const GET_INTERFACE = 0x0a;
const STANDARD_INTERFACE_IN = 0x81;
const CONTROL_TIMEOUT_MS = 5_000;
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
  /** Pause after the class reset before clearing the halts (Linux waits too). Default 100 ms. */
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

export type BotEvent =
  | { type: 'reset-recovery'; reason: string }
  | { type: 'select-alternate'; alternateSetting: number; current: number | null }
  | { type: 'clear-halt'; endpoint: number }
  | { type: 'csw-retry'; reason: string }
  | { type: 'auto-sense' };

interface BotEndpoints {
  interfaceNumber: number;
  alternateSetting: number;
  bulkIn: number;
  bulkOut: number;
  maxPacketSize: number;
}

/** Picks the BOT alternate setting of a mass-storage interface, or says why there is none. */
export function findBotInterface(interfaces: InterfaceDescriptor[], interfaceNumber?: number): BotEndpoints {
  const storage = interfaces.filter(
    (i) => i.interfaceClass === USB_CLASS_MASS_STORAGE && (interfaceNumber === undefined || i.interfaceNumber === interfaceNumber),
  );
  if (storage.length === 0) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      interfaceNumber === undefined
        ? 'the device has no USB mass-storage interface (class 08)'
        : `interface ${interfaceNumber} is not a USB mass-storage interface (class 08)`,
    );
  }
  const bot = storage.find((i) => i.interfaceProtocol === MSC_PROTOCOL_BOT);
  if (!bot) {
    const uas = storage.some((i) => i.interfaceProtocol === MSC_PROTOCOL_UAS);
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      uas
        ? 'the mass-storage interface speaks UAS only (protocol 0x62, no Bulk-Only alternate setting): BOT cannot drive it; on Linux use the SG_IO transport (--backend sg / transport: "sg")'
        : `the mass-storage interface uses protocol 0x${storage[0]!.interfaceProtocol.toString(16)}, not Bulk-Only (0x50)`,
      { details: { protocols: storage.map((i) => i.interfaceProtocol) } },
    );
  }
  const bulkIn = bot.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) !== 0);
  const bulkOut = bot.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) === 0);
  if (!bulkIn || !bulkOut) {
    throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `BOT interface ${bot.interfaceNumber} lacks a bulk-in or bulk-out endpoint`);
  }
  return {
    interfaceNumber: bot.interfaceNumber,
    alternateSetting: bot.alternateSetting,
    bulkIn: bulkIn.address,
    bulkOut: bulkOut.address,
    maxPacketSize: bulkIn.maxPacketSize,
  };
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
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

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
          `the OS storage driver holds interface ${endpoints.interfaceNumber}: take a handoff lease (it unmounts and detaches safely) or use the SG_IO transport (--backend sg)`,
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
        options.onEvent?.({ type: 'reset-recovery', reason: 'open: a previous holder may have left a command unfinished' });
        // A device that refuses the class request (it should not) still gets its halts cleared.
        await bulkOnlyReset(handle, endpoints, options.resetDelayMs ?? 100, true);
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
    return Boolean(this.handle.botExchange && this.handle.capabilities.botExchange && this.handle.capabilities.fdStreaming);
  }

  get interfaceNumber(): number {
    return this.endpoints.interfaceNumber;
  }

  execute(request: ScsiRequest): Promise<ScsiResult> {
    const run = this.queue.then(() => this.executeNow(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Bulk-Only Mass Storage Reset, then CLEAR_FEATURE(HALT) on both bulk endpoints (§5.3.4). */
  reset(): Promise<void> {
    const run = this.queue.then(() => this.resetRecovery('requested'));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.handle.releaseInterface(this.endpoints.interfaceNumber).catch(ignoreGone);
      if (this.detachedKernelDriver) await this.handle.attachKernelDriver(this.endpoints.interfaceNumber).catch(ignoreGone);
    } finally {
      await this.handle.close().catch(ignoreGone);
    }
  }

  private nextTag(): number {
    this.tag = (this.tag + 1) >>> 0;
    return this.tag;
  }

  private async executeNow(request: ScsiRequest): Promise<ScsiResult> {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the transport is closed; open the device again');
    const started = process.hrtime.bigint();
    const { cdb, direction } = request;
    const lun = request.lun ?? 0;
    if (lun > this.maxLun) throw badInput(`LUN ${lun} does not exist: the device reports LUNs 0..${this.maxLun}`);
    const data = request.data ?? new Uint8Array(0);
    const dataFd = request.dataFd;
    if (direction === 'none' && (data.length > 0 || dataFd)) throw badInput("direction 'none' takes no data buffer");
    if (direction !== 'none' && request.data === undefined && !dataFd) throw badInput(`direction '${direction}' needs a data buffer`);
    if (dataFd && request.data) throw badInput('give either data or dataFd, not both');
    if (dataFd && !this.fdStreaming) {
      throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `the ${this.handle.info.backend} backend cannot stream a data phase to a file descriptor; pass a buffer`);
    }
    if (dataFd && (!Number.isSafeInteger(dataFd.length) || dataFd.length <= 0 || dataFd.length > 0xffff_ffff)) {
      throw badInput(`dataFd.length must be 1..4294967295 bytes; got ${dataFd.length}`);
    }
    if (request.signal?.aborted) throw new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before the command was sent');

    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const length = direction === 'none' ? 0 : (dataFd?.length ?? data.length);
    const tag = this.nextTag();
    const cbw = encodeCommandBlockWrapper({ tag, dataTransferLength: length, dataIn: direction === 'in', lun, cdb });
    const { bulkIn, bulkOut } = this.endpoints;
    const { signal } = request;

    let exchange: BotExchangeResult | undefined;
    if (this.handle.botExchange && this.handle.capabilities.botExchange) {
      // Assigned field by field (no conditional spreads): this runs once per command.
      const fast: BotExchangeRequest = { cbw, outEndpoint: bulkOut, inEndpoint: bulkIn, timeoutMs };
      if (length > 0) {
        const dir = direction as 'in' | 'out';
        fast.data = dataFd ? { direction: dir, fd: dataFd.fd, length: dataFd.length, position: dataFd.position } : { direction: dir, buffer: data };
      }
      if (this.options.chunkSize) fast.chunkSize = this.options.chunkSize;
      if (this.options.depth) fast.depth = this.options.depth;
      if (signal) fast.signal = signal;
      exchange = await this.handle.botExchange(fast);
    }

    // Command transport (§5.3.1): the CBW must go out whole.
    const cbwResult = exchange?.cbw ?? (await this.handle.bulkOut(bulkOut, cbw, timeoutMs, signal));
    const cbwOutcome = interpretTransfer(cbwResult, cbw.length);
    if (cbwOutcome !== 'good') {
      await this.resetRecovery(`CBW transfer ${cbwOutcome}`);
      throw this.transferFailure(cbwOutcome, 'sending the CBW', cdb);
    }

    // Data transport (§5.3.2): a stall ends the phase; clear it and go on to the CSW.
    let transferred = 0;
    if (length > 0) {
      if (dataFd && !exchange?.data) {
        await this.resetRecovery('fast path returned no data phase');
        throw new UsbScsiError(ErrorCodes.IO, 'the native engine reported no data phase for a file-streamed command; reset recovery was done');
      }
      const dataResult =
        exchange?.data ??
        (direction === 'in'
          ? await this.handle.bulkIn(bulkIn, data, timeoutMs, signal)
          : await this.handle.bulkOut(bulkOut, data, timeoutMs, signal));
      transferred = dataResult.actualLength;
      const outcome = interpretTransfer(dataResult, length);
      if (outcome === 'stalled') {
        await this.clearHalt(direction === 'in' ? bulkIn : bulkOut);
      } else if (outcome === 'long') {
        // The device sent more than dCBWDataTransferLength (case Hi < Di): we have lost step.
        await this.resetRecovery('data phase overflow');
        throw new UsbScsiError(
          ErrorCodes.OVERFLOW,
          `the device sent more data than the ${length} bytes asked for (CDB ${hex(cdb)}); ask for the full allocation length`,
          { details: { requested: length } },
        );
      } else if (outcome === 'timeout' || outcome === 'cancelled') {
        await this.resetRecovery(`data phase ${outcome}`);
        throw this.transferFailure(outcome, 'the data phase', cdb);
      }
    }

    // Status transport (§5.3.3).
    const cswBytes = await this.readCsw(exchange?.csw, timeoutMs, signal, cdb);
    const verdict = judgeCommandStatusWrapper(cswBytes, tag, length, {
      badSignature: this.quirks.tolerateBadCswSignature,
      ignoreResidue: this.quirks.ignoreResidue,
    });
    if (!verdict.ok) {
      await this.resetRecovery(`invalid CSW (${verdict.reason})`);
      throw new UsbScsiError(
        ErrorCodes.PHASE_ERROR,
        `the device answered with an invalid CSW (${verdict.reason}); reset recovery was done, the next command can be sent`,
        { details: { reason: verdict.reason, cdb: hex(cdb) } },
      );
    }
    const csw = verdict.csw;
    if (csw.status === CswStatus.PHASE_ERROR) {
      await this.resetRecovery('phase error');
      throw new UsbScsiError(
        ErrorCodes.PHASE_ERROR,
        `the device reported a phase error for CDB ${hex(cdb)} (it disagrees with the direction or length asked); reset recovery was done`,
        { details: { cdb: hex(cdb), direction, length } },
      );
    }

    const residue = this.quirks.ignoreResidue ? length - transferred : csw.dataResidue;
    const result: ScsiResult = {
      status: csw.status === CswStatus.PASSED ? ScsiStatus.GOOD : ScsiStatus.CHECK_CONDITION,
      data: direction === 'in' ? data.subarray(0, transferred) : new Uint8Array(0),
      transferred,
      residue,
      durationNs: 0,
    };
    if (csw.status === CswStatus.FAILED && request.autoSense !== false) {
      const sense = await this.autoSense(lun, timeoutMs);
      if (sense) result.sense = sense;
    }
    result.durationNs = Number(process.hrtime.bigint() - started);
    return result;
  }

  /** Reads the CSW; a stall is cleared and the read tried once more, a zero-length packet is skipped once. */
  private async readCsw(
    fromFastPath: (TransferResult & { bytes: Uint8Array }) | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    cdb: Uint8Array,
  ): Promise<Uint8Array> {
    const buffer = new Uint8Array(CSW_LENGTH);
    let result: TransferResult;
    if (fromFastPath) {
      result = fromFastPath;
      buffer.set(fromFastPath.bytes.subarray(0, CSW_LENGTH));
    } else {
      result = await this.handle.bulkIn(this.endpoints.bulkIn, buffer, timeoutMs, signal);
    }
    for (let attempt = 0; ; attempt++) {
      const outcome = interpretTransfer(result, CSW_LENGTH);
      if (outcome === 'good') return buffer;
      const retryable = attempt === 0 && (outcome === 'stalled' || (outcome === 'short' && result.actualLength === 0));
      if (retryable) {
        this.options.onEvent?.({ type: 'csw-retry', reason: outcome === 'stalled' ? 'stall' : 'zero-length packet' });
        if (outcome === 'stalled') await this.clearHalt(this.endpoints.bulkIn);
        result = await this.handle.bulkIn(this.endpoints.bulkIn, buffer, timeoutMs, signal);
        continue;
      }
      if (outcome === 'short') return buffer.subarray(0, result.actualLength); // judged invalid (length)
      await this.resetRecovery(`CSW read ${outcome}`);
      if (outcome === 'stalled') {
        throw new UsbScsiError(ErrorCodes.STALL, `the CSW read stalled twice (CDB ${hex(cdb)}); reset recovery was done`, {
          details: { cdb: hex(cdb) },
        });
      }
      throw this.transferFailure(outcome, 'reading the CSW', cdb);
    }
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
    const status = await bulkOnlyReset(this.handle, this.endpoints, this.options.resetDelayMs ?? 100);
    if (status !== 'ok') {
      throw new UsbScsiError(
        ErrorCodes.IO,
        `Bulk-Only Mass Storage Reset failed (${status}) after ${reason}; the device needs a port reset: usbscsi reset --port`,
        { details: { reason, resetStatus: status } },
      );
    }
  }

  private transferFailure(outcome: string, phase: string, cdb: Uint8Array): UsbScsiError {
    if (outcome === 'timeout') {
      return new UsbScsiError(ErrorCodes.TIMEOUT, `the device did not answer in time while ${phase} (CDB ${hex(cdb)}); reset recovery was done — raise --timeout if the command is slow`, {
        details: { phase, cdb: hex(cdb) },
      });
    }
    if (outcome === 'cancelled') {
      return new UsbScsiError(ErrorCodes.CANCELLED, `cancelled while ${phase} (CDB ${hex(cdb)}); reset recovery was done`, { details: { phase } });
    }
    if (outcome === 'stalled') {
      return new UsbScsiError(ErrorCodes.STALL, `the device stalled while ${phase} (CDB ${hex(cdb)}); reset recovery was done`, { details: { phase } });
    }
    return new UsbScsiError(ErrorCodes.IO, `transfer ${outcome} while ${phase} (CDB ${hex(cdb)}); reset recovery was done`, { details: { phase, outcome } });
  }
}

/**
 * Bulk-Only Mass Storage Reset, a pause, then CLEAR_FEATURE(HALT) on both bulk endpoints
 * (after a failed reset only with `clearAnyway`). Returns the class request's status.
 */
async function bulkOnlyReset(handle: UsbDeviceHandle, endpoints: BotEndpoints, delayMs: number, clearAnyway = false): Promise<string> {
  const { interfaceNumber, bulkIn, bulkOut } = endpoints;
  const reset = await handle.controlTransfer(
    { requestType: CLASS_INTERFACE_OUT, request: BULK_ONLY_RESET, value: 0, index: interfaceNumber },
    new Uint8Array(0),
    CONTROL_TIMEOUT_MS,
  );
  if (reset.status !== 'ok' && !clearAnyway) return reset.status;
  if (reset.status === 'ok' && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  await handle.clearHalt(bulkIn);
  await handle.clearHalt(bulkOut);
  return reset.status;
}

/**
 * SET_INTERFACE only when another alternate setting is current: a device may take it as a reset
 * (the kernel's f_mass_storage raises UNIT ATTENTION 06/29/00 on every one). An interface with a
 * single alternate setting cannot be elsewhere; otherwise GET_INTERFACE says where it is (a UAS
 * driver may have left alt 1). A device that does not answer GET_INTERFACE gets SET_INTERFACE.
 */
async function selectAlternateSetting(
  handle: UsbDeviceHandle,
  interfaces: InterfaceDescriptor[],
  endpoints: BotEndpoints,
  onEvent: ((event: BotEvent) => void) | undefined,
): Promise<void> {
  const { interfaceNumber, alternateSetting } = endpoints;
  const alternates = interfaces.filter((i) => i.interfaceNumber === interfaceNumber);
  if (alternates.length === 1 && alternates[0]!.alternateSetting === alternateSetting) return;
  const answer = await handle.controlTransfer(
    { requestType: STANDARD_INTERFACE_IN, request: GET_INTERFACE, value: 0, index: interfaceNumber },
    1,
    CONTROL_TIMEOUT_MS,
  );
  const current = answer.status === 'ok' && answer.actualLength === 1 && answer.data ? answer.data[0]! : null;
  if (current === alternateSetting) return;
  onEvent?.({ type: 'select-alternate', alternateSetting, current });
  await handle.setAlternateSetting(interfaceNumber, alternateSetting);
}

/** GET MAX LUN (§3.2). A stall (or any failure) means the device has one LUN. */
export async function getMaxLun(handle: UsbDeviceHandle, interfaceNumber: number): Promise<number> {
  const result = await handle.controlTransfer(
    { requestType: CLASS_INTERFACE_IN, request: GET_MAX_LUN, value: 0, index: interfaceNumber },
    1,
    CONTROL_TIMEOUT_MS,
  );
  if (result.status !== 'ok' || result.actualLength < 1 || !result.data) return 0;
  const maxLun = result.data[0]!;
  return maxLun <= 15 ? maxLun : 0;
}

function ignoreGone(err: unknown): void {
  if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) return;
  throw err;
}

export const hex = (bytes: Uint8Array): string => hexBytes(bytes, ' ');
