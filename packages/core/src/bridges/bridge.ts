/**
 * The one interface every USB-NVMe bridge protocol implements, and the SCSI exchange it runs
 * on. A bridge turns one NVMe admin command into its vendor CDBs; it never decides consent on
 * its own: the effect of each CDB is the effect of the NVMe command it carries
 * ({@link adminCommandEffect}), passed down explicitly with every exchange.
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import { opcodeName } from '../scsi/opcodes.js';
import { ScsiStatus, type DataDirection, type ScsiResult } from '../transport.js';
import {
  adminCommandEffect,
  adminOpcodeName,
  checkAdminCommand,
  NvmeAdminOpcode,
  requestedReplyBytes,
  type NvmeAdminCommand,
  type NvmeCompletion,
} from './nvme-admin.js';
import { hex0x } from '../hex.js';

export type BridgeKind = 'jmicron' | 'asmedia' | 'realtek';

/**
 * One CDB to the device. `effect` is the bridge layer's statement about this CDB: `read` CDBs
 * are sent without consent whatever their opcode (vendor CDBs included); `write` CDBs need
 * `allowMediumWrite` and are refused on a mounted medium. {@link ScsiDevice} provides it.
 */
export type BridgeExchange = (
  cdb: Uint8Array,
  request: {
    direction: DataDirection;
    length?: number;
    data?: Uint8Array;
    /** The caller's own timeout for this call: it wins over every default. */
    timeoutMs?: number;
    /** The bridge's default for this phase: used when neither the caller nor the device names one. */
    defaultTimeoutMs?: number;
    signal?: AbortSignal;
    effect: 'read' | 'write';
    allowMediumWrite?: boolean;
  },
) => Promise<ScsiResult>;

export interface AdminCallOptions {
  /** Consent for commands that change the medium, firmware or controller state. */
  allowMediumWrite?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What a bridge can and cannot do, stated up front (and enforced before anything is sent). */
export interface BridgeLimits {
  /** Completion status and DW0 are read back from the drive. */
  completion: boolean;
  /** Admin opcodes it carries; undefined: any. */
  opcodes?: ReadonlySet<number>;
  /** Largest data phase. */
  maxTransferBytes: number;
  /** Largest Get Log Page transfer (a hazard or a known bad reply above it). */
  maxLogPageBytes?: number;
  /** Why the log page limit exists. */
  logPageLimitReason?: string;
}

export interface NvmeBridge {
  readonly kind: BridgeKind;
  /** The CDB protocol, e.g. `JMicron A1h (3-phase)`. */
  readonly protocol: string;
  readonly limits: BridgeLimits;
  /** Why this bridge cannot carry `cmd`, or undefined when it can. */
  cannotCarry(cmd: NvmeAdminCommand): string | undefined;
  /**
   * Runs one admin command. Throws `E_BAD_INPUT` (nothing sent) for a malformed command or a
   * write without consent, `E_UNSUPPORTED` (nothing sent) for one the bridge cannot carry,
   * `E_CHECK_CONDITION` when the bridge refuses a CDB. An NVMe error status is a result.
   */
  adminCommand(cmd: NvmeAdminCommand, options?: AdminCallOptions): Promise<NvmeCompletion>;
}

/** Shared checks and plumbing; subclasses implement {@link run}. */
export abstract class BaseBridge implements NvmeBridge {
  abstract readonly kind: BridgeKind;
  abstract readonly protocol: string;
  abstract readonly limits: BridgeLimits;

  constructor(protected readonly exchange: BridgeExchange) {}

