/**
 * Realtek RTL9210/RTL9220 (smartctl `-d sntrealtek`), two protocols:
 * - basic: one 16-byte E4h CDB, DATA-IN: bytes 1-2 = little-endian length, 3 = opcode,
 *   4 = CDW10[7:0]. Identify and Get Log Page; log reads above 200h can return stale data.
 *   smartmontools `lib/scsinvme.cpp` (sntrealtek_device).
 * - full: E5h (out) / E4h (in) with byte 3 = phase: F7h command (64-byte submission entry
 *   out, bytes 4-7 = command set, 0 admin), F8h data (bytes 1-2 and 4-5 = the 32-bit length
 *   low and high halves, 6-7 = direction 0 none / 1 in / 2 out; E5h for out and non-data),
 *   F9h completion (16 bytes in, CQE dwords 0-3 little-endian). opensea-transport
 *   `realtek_nvme_helper.{h,c}`. Not every Realtek bridge has it.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { BaseBridge, modeRefusal, type AdminCallOptions, type BridgeExchange, type BridgeLimits } from './bridge.js';
import {
  assumedCompletion,
  completionFromStatus,
  NVME_BROADCAST_NSID,
  NvmeAdminOpcode,
  requestedReplyBytes,
  submissionEntry,
  type NvmeAdminCommand,
  type NvmeCompletion,
} from './nvme-admin.js';

export const REALTEK_IN = 0xe4;
export const REALTEK_OUT = 0xe5;
export const RealtekPhase = { COMMAND: 0xf7, DATA: 0xf8, COMPLETION: 0xf9 } as const;
/** smartmontools: "Larger requests can return stale data" (sntrealtek_device, get_log_page_size_limit). */
export const REALTEK_BASIC_MAX_LOG_BYTES = 0x200;

export function realtekBasicCdb(cmd: NvmeAdminCommand): Uint8Array {
  const cdb = new Uint8Array(16);
  const length = cmd.length ?? 0;
  cdb[0] = REALTEK_IN;
  cdb[1] = length & 0xff;
  cdb[2] = (length >>> 8) & 0xff;
  cdb[3] = cmd.opcode;
  cdb[4] = (cmd.cdw10 ?? 0) & 0xff;
  return cdb;
}

export function realtekCommandCdb(): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = REALTEK_OUT;
  cdb[1] = 64;
  cdb[3] = RealtekPhase.COMMAND;
  return cdb; // bytes 4-7: command set 0 = admin
}

export function realtekDataCdb(direction: 'none' | 'in' | 'out', length: number): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = direction === 'in' ? REALTEK_IN : REALTEK_OUT;
  cdb[1] = length & 0xff;
  cdb[2] = (length >>> 8) & 0xff;
  cdb[3] = RealtekPhase.DATA;
  cdb[4] = (length >>> 16) & 0xff;
  cdb[5] = (length >>> 24) & 0xff;
  cdb[6] = direction === 'in' ? 1 : direction === 'out' ? 2 : 0;
  return cdb;
}

export function realtekCompletionCdb(): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = REALTEK_IN;
  cdb[1] = 16;
  cdb[3] = RealtekPhase.COMPLETION;
  return cdb;
}

export function realtekBasicRefusal(cmd: NvmeAdminCommand): string | undefined {
  if (cmd.direction !== 'in') return 'the Realtek E4h CDB is data-in only';
  if (cmd.cdw11 || cmd.cdw12 || cmd.cdw13 || cmd.cdw14 || cmd.cdw15)
    return 'the Realtek E4h CDB has no room for CDW11-15';
  if ((cmd.length ?? 0) > 0xffff) return 'the Realtek E4h CDB length is 16 bits';
  const cdw10 = cmd.cdw10 ?? 0;
  if (cmd.opcode === NvmeAdminOpcode.IDENTIFY) {
    if (cdw10 === 1 || (cdw10 === 0 && cmd.nsid === 1)) return undefined;
    return 'the Realtek E4h CDB carries Identify Controller and Identify Namespace 1 only';
  }
  if (cmd.opcode === NvmeAdminOpcode.GET_LOG_PAGE) {
    if (cmd.nsid && cmd.nsid !== NVME_BROADCAST_NSID) return 'the Realtek E4h CDB reads controller-wide log pages only';
    const asked = Math.max(cmd.length ?? 0, requestedReplyBytes(cmd) ?? 0);
    if (asked > REALTEK_BASIC_MAX_LOG_BYTES)
      return (
        `the Realtek E4h CDB reads at most 0x200 bytes of a log page (longer reads can return ` +
        `stale data); ${asked} were asked`
      );
    return undefined;
  }
  return 'the Realtek E4h CDB carries Identify and Get Log Page only';
}

