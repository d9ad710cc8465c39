import type { ControlSetup } from '@usbscsi/core/usb';
import { FaultInjector } from '../faults.js';
import { Sense, type SenseSpec } from '../scsi/sense.js';
import type { ScsiTarget } from '../scsi/target.js';
import type { HostDirection, TargetResult } from '../scsi/types.js';
import { answerControl } from './class-requests.js';
import { CommandFaults } from './fault-overlay.js';
import {
  emptyStats,
  type BotDeviceStats,
  type BulkInOutcome,
  type BulkOutOutcome,
  type CommandRecord,
  type ControlOutcome,
} from './types.js';
import { CswStatus, encodeCsw, isMeaningfulCbw, isValidCbw, parseCbw, type ReceivedCbw } from './wrappers.js';

export interface BotDeviceOptions {
  target: ScsiTarget;
  faults?: FaultInjector;
  interfaceNumber?: number;
  inEndpoint?: number;
  outEndpoint?: number;
  /** Bulk wMaxPacketSize: decides whether a short data-in can end with a short packet (default 512). */
  maxPacketSize?: number;
  /**
   * Always stall bulk-in when the device has less data than the host asked (Hi > Di), even when a short packet
   * would do.
   */
  stallOnShortDataIn?: boolean;
  /** Asked to drop off the bus (the `disconnect` fault). */
  onDisconnectRequest?: () => void;
}

type Phase = 'data-out' | 'executing' | 'data-in' | 'csw';

interface Exchange {
  cbw: ReceivedCbw;
  record: CommandRecord;
  hostDirection: HostDirection;
  hostLength: number;
  phase: Phase;
  faults: CommandFaults;
  // data-out
  outExpected: number;
  outChunks: Uint8Array[];
  outReceived: number;
  outStallAt?: number;
  // data-in
  dataIn: Uint8Array;
  inSent: number;
  inStallAt?: number;
  babble: boolean;
  /** Wakes parked transfers when a delayed phase is due. */
  wakeTimer?: ReturnType<typeof setTimeout>;
  // CSW
  cswStatus: number;
  residue: number;
}

const HISTORY_LIMIT = 1000;

/**
 * Device side of USB MSC Bulk-Only Transport 1.0, byte-oriented so that any
 * transport can drive it: the in-process {@link EmulatorBackend}, or a
 * FunctionFS adapter reading and writing endpoint files.
 *
 * The host's transfers arrive as {@link offerBulkOut} (bytes the host sent)
 * and {@link pollBulkIn} (the host asks for up to N bytes); both are
 * synchronous and atomic, so a transfer that the host cancels never loses
 * data. `nak` means "not now": wait for {@link onChange} and ask again (or use
 * the async {@link onBulkOut} / {@link nextBulkIn}, which do exactly that).
 * Control requests on ep0 go to {@link control}.
 *
 * Halt state per bulk endpoint: a halted endpoint stalls every transfer until
 * CLEAR_FEATURE(ENDPOINT_HALT); after an invalid CBW both stay halted (clear
 * halt has no effect) until a Bulk-Only Mass Storage Reset (§6.6.1, §5.3.4).
 *
 * This file is the §6.7 phase machine. Injected faults bend it only at the
 * hooks of {@link CommandFaults} (fault-overlay.ts); ep0's requests are
 * answered by class-requests.ts.
 */
export class BotDevice {
  readonly target: ScsiTarget;
  readonly faults: FaultInjector;
  readonly interfaceNumber: number;
  readonly inEndpoint: number;
  readonly outEndpoint: number;
  readonly maxPacketSize: number;
  stats: BotDeviceStats = emptyStats();
  private readonly stallOnShortDataIn: boolean;
  private readonly onDisconnectRequest: (() => void) | undefined;
  private exchange: Exchange | null = null;
  private halted = { in: false, out: false };
  private wedged = { in: false, out: false };
  /** CBWs are NAKed until reset (the `no-response` fault in the CBW phase). */
  private deaf = false;
  private generation = 0;
  private readonly listeners = new Set<() => void>();

