import type { FaultContext, FaultInjector, FaultKind, FaultSpec } from '../faults.js';
import type { HostDirection } from '../scsi/types.js';
import { CSW_SIGNATURE, CswStatus } from './wrappers.js';

/** Commands that report sense themselves, so a NOT READY fault does not apply to them. */
const SENSE_EXEMPT = new Set([0x12, 0x03, 0xa0]);
const DEFAULT_DELAY_MS = 500;

/** What the device does instead of taking a CBW. */
export type CbwRefusal = 'nak-until-reset' | 'stall' | undefined;

/** The device's own data-in plan, before faults bend it. */
export interface DataInPlan {
  data: Uint8Array;
  status: number;
  residue: number;
}

/** The data-in phase as it will happen. */
export interface ShapedDataIn extends DataInPlan {
  /** Bytes past the host's length follow the data (babble). */
  babble: boolean;
  /** The device halts bulk-in once it has sent this many bytes. */
  stallAt?: number;
  /** The data phase is skipped and the CSW goes out in its place. */
  skipToCsw: boolean;
  /** The command failed in its data phase: hold DATA PHASE ERROR sense. */
  dataPhaseError: boolean;
}

/**
 * Faults of one command, taken from the injector when its CBW arrives and applied by the
 * phase machine at fixed hooks: before the CBW is taken, on the data-in plan, at the start of
 * the data-out phase, whenever the host polls a phase (NAK), and when the CSW goes out.
 */
export class CommandFaults {
  private readonly armed = new Map<FaultKind, FaultSpec>();
  private cswStallsLeft = 0;
  private readonly delayUntil: number = 0;

  /**
   * Hook 1, before the CBW is taken: a CBW the device NAKs until the class reset, or stalls.
   * Only these two are decided before the command counts.
   */
  static refuseCbw(injector: FaultInjector, ctx: FaultContext): { refusal: CbwRefusal; noResponse?: FaultSpec } {
    if (injector.take('stall-cbw', ctx)) return { refusal: 'stall' };
    const noResponse = injector.take('no-response', ctx);
    if (noResponse && (noResponse.phase ?? 'csw') === 'cbw') return { refusal: 'nak-until-reset' };
    return noResponse ? { refusal: undefined, noResponse } : { refusal: undefined };
  }

  /** Hook 2, once the command counts: takes every fault that applies to it. */
  constructor(
    injector: FaultInjector,
    ctx: FaultContext,
    hostDirection: HostDirection,
    noResponse: FaultSpec | undefined,
    onEach: (kind: FaultKind) => void,
  ) {
    const arm = (kind: FaultKind, when = true) => {
      if (!when) return;
      const spec = injector.take(kind, ctx);
      if (spec) {
        this.armed.set(kind, spec);
        onEach(kind);
      }
    };
    if (noResponse) {
      this.armed.set('no-response', noResponse);
      onEach('no-response');
    }
    arm('delay');
    arm('stall-data-in', hostDirection === 'in');
    arm('short-data', hostDirection === 'in');
    arm('too-much-data', hostDirection === 'in');
    arm('csw-instead-of-data', hostDirection === 'in');
    arm('stall-data-out', hostDirection === 'out');
    arm('stall-csw');
    arm('bad-csw-signature');
    arm('wrong-csw-tag');
    arm('phase-error');
    arm('not-ready', ctx.opcode === undefined || !SENSE_EXEMPT.has(ctx.opcode));
    arm('disconnect');
    this.cswStallsLeft = this.armed.has('stall-csw') ? (this.armed.get('stall-csw')!.stalls ?? 1) : 0;
    const delay = this.armed.get('delay');
    if (delay) this.delayUntil = Date.now() + (delay.ms ?? DEFAULT_DELAY_MS);
  }

  has(kind: FaultKind): boolean {
    return this.armed.has(kind);
  }

  get(kind: FaultKind): FaultSpec | undefined {
    return this.armed.get(kind);
  }

  /** NOT READY sense to answer instead of running the command. */
  get notReady(): 'becoming-ready' | 'medium-not-present' | undefined {
    const spec = this.armed.get('not-ready');
    return spec ? (spec.reason ?? 'becoming-ready') : undefined;
  }

  /** Milliseconds until a delayed phase may go on (0: not delayed), for a wake-up timer. */
  delayLeft(phase: 'data' | 'csw'): number {
    const delay = this.armed.get('delay');
    if (!delay || (delay.phase ?? 'csw') !== phase) return 0;
    return Math.max(0, this.delayUntil - Date.now());
  }

  /** Hook 3, whenever the host polls a phase: the device NAKs it. */
  naks(phase: 'data' | 'csw'): boolean {
    const noResponse = this.armed.get('no-response');
    if (noResponse && (noResponse.phase ?? 'csw') === phase) return true;
    return this.delayLeft(phase) > 0;
  }

  /** Hook 4, on the data-in plan: short, babble, stall part-way, or no data phase at all. */
  shapeDataIn(plan: DataInPlan, hostLength: number, maxPacketSize: number): ShapedDataIn {
    let { data, status, residue } = plan;
    const shaped = { babble: false, skipToCsw: false, dataPhaseError: false } as ShapedDataIn;
    const short = this.armed.get('short-data');
    if (short) {
      data = data.subarray(0, Math.min(data.length, short.bytes ?? Math.floor(data.length / 2)));
      residue = hostLength - data.length;
    }
    const babble = this.armed.get('too-much-data');
    if (babble) {
      const extra = new Uint8Array(babble.extra ?? maxPacketSize).fill(0xee);
      const kept = data.subarray(0, hostLength);
      const joined = new Uint8Array(kept.length + extra.length);
      joined.set(kept);
      joined.set(extra, kept.length);
      data = joined;
      shaped.babble = true;
      status = CswStatus.PHASE_ERROR;
      residue = 0;
    }
    const stall = this.armed.get('stall-data-in');
    if (stall) {
      shaped.stallAt = Math.min(stall.bytes ?? 0, data.length);
      residue = hostLength - shaped.stallAt;
      status = CswStatus.FAILED;
      shaped.dataPhaseError = true;
    }
    if (this.armed.has('csw-instead-of-data')) {
      data = new Uint8Array(0);
      residue = hostLength;
      shaped.skipToCsw = true;
    }
    return Object.assign(shaped, { data, status, residue });
  }

  /** Hook 5, at the start of the data-out phase: bytes taken before bulk-out stalls, if it does. */
  dataOutStallAt(planLength: number): number | undefined {
    const stall = this.armed.get('stall-data-out');
    return stall ? Math.min(stall.bytes ?? 0, planLength) : undefined;
  }

  /** Hook 6, when the CSW is due: the device stalls this CSW read instead (counted down). */
  stallsCsw(): boolean {
    if (this.cswStallsLeft <= 0) return false;
    this.cswStallsLeft--;
    return true;
  }

  /** Hook 7, the CSW fields as sent: status, tag and signature as the faults bend them. */
  cswFields(tag: number, status: number): { tag: number; status: number; signature: number } {
    return {
      status: this.armed.has('phase-error') ? CswStatus.PHASE_ERROR : status,
      tag: this.armed.has('wrong-csw-tag') ? (tag ^ 0x5a5a5a5a) >>> 0 : tag,
      signature: this.armed.has('bad-csw-signature') ? 0x58425355 /* "USBX" */ : CSW_SIGNATURE,
    };
  }
}