export interface RealtekModes {
  basic: boolean;
  full: boolean;
}

export class RealtekBridge extends BaseBridge {
  readonly kind = 'realtek' as const;
  readonly modes: RealtekModes;

  /** Both modes are assumed until the full mode is refused (not every Realtek bridge has it). */
  constructor(exchange: BridgeExchange, modes: RealtekModes = { basic: true, full: true }) {
    super(exchange);
    this.modes = { ...modes };
  }

  get protocol(): string {
    return this.modes.full && this.modes.basic
      ? 'Realtek E4h + E4h/E5h'
      : this.modes.full
        ? 'Realtek E4h/E5h'
        : 'Realtek E4h';
  }

  get limits(): BridgeLimits {
    const full = this.modes.full;
    return {
      completion: full,
      ...(full
        ? {}
        : {
            opcodes: new Set<number>([NvmeAdminOpcode.IDENTIFY, NvmeAdminOpcode.GET_LOG_PAGE]),
            maxLogPageBytes: REALTEK_BASIC_MAX_LOG_BYTES,
            logPageLimitReason: 'longer reads can return stale data, smartmontools sntrealtek',
          }),
      maxTransferBytes: full ? 256 * 1024 : 0xffff,
    };
  }

  protected override carryDetail(cmd: NvmeAdminCommand): string | undefined {
    if (this.modes.full) return undefined;
    return realtekBasicRefusal(cmd);
  }

  protected run(cmd: NvmeAdminCommand, effect: 'read' | 'write', options: AdminCallOptions): Promise<NvmeCompletion> {
    return this.modes.basic && realtekBasicRefusal(cmd) === undefined
      ? this.runBasic(cmd, options)
      : this.runFull(cmd, effect, options);
  }

  private async runBasic(cmd: NvmeAdminCommand, options: AdminCallOptions): Promise<NvmeCompletion> {
    const r = await this.send(
      'E4h',
      realtekBasicCdb(cmd),
      { direction: 'in', length: cmd.length!, effect: 'read' },
      options,
      cmd.timeoutMs,
    );
    if (r.transferred !== cmd.length)
      throw new UsbScsiError(
        ErrorCodes.IO,
        `the Realtek bridge returned ${r.transferred} of ${cmd.length} bytes (an incomplete ` +
          `reply is never passed off as whole)`,
      );
    return assumedCompletion(r.data, r.transferred);
  }

  private async runFull(
    cmd: NvmeAdminCommand,
    effect: 'read' | 'write',
    options: AdminCallOptions,
  ): Promise<NvmeCompletion> {
    try {
      await this.send(
        'command phase',
        realtekCommandCdb(),
        { direction: 'out', data: submissionEntry(cmd), effect },
        options,
        15_000,
      );
    } catch (err) {
      const refused = modeRefusal(err, 'E5h F7h', 'E4h/E5h full mode');
      if (refused !== err) this.modes.full = false;
      throw refused;
    }
    let data: Uint8Array = new Uint8Array(0);
    let transferred = 0;
    if (cmd.direction === 'in') {
      const r = await this.send(
        'data phase',
        realtekDataCdb('in', cmd.length!),
        { direction: 'in', length: cmd.length!, effect: 'read' },
        options,
        cmd.timeoutMs,
      );
      data = r.data;
      transferred = r.transferred;
    } else if (cmd.direction === 'out') {
      const r = await this.send(
        'data phase',
        realtekDataCdb('out', cmd.data!.length),
        { direction: 'out', data: cmd.data!, effect },
        options,
        cmd.timeoutMs,
      );
      transferred = r.transferred;
    } else {
      await this.send('data phase', realtekDataCdb('none', 0), { direction: 'none', effect }, options, cmd.timeoutMs);
    }
    const c = await this.send(
      'completion phase',
      realtekCompletionCdb(),
      { direction: 'in', length: 16, effect: 'read' },
      options,
      15_000,
    );
    if (c.transferred < 16)
      throw new UsbScsiError(ErrorCodes.IO, `the Realtek completion phase returned ${c.transferred} of 16 bytes`);
    const view = new DataView(c.data.buffer, c.data.byteOffset, 16);
    return completionFromStatus(view.getUint32(12, true) >>> 17, view.getUint32(0, true), data, transferred);
  }
}