  constructor(options: BotDeviceOptions) {
    this.target = options.target;
    this.faults = options.faults ?? new FaultInjector();
    this.interfaceNumber = options.interfaceNumber ?? 0;
    this.inEndpoint = options.inEndpoint ?? 0x81;
    this.outEndpoint = options.outEndpoint ?? 0x02;
    this.maxPacketSize = options.maxPacketSize ?? 512;
    this.stallOnShortDataIn = options.stallOnShortDataIn ?? false;
    this.onDisconnectRequest = options.onDisconnectRequest;
  }

  /**
   * Where the device is: `cbw` (idle, waiting for a command), a command phase, or `needs-reset` after an invalid
   * CBW.
   */
  get state(): 'cbw' | Phase | 'needs-reset' {
    if (this.wedged.in || this.wedged.out) return 'needs-reset';
    return this.exchange?.phase ?? 'cbw';
  }

  isHalted(endpoint: number): boolean {
    return endpoint === this.inEndpoint ? this.halted.in : endpoint === this.outEndpoint ? this.halted.out : false;
  }

  /** Called whenever something a parked transfer waits for may have changed. Returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- bulk-out ----------------------------------------------------------

  offerBulkOut(bytes: Uint8Array): BulkOutOutcome {
    if (this.halted.out) return { status: 'stall', accepted: 0 };
    const ex = this.exchange;
    if (!ex) return this.receiveCbw(bytes);
    if (ex.phase !== 'data-out') return { status: 'nak' };
    if (ex.faults.naks('data')) return this.nakUntilDue(ex, 'data');
    return this.receiveData(ex, bytes);
  }

  /**
   * {@link offerBulkOut}, waiting while the device NAKs, for bytes the host has already sent (a
   * gadget's UDC accepts them before the device sees them). Bytes still waiting when a reset
   * comes belonged to the command it aborted: they are dropped, not taken as the next CBW.
   */
  async onBulkOut(bytes: Uint8Array, signal?: AbortSignal): Promise<{ status: 'ok' | 'stall'; accepted: number }> {
    const generation = this.generation;
    for (;;) {
      if (this.generation !== generation) return { status: 'ok', accepted: 0 };
      const outcome = this.offerBulkOut(bytes);
      if (outcome.status !== 'nak') return outcome;
      await this.changed(signal);
    }
  }

  private receiveCbw(bytes: Uint8Array): BulkOutOutcome {
    if (this.deaf) return { status: 'nak' };
    if (!isValidCbw(bytes)) {
      this.stats.invalidCbws++;
      this.halted = { in: true, out: true };
      this.wedged = { in: true, out: true };
      this.emit();
      return { status: 'ok', accepted: bytes.length };
    }
    const cbw = parseCbw(bytes);
    if (!isMeaningfulCbw(cbw)) {
      this.stats.notMeaningfulCbws++;
      this.halted = { in: true, out: true };
      this.emit();
      return { status: 'ok', accepted: bytes.length };
    }
    const opcode = cbw.cdb[0] ?? 0;
    const index = this.stats.commands + 1;
    const ctx = { opcode, lun: cbw.lun, commandIndex: index };
    const { refusal, noResponse } = CommandFaults.refuseCbw(this.faults, ctx);
    if (refusal === 'nak-until-reset') {
      this.deaf = true;
      return { status: 'nak' };
    }
    if (refusal === 'stall') {
      this.halted.out = true;
      this.emit();
      return { status: 'stall', accepted: 0 };
    }
    this.stats.commands = index;
    this.stats.lastCbw = cbw;
    const hostDirection: HostDirection = cbw.dataTransferLength === 0 ? 'none' : cbw.directionIn ? 'in' : 'out';
    const record: CommandRecord = {
      index,
      tag: cbw.tag,
      lun: cbw.lun,
      opcode,
      cdb: cbw.cdb,
      hostDirection,
      hostLength: cbw.dataTransferLength,
      faults: [],
      transferred: 0,
    };
    this.stats.history.push(record);
    if (this.stats.history.length > HISTORY_LIMIT) this.stats.history.shift();

    const faults = new CommandFaults(this.faults, ctx, hostDirection, noResponse, (kind) => record.faults.push(kind));

    const ex: Exchange = {
      cbw,
      record,
      hostDirection,
      hostLength: cbw.dataTransferLength,
      phase: 'executing',
      faults,
      outExpected: 0,
      outChunks: [],
      outReceived: 0,
      dataIn: new Uint8Array(0),
      inSent: 0,
      babble: false,
      cswStatus: CswStatus.PASSED,
      residue: 0,
    };
    this.exchange = ex;
    this.begin(ex);
    if (faults.has('disconnect')) setImmediate(() => this.onDisconnectRequest?.());
    this.emit();
    return { status: 'ok', accepted: bytes.length };
  }

