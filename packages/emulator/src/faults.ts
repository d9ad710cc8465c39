import { badInput } from '@usbscsi/core/errors';

/** Every fault the emulator can inject. See README for the observable effect of each. */
export type FaultKind =
  | 'stall-cbw'
  | 'stall-data-in'
  | 'stall-data-out'
  | 'stall-csw'
  | 'bad-csw-signature'
  | 'wrong-csw-tag'
  | 'phase-error'
  | 'short-data'
  | 'too-much-data'
  | 'no-response'
  | 'delay'
  | 'csw-instead-of-data'
  | 'reset-stall'
  | 'disconnect'
  | 'get-max-lun-stall'
  | 'unit-attention-after-reset'
  | 'not-ready'
  | 'uas-lost-status'
  | 'uas-wrong-tag'
  | 'uas-overlapped-tag'
  | 'uas-response'
  | 'uas-abort-fails'
  | 'uas-tmf-no-response'
  | 'uas-ready-on-streams';

export const FAULT_KINDS: readonly FaultKind[] = [
  'stall-cbw',
  'stall-data-in',
  'stall-data-out',
  'stall-csw',
  'bad-csw-signature',
  'wrong-csw-tag',
  'phase-error',
  'short-data',
  'too-much-data',
  'no-response',
  'delay',
  'csw-instead-of-data',
  'reset-stall',
  'disconnect',
  'get-max-lun-stall',
  'unit-attention-after-reset',
  'not-ready',
  'uas-lost-status',
  'uas-wrong-tag',
  'uas-overlapped-tag',
  'uas-response',
  'uas-abort-fails',
  'uas-tmf-no-response',
  'uas-ready-on-streams',
];

export interface FaultSpec {
  kind: FaultKind;
  /** Fire once (default) or on every match (`false`). */
  once?: boolean;
  /** Fire this many times (overrides `once`). */
  times?: number;
  /** Only commands with this opcode (or one of these). */
  opcode?: number | number[];
  /** Only commands to this LUN. */
  lun?: number;
  /** Only the Nth command the device receives (1-based, counted since creation or `resetStats()`). */
  atCommand?: number;
  /** Let this many matching commands pass before firing. */
  skip?: number;
  /**
   * stall-data-in / stall-data-out: bytes moved before the stall (default 0).
   * short-data: bytes the device sends (default: half of what it has, rounded down).
   * uas-ready-on-streams: the Ready IU's length (default 4, the spec's).
   */
  bytes?: number;
  /** too-much-data: bytes sent beyond what the host asked (default one max packet). */
  extra?: number;
  /**
   * no-response: the phase that never completes: 'cbw' (CBW NAKed), 'data', or 'csw' (default).
   * delay: the phase NAKed for `ms` after the CBW arrived: 'data' or 'csw' (default).
   */
  phase?: 'cbw' | 'data' | 'csw';
  /** delay: milliseconds the phase is held back (default 500). */
  ms?: number;
  /** stall-csw: CSW reads that stall before the CSW goes out (default 1; 2 makes the host's one retry stall too). */
  stalls?: number;
  /** not-ready: which NOT READY (default 'becoming-ready' 04/01; 'medium-not-present' is 3A/00). */
  reason?: 'becoming-ready' | 'medium-not-present';
  /** uas-response: the Response IU code the command gets instead of its status (default 02h INVALID IU). */
  responseCode?: number;
}

export interface ActiveFault extends Readonly<FaultSpec> {
  readonly id: number;
  /** Times it has fired. */
  readonly fired: number;
  /** Removes it. */
  remove(): void;
}

interface Rule {
  id: number;
  spec: FaultSpec;
  remaining: number;
  skip: number;
  fired: number;
}

/** Where the device asks whether a fault applies. */
export interface FaultContext {
  opcode?: number;
  lun?: number;
  /** 1-based index of the current command. */
  commandIndex?: number;
}

const COMMAND_FAULTS = new Set<FaultKind>([
  'stall-cbw',
  'delay',
  'csw-instead-of-data',
  'stall-data-in',
  'stall-data-out',
  'stall-csw',
  'bad-csw-signature',
  'wrong-csw-tag',
  'phase-error',
  'short-data',
  'too-much-data',
  'no-response',
  'disconnect',
  'not-ready',
  'uas-lost-status',
  'uas-wrong-tag',
  'uas-overlapped-tag',
  'uas-response',
  'uas-ready-on-streams',
]);

/** Programmable faults: `device.faults.inject({ kind: 'stall-data-in', opcode: 0x28 })`. */
export class FaultInjector {
  private rules: Rule[] = [];
  private nextId = 1;

  inject(spec: FaultSpec): ActiveFault {
    if (!FAULT_KINDS.includes(spec.kind))
      throw badInput(`unknown fault kind ${JSON.stringify(spec.kind)}; one of: ${FAULT_KINDS.join(', ')}`);
    for (const key of ['ms', 'stalls', 'bytes', 'extra'] as const) {
      const v = spec[key];
      if (v !== undefined && (!Number.isInteger(v) || v < 0))
        throw badInput(`fault ${key} must be a non-negative integer, not ${v}`);
    }
    if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1))
      throw badInput(`fault times must be a positive integer, not ${spec.times}`);
    if (
      !COMMAND_FAULTS.has(spec.kind) &&
      (spec.opcode !== undefined || spec.lun !== undefined || spec.atCommand !== undefined)
    ) {
      throw badInput(`fault ${spec.kind} is not tied to a command; opcode/lun/atCommand filters do not apply to it`);
    }
    const rule: Rule = {
      id: this.nextId++,
      spec: { ...spec },
      remaining: spec.times ?? (spec.once === false ? Number.POSITIVE_INFINITY : 1),
      skip: spec.skip ?? 0,
      fired: 0,
    };
    this.rules.push(rule);
    const rules = () => this.rules;
    const remove = () => {
      this.rules = this.rules.filter((r) => r !== rule);
    };
    return Object.freeze(
      Object.defineProperties(
        { ...rule.spec, id: rule.id, remove },
        {
          fired: { get: () => rule.fired, enumerable: true },
          active: { get: () => rules().includes(rule) && rule.remaining > 0, enumerable: false },
        },
      ),
    ) as unknown as ActiveFault;
  }

  clear(): void {
    this.rules = [];
  }

  /** Faults still armed. */
  list(): FaultSpec[] {
    return this.rules.filter((r) => r.remaining > 0).map((r) => ({ ...r.spec }));
  }

  /**
   * Consumes and returns the first armed fault of `kind` matching `ctx`, or
   * undefined. Each call that returns a fault counts as one firing.
   */
  take(kind: FaultKind, ctx: FaultContext = {}): FaultSpec | undefined {
    for (const rule of this.rules) {
      if (rule.spec.kind !== kind || rule.remaining <= 0 || !matches(rule.spec, ctx)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.remaining--;
      rule.fired++;
      if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
      return rule.spec;
    }
    return undefined;
  }
}

function matches(spec: FaultSpec, ctx: FaultContext): boolean {
  if (spec.opcode !== undefined) {
    const ops = Array.isArray(spec.opcode) ? spec.opcode : [spec.opcode];
    if (ctx.opcode === undefined || !ops.includes(ctx.opcode)) return false;
  }
  if (spec.lun !== undefined && spec.lun !== ctx.lun) return false;
  if (spec.atCommand !== undefined && spec.atCommand !== ctx.commandIndex) return false;
  return true;
}