  cannotCarry(cmd: NvmeAdminCommand): string | undefined {
    const { limits } = this;
    if (limits.opcodes && !limits.opcodes.has(cmd.opcode)) {
      return (
        `${this.protocol} carries only ${[...limits.opcodes].map(adminOpcodeName).join(' and ')}, ` +
        `not ${adminOpcodeName(cmd.opcode)}`
      );
    }
    const host = cmd.direction === 'in' ? (cmd.length ?? 0) : cmd.direction === 'out' ? (cmd.data?.length ?? 0) : 0;
    // The drive sends what its command asks for, not what the host buffer holds: cap both.
    const reply = requestedReplyBytes(cmd) ?? 0;
    const bytes = Math.max(host, reply);
    const asked =
      reply > host
        ? `the command asks the drive for ${reply} bytes` +
          (cmd.opcode === NvmeAdminOpcode.GET_LOG_PAGE ? ' (NUMDL/NUMDU in CDW10/CDW11)' : '')
        : `${bytes} were asked`;
    if (bytes > limits.maxTransferBytes)
      return `${this.protocol} moves at most ${limits.maxTransferBytes} bytes per command; ${asked}`;
    if (
      cmd.opcode === NvmeAdminOpcode.GET_LOG_PAGE &&
      limits.maxLogPageBytes !== undefined &&
      bytes > limits.maxLogPageBytes
    ) {
      return (
        `${this.protocol} reads at most 0x${limits.maxLogPageBytes.toString(16)} ` +
        `bytes of a log page (${limits.logPageLimitReason ?? 'bridge limit'}); ${asked}`
      );
    }
    return this.carryDetail(cmd);
  }

  /** Bridge-specific refusals (fields a CDB cannot hold). */
  protected carryDetail(_cmd: NvmeAdminCommand): string | undefined {
    return undefined;
  }

  async adminCommand(cmd: NvmeAdminCommand, options: AdminCallOptions = {}): Promise<NvmeCompletion> {
    checkAdminCommand(cmd);
    const why = this.cannotCarry(cmd);
    if (why)
      throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `${why}; nothing was sent`, {
        details: { bridge: this.kind, opcode: cmd.opcode },
      });
    const { effect, reason } = adminCommandEffect(cmd);
    if (effect === 'write' && options.allowMediumWrite !== true) {
      throw badInput(
        `NVMe ${adminOpcodeName(cmd.opcode)} ${reason}: pass explicit consent (--yes on the ` +
          `command line, allowMediumWrite: true in the API)`,
      );
    }
    return this.run(cmd, effect, options);
  }

  protected abstract run(
    cmd: NvmeAdminCommand,
    effect: 'read' | 'write',
    options: AdminCallOptions,
  ): Promise<NvmeCompletion>;

  /** One CDB; throws a typed CHECK CONDITION error naming the phase when the bridge refuses it. */
  protected async send(
    phase: string,
    cdb: Uint8Array,
    request: { direction: DataDirection; length?: number; data?: Uint8Array; effect: 'read' | 'write' },
    options: AdminCallOptions,
    timeoutMs?: number,
  ): Promise<ScsiResult> {
    const once = () =>
      this.exchange(cdb, {
        ...request,
        ...(options.allowMediumWrite ? { allowMediumWrite: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(timeoutMs !== undefined ? { defaultTimeoutMs: timeoutMs } : {}),
      });
    let result = await once();
    // A reset or power-on is reported once (UNIT ATTENTION) and the CDB did not run: send it again.
    if (result.status === ScsiStatus.CHECK_CONDITION && result.sense?.senseKey === 0x06) result = await once();
    if (result.status !== ScsiStatus.GOOD) throw bridgeRefused(this.protocol, phase, cdb, result);
    return result;
  }
}

/**
 * A bridge's second protocol (ASMedia packet, Realtek full) refused with ILLEGAL REQUEST at its
 * first CDB: the bridge does not have it. `details.modeLost` tells callers to retry within the
 * limits of the remaining mode.
 */
export function modeRefusal(err: unknown, protocol: string, what: string): unknown {
  if (err instanceof UsbScsiError && err.code === ErrorCodes.CHECK_CONDITION && err.details['senseKey'] === 0x05) {
    return new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `this bridge has no ${what} (${protocol} was refused: ${err.message}); it carries only Identify and Get Log Page`,
      {
        cause: err,
        details: { modeLost: true },
      },
    );
  }
  return err;
}

/** E_CHECK_CONDITION for a bridge CDB, with the sense in `details` (the CLI maps it to its exit status). */
export function bridgeRefused(protocol: string, phase: string, cdb: Uint8Array, result: ScsiResult): UsbScsiError {
  const sense = result.sense;
  const what = sense
    ? `${sense.senseKeyName}: ${sense.ascText}`
    : `SCSI status ${hex0x(result.status)} without sense data`;
  return new UsbScsiError(ErrorCodes.CHECK_CONDITION, `${protocol} ${phase} (${opcodeName(cdb)}) failed: ${what}`, {
    details: {
      status: result.status,
      phase,
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
}