  /** Decides the §6.7 case from the host's expectation (CBW) and the device's (CDB). */
  private begin(ex: Exchange): void {
    const plan = this.target.plan(ex.cbw.lun, ex.cbw.cdb, ex.hostDirection, ex.hostLength);
    const deviceOut = plan.direction === 'out' && plan.length > 0;
    switch (ex.hostDirection) {
      case 'none':
        if (deviceOut) {
          this.toCsw(ex, CswStatus.PHASE_ERROR, 0);
          return;
        } // case 3: Hn < Do
        {
          this.execute(ex, new Uint8Array(0), (result) => {
            // case 2 (Hn < Di) is a phase error; case 1 (Hn = Dn) reports the command status
            this.toCsw(ex, result.data.length > 0 ? CswStatus.PHASE_ERROR : statusOf(result), 0);
          });
          return;
        }
      case 'in':
        if (deviceOut) {
          // case 8: Hi <> Do
          this.halted.in = true;
          this.toCsw(ex, CswStatus.PHASE_ERROR, ex.hostLength);
          return;
        }
        {
          this.execute(ex, new Uint8Array(0), (result) => this.toDataIn(ex, result));
          return;
        }
      case 'out':
        if (plan.direction === 'in') {
          // case 10: Ho <> Di
          this.halted.out = true;
          this.toCsw(ex, CswStatus.PHASE_ERROR, ex.hostLength);
          return;
        }
        if (!deviceOut) {
          // case 9: Ho > Dn: run it, refuse the data
          this.halted.out = true;
          this.execute(ex, new Uint8Array(0), (result) => this.toCsw(ex, statusOf(result), ex.hostLength));
          return;
        }
        {
          ex.phase = 'data-out';
          ex.outExpected = plan.length;
          const stallAt = ex.faults.dataOutStallAt(plan.length);
          if (stallAt !== undefined) ex.outStallAt = stallAt;
        }
        return;
    }
  }

  private receiveData(ex: Exchange, bytes: Uint8Array): BulkOutOutcome {
    const limit = Math.min(ex.outExpected, ex.hostLength, ex.outStallAt ?? Number.POSITIVE_INFINITY) - ex.outReceived;
    const take = Math.min(bytes.length, Math.max(0, limit));
    if (take > 0) ex.outChunks.push(bytes.slice(0, take));
    ex.outReceived += take;
    ex.record.transferred = ex.outReceived;
    if (ex.outStallAt !== undefined && ex.outReceived >= ex.outStallAt) {
      // injected: the device gives up on the data phase
      this.halted.out = true;
      this.failDataPhase(ex, ex.hostLength - ex.outReceived);
      return { status: 'stall', accepted: take };
    }
    if (take < bytes.length) {
      // case 11 (Ho > Do): take Do, stall the rest
      this.halted.out = true;
      this.finishDataOut(ex);
      return { status: 'stall', accepted: take };
    }
    if (ex.outReceived === ex.outExpected) {
      // case 11: more is coming that the device will not take
      if (ex.outExpected < ex.hostLength) this.halted.out = true;
      this.finishDataOut(ex);
    } else if (ex.outReceived === ex.hostLength) {
      this.toCsw(ex, CswStatus.PHASE_ERROR, 0); // case 13 (Ho < Do): not executed, nothing partial is written
      this.emit(); // a gadget's IN side waits for this to send the CSW
    }
    return { status: 'ok', accepted: take };
  }

  private finishDataOut(ex: Exchange): void {
    const data = concatChunks(ex.outChunks, ex.outReceived);
    ex.outChunks = [];
    this.execute(ex, data, (result) => this.toCsw(ex, statusOf(result), ex.hostLength - ex.outExpected));
  }

  // ---- bulk-in -----------------------------------------------------------

  pollBulkIn(maxLength: number): BulkInOutcome {
    if (this.halted.in) return { status: 'stall', data: new Uint8Array(0) };
    const ex = this.exchange;
    if (!ex || ex.phase === 'data-out' || ex.phase === 'executing') return { status: 'nak' };
    if (ex.phase === 'data-in') return this.sendData(ex, maxLength);
    return this.sendCsw(ex);
  }

  /** {@link pollBulkIn}, waiting while the device NAKs. */
  async nextBulkIn(maxLength: number, signal?: AbortSignal): Promise<{ status: 'ok' | 'stall'; data: Uint8Array }> {
    for (;;) {
      const outcome = this.pollBulkIn(maxLength);
      if (outcome.status !== 'nak') return outcome;
      await this.changed(signal);
    }
  }

  private toDataIn(ex: Exchange, result: TargetResult): void {
    let data = result.data;
    let status = statusOf(result);
    let residue: number;
    if (data.length > ex.hostLength) {
      data = data.subarray(0, ex.hostLength); // case 7: Hi < Di
      status = CswStatus.PHASE_ERROR;
      residue = 0;
    } else residue = ex.hostLength - data.length; // cases 4, 5, 6
    const shaped = ex.faults.shapeDataIn({ data, status, residue }, ex.hostLength, this.maxPacketSize);
    if (shaped.dataPhaseError) this.holdSense(ex, Sense.dataPhaseError());
    if (shaped.stallAt !== undefined) ex.inStallAt = shaped.stallAt;
    ex.babble = shaped.babble;
    ex.dataIn = shaped.data;
    ex.cswStatus = shaped.status;
    ex.residue = shaped.residue;
    ex.phase = shaped.skipToCsw ? 'csw' : 'data-in';
  }

  private sendData(ex: Exchange, maxLength: number): BulkInOutcome {
    if (ex.faults.naks('data')) return this.nakUntilDue(ex, 'data');
    const total = ex.dataIn.length;
    if (ex.inStallAt !== undefined && ex.inSent >= ex.inStallAt) return this.stallIn(ex, new Uint8Array(0));
    let limit = ex.babble ? total - ex.inSent : Math.min(total - ex.inSent, maxLength);
    if (ex.inStallAt !== undefined) limit = Math.min(limit, ex.inStallAt - ex.inSent);
    // The device sends whole packets: a host transfer that is not a multiple of wMaxPacketSize and
    // ends inside the data gets the whole last packet (babble) — real hardware does the same.
    const remaining = total - ex.inSent;
    const overrun =
      !ex.babble && ex.inStallAt === undefined && maxLength % this.maxPacketSize !== 0 && remaining > maxLength;
    if (overrun) limit = Math.min(remaining, Math.ceil(maxLength / this.maxPacketSize) * this.maxPacketSize);
    const chunk = ex.dataIn.subarray(ex.inSent, ex.inSent + limit);
    ex.inSent += chunk.length;
    ex.record.transferred = Math.min(ex.inSent, ex.hostLength);
    if (overrun) return { status: 'ok', data: chunk }; // longer than asked: the host sees overflow
    if (ex.inStallAt !== undefined && ex.inSent >= ex.inStallAt) {
      // injected stall: ends this transfer, or (if it is already full) the host's next IN
      return chunk.length < maxLength ? this.stallIn(ex, chunk) : { status: 'ok', data: chunk };
    }
    if (ex.babble) {
      ex.phase = 'csw';
      return { status: 'ok', data: chunk };
    }
    if (ex.inSent < total) return { status: 'ok', data: chunk };
    if (ex.inSent >= ex.hostLength) {
      ex.phase = 'csw';
      return { status: 'ok', data: chunk };
    }
    // The device has less than the host asked for (Hi > Di).
    const shortPacketEnds = chunk.length < maxLength && chunk.length % this.maxPacketSize !== 0;
    if (shortPacketEnds && !this.stallOnShortDataIn) {
      ex.phase = 'csw';
      return { status: 'ok', data: chunk };
    }
    // the host's transfer is full; the stall comes on its next one
    if (chunk.length === maxLength && chunk.length > 0) return { status: 'ok', data: chunk };
    return this.stallIn(ex, chunk);
  }

  private stallIn(ex: Exchange, chunk: Uint8Array): BulkInOutcome {
    this.halted.in = true;
    ex.phase = 'csw';
    this.emit();
    return { status: 'stall', data: chunk };
  }

  private sendCsw(ex: Exchange): BulkInOutcome {
    if (ex.faults.naks('csw')) return this.nakUntilDue(ex, 'csw');
    if (ex.faults.stallsCsw()) {
      this.halted.in = true;
      this.emit();
      return { status: 'stall', data: new Uint8Array(0) };
    }
    const { tag, status, signature } = ex.faults.cswFields(ex.cbw.tag, ex.cswStatus);
    const csw = encodeCsw(tag, ex.residue, status, signature);
    ex.record.cswStatus = ex.cswStatus;
    ex.record.residue = ex.residue;
    this.stats.cswsSent++;
    this.stats.lastCsw = csw;
    this.exchange = null;
    this.emit();
    return { status: 'ok', data: csw };
  }

  // ---- command execution -------------------------------------------------

  private execute(ex: Exchange, dataOut: Uint8Array, then: (result: TargetResult) => void): void {
    ex.phase = 'executing';
    const generation = this.generation;
    const notReady = ex.faults.notReady;
    const injectedSense: SenseSpec | undefined = notReady
      ? notReady === 'medium-not-present'
        ? Sense.mediumNotPresent()
        : Sense.becomingReady()
      : undefined;
    // Detached on purpose: a real device acknowledges the CBW at once and runs the command while the
    // host's next bulk transfer NAKs in the 'executing' phase; the result lands through `then`. A target
    // failure becomes CHECK CONDITION below; a throw from `then` is an emulator bug and stays unhandled.
    void this.target
      .execute(
        {
          lun: ex.cbw.lun,
          cdb: ex.cbw.cdb,
          dataOut,
          hostDirection: ex.hostDirection,
          hostLength: ex.hostLength,
          tag: ex.cbw.tag,
        },
        injectedSense ? { injectedSense } : {},
      )
      .catch((): TargetResult => ({ status: 0x02, data: new Uint8Array(0), sense: Sense.internalTargetFailure() }))
      .then((result) => {
        // reset while it ran: the result goes nowhere
        if (generation !== this.generation || this.exchange !== ex) return;
        ex.record.scsiStatus = result.status;
        then(result);
        this.emit();
      });
  }

  private toCsw(ex: Exchange, status: number, residue: number): void {
    ex.cswStatus = status;
    ex.residue = residue;
    ex.phase = 'csw';
    if (ex.faults.has('phase-error')) ex.cswStatus = CswStatus.PHASE_ERROR;
  }

  private failDataPhase(ex: Exchange, residue: number): void {
    this.holdSense(ex, Sense.dataPhaseError());
    this.toCsw(ex, CswStatus.FAILED, residue);
    this.emit();
  }

  private holdSense(ex: Exchange, sense: SenseSpec): void {
    const unit = this.target.units[ex.cbw.lun];
    if (unit) unit.pendingSense = sense;
  }

  // ---- ep0 ---------------------------------------------------------------

  /** Class and endpoint requests of the BOT interface. `data`: OUT bytes, or the IN length asked for. */
  async control(setup: ControlSetup, data: Uint8Array | number = 0): Promise<ControlOutcome> {
    const length = typeof data === 'number' ? data : data.length;
    return answerControl(
      {
        interfaceNumber: this.interfaceNumber,
        inEndpoint: this.inEndpoint,
        outEndpoint: this.outEndpoint,
        isHalted: (ep) => this.isHalted(ep),
        clearHalt: (ep) => this.clearHalt(ep),
        setHalt: (ep) => this.setHalt(ep),
        massStorageReset: () => {
          if (this.faults.take('reset-stall')) return false;
          this.massStorageReset();
          return true;
        },
        getMaxLun: () => {
          this.stats.getMaxLun++;
          return this.faults.take('get-max-lun-stall') ? null : this.target.maxLun;
        },
      },
      setup,
      length,
    );
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT). No effect on an endpoint wedged by an invalid CBW until reset. */
  clearHalt(endpoint: number): void {
    this.stats.clearHalts++;
    this.stats.clearHaltsByEndpoint[endpoint] = (this.stats.clearHaltsByEndpoint[endpoint] ?? 0) + 1;
    const side = endpoint === this.inEndpoint ? 'in' : endpoint === this.outEndpoint ? 'out' : null;
    if (side && !this.wedged[side]) this.halted[side] = false;
    this.emit();
  }

  setHalt(endpoint: number): void {
    if (endpoint === this.inEndpoint) this.halted.in = true;
    if (endpoint === this.outEndpoint) this.halted.out = true;
    this.emit();
  }

  /** Bulk-Only Mass Storage Reset: ready for a CBW; halts stay until cleared (§3.1), wedges go. */
  massStorageReset(): void {
    this.stats.resets++;
    this.abortCommand();
    this.wedged = { in: false, out: false };
    this.raiseUnitAttentionIfArmed();
    this.emit();
  }

  /** USB port reset: everything back to the power-on state except the media. */
  portReset(): void {
    this.stats.portResets++;
    this.powerOn();
  }

  /** Power-on state (a re-plug): idle, no halts; a unit attention if the fault is armed. */
  powerOn(): void {
    this.abortCommand();
    this.wedged = { in: false, out: false };
    this.halted = { in: false, out: false };
    this.raiseUnitAttentionIfArmed();
    this.emit();
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  /** A delayed phase NAKs now and wakes parked transfers when it is due. */
  private nakUntilDue(ex: Exchange, phase: 'data' | 'csw'): { status: 'nak' } {
    const left = ex.faults.delayLeft(phase);
    if (left > 0 && !ex.wakeTimer) {
      ex.wakeTimer = setTimeout(() => {
        ex.wakeTimer = undefined;
        if (this.exchange === ex) this.emit();
      }, left + 1);
    }
    return { status: 'nak' };
  }

  private abortCommand(): void {
    this.generation++;
    this.exchange = null;
    this.deaf = false;
  }

  private raiseUnitAttentionIfArmed(): void {
    if (!this.faults.take('unit-attention-after-reset')) return;
    for (const unit of this.target.units) unit.unitAttention = Sense.powerOnOrReset();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('aborted'));
        return;
      }
      const off = this.onChange(() => {
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = () => {
        off();
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function statusOf(result: TargetResult): number {
  return result.status === 0x00 ? CswStatus.PASSED : CswStatus.FAILED;
}

function concatChunks(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === total) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c.subarray(0, total - at), at);
    at += c.length;
  }
  return out;
}
