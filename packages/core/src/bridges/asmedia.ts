/**
 * ASMedia ASM2362/ASM2364/ASM2464 (smartctl `-d sntasmedia`), two protocols:
 * - basic: one 16-byte E6h CDB, DATA-IN only, no completion read-back. Byte 1 = opcode,
 *   3 = CDW10[7:0], 6-7 = CDW10[31:16], 8-11 = CDW13, 12-15 = CDW12 (big-endian). Identify
 *   (controller, namespace 1) and Get Log Page only. smartmontools `lib/scsinvme.cpp`
 *   (sntasmedia_device), opensea-transport `asmedia_nvme_helper.c` (build_Basic_Passthrough_CDB).
 * - packet: EAh (write) / EBh (read), byte 1 = 5Ah signature, 2 = operation (80h command,
 *   81h data, 82h completion), 3 = admin 0 / I/O 1, 4 = data direction (0 none, 1 in, 2 out),
 *   10-13 = big-endian length. The 64-byte submission entry goes out, then the data, then a
 *   16-byte completion comes in (bytes 14-15 = FFh: nothing was executed).
 *   opensea-transport `asmedia_nvme_helper.{h,c}` (build_ASMedia_Packet_Command_CDB); not every
 *   bridge has it, so it is used only for commands the basic CDB cannot carry.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { BaseBridge, modeRefusal, type AdminCallOptions, type BridgeExchange, type BridgeLimits } from './bridge.js';
import {
  assumedCompletion,
  completionFromStatus,
  NVME_BROADCAST_NSID,
  NvmeAdminOpcode,
  submissionEntry,
  type NvmeAdminCommand,
  type NvmeCompletion,
} from './nvme-admin.js';

export const ASMEDIA_BASIC_OPCODE = 0xe6;
export const ASMEDIA_PACKET_WRITE = 0xea;
export const ASMEDIA_PACKET_READ = 0xeb;
export const ASMEDIA_PACKET_SIGNATURE = 0x5a;
export const AsmediaPacketOperation = { COMMAND: 0x80, DATA: 0x81, COMPLETION: 0x82 } as const;
const DIRECTION_CODE = { none: 0, in: 1, out: 2 } as const;

export function asmediaBasicCdb(cmd: NvmeAdminCommand): Uint8Array {
  const cdb = new Uint8Array(16);
  const cdw10 = cmd.cdw10 ?? 0;
  cdb[0] = ASMEDIA_BASIC_OPCODE;
  cdb[1] = cmd.opcode;
  cdb[3] = cdw10 & 0xff;
  cdb[6] = (cdw10 >>> 24) & 0xff;
  cdb[7] = (cdw10 >>> 16) & 0xff;
  const view = new DataView(cdb.buffer);
  view.setUint32(8, cmd.cdw13 ?? 0, false);
  view.setUint32(12, cmd.cdw12 ?? 0, false);
  return cdb;
}

export function asmediaPacketCdb(
  operation: number,
  direction: 'none' | 'in' | 'out',
  length: number,
  write: boolean,
): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = write ? ASMEDIA_PACKET_WRITE : ASMEDIA_PACKET_READ;
  cdb[1] = ASMEDIA_PACKET_SIGNATURE;
  cdb[2] = operation;
  cdb[3] = 0; // admin
  cdb[4] = DIRECTION_CODE[direction];
  new DataView(cdb.buffer).setUint32(10, length, false);
  return cdb;
}

/** Why the E6h CDB cannot hold `cmd` (fields it has no room for), or undefined. */
export function asmediaBasicRefusal(cmd: NvmeAdminCommand): string | undefined {
  if (cmd.direction !== 'in') return 'the ASMedia E6h CDB is data-in only';
  if (cmd.cdw11 || cmd.cdw14 || cmd.cdw15) return 'the ASMedia E6h CDB has no room for CDW11, CDW14 or CDW15';
  const cdw10 = cmd.cdw10 ?? 0;
  if (cmd.opcode === NvmeAdminOpcode.IDENTIFY) {
    if (cdw10 === 1) return undefined;
    if (cdw10 === 0 && cmd.nsid === 1) return undefined;
    return 'the ASMedia E6h CDB carries Identify Controller and Identify Namespace 1 only';
  }
  if (cmd.opcode === NvmeAdminOpcode.GET_LOG_PAGE) {
    if (cmd.nsid && cmd.nsid !== NVME_BROADCAST_NSID)
      return 'the ASMedia E6h CDB reads controller-wide log pages only (NSID 0 or FFFFFFFFh)';
    if (cdw10 & 0xff00) return 'the ASMedia E6h CDB has no room for CDW10 bits 15:8';
    return undefined;
  }
  return 'the ASMedia E6h CDB carries Identify and Get Log Page only';
}

export interface AsmediaModes {
  basic: boolean;
  packet: boolean;
}

export class AsmediaBridge extends BaseBridge {
  readonly kind = 'asmedia' as const;
  readonly modes: AsmediaModes;

  /** Both modes are assumed until the packet mode is refused (not every ASMedia bridge has it). */
  constructor(exchange: BridgeExchange, modes: AsmediaModes = { basic: true, packet: true }) {
    super(exchange);
    this.modes = { ...modes };
  }

  get protocol(): string {
    return this.modes.packet && this.modes.basic
      ? 'ASMedia E6h + EAh/EBh'
      : this.modes.packet
        ? 'ASMedia EAh/EBh'
        : 'ASMedia E6h';
  }

  get limits(): BridgeLimits {
    const packet = this.modes.packet;
    return {
      completion: packet,
      ...(packet ? {} : { opcodes: new Set<number>([NvmeAdminOpcode.IDENTIFY, NvmeAdminOpcode.GET_LOG_PAGE]) }),
      maxTransferBytes: packet ? 128 * 1024 : 65536,
    };
  }

  protected override carryDetail(cmd: NvmeAdminCommand): string | undefined {
    const basic = this.modes.basic ? asmediaBasicRefusal(cmd) : 'no basic mode';
    if (basic === undefined || this.modes.packet) return undefined;
    return basic;
  }

  /** The basic CDB for what it can carry (the most widely supported), the packet mode for the rest. */
  private usesBasic(cmd: NvmeAdminCommand): boolean {
    return this.modes.basic && asmediaBasicRefusal(cmd) === undefined;
  }

  protected run(cmd: NvmeAdminCommand, effect: 'read' | 'write', options: AdminCallOptions): Promise<NvmeCompletion> {
    return this.usesBasic(cmd) ? this.runBasic(cmd, options) : this.runPacket(cmd, effect, options);
  }

  private async runBasic(cmd: NvmeAdminCommand, options: AdminCallOptions): Promise<NvmeCompletion> {
    const length = cmd.length!;
    const first = await this.send(
      'E6h',
      asmediaBasicCdb(cmd),
      { direction: 'in', length, effect: 'read' },
      options,
      cmd.timeoutMs,
    );
    if (first.transferred === length || cmd.opcode !== NvmeAdminOpcode.GET_LOG_PAGE)
      return assumedCompletion(first.data, first.transferred);
    // Some ASMedia bridges return part of a log page (smartmontools sntasmedia_device): read the
    // rest by its byte offset (CDW12/13) rather than accept a zero-filled tail.
    const whole = new Uint8Array(length);
    whole.set(first.data);
    let got = first.transferred;
    const base = (BigInt(cmd.cdw13 ?? 0) << 32n) | BigInt(cmd.cdw12 ?? 0);
    while (got < length) {
      if (got === 0 || got % 4 !== 0) break;
      const offset = base + BigInt(got);
      const rest = {
        ...cmd,
        cdw10: ((cmd.cdw10 ?? 0) & 0xffff) | ((((length - got) / 4 - 1) & 0xffff) << 16),
        cdw12: Number(offset & 0xffffffffn),
        cdw13: Number(offset >> 32n),
        length: length - got,
      };
      const more = await this.send(
        'E6h (continued)',
        asmediaBasicCdb(rest),
        { direction: 'in', length: length - got, effect: 'read' },
        options,
        cmd.timeoutMs,
      );
      if (more.transferred === 0) break;
      whole.set(more.data, got);
      got += more.transferred;
    }
    if (got < length)
      throw new UsbScsiError(
        ErrorCodes.IO,
        `the ASMedia bridge returned ${got} of ${length} bytes of log page 0x${((cmd.cdw10 ?? 0) & 0xff).toString(16)}`,
      );
    return assumedCompletion(whole, got);
  }

  private async runPacket(
    cmd: NvmeAdminCommand,
    effect: 'read' | 'write',
    options: AdminCallOptions,
  ): Promise<NvmeCompletion> {
    const dir = cmd.direction;
    try {
      await this.send(
        'packet command',
        asmediaPacketCdb(AsmediaPacketOperation.COMMAND, dir, 64, true),
        { direction: 'out', data: submissionEntry(cmd), effect },
        options,
        15_000,
      );
    } catch (err) {
      const refused = modeRefusal(err, 'EAh', 'EAh/EBh packet mode');
      if (refused !== err) this.modes.packet = false;
      throw refused;
    }
    let data: Uint8Array = new Uint8Array(0);
    let transferred = 0;
    // The data phase runs the command, even with no data (length 0); transfers are whole 512-byte blocks.
    if (dir === 'in') {
      const padded = roundUp512(cmd.length!);
      const r = await this.send(
        'packet data-in',
        asmediaPacketCdb(AsmediaPacketOperation.DATA, 'in', padded, false),
        { direction: 'in', length: padded, effect: 'read' },
        options,
        cmd.timeoutMs,
      );
      transferred = Math.min(r.transferred, cmd.length!);
      data = r.data.subarray(0, transferred);
    } else if (dir === 'out') {
      const padded = new Uint8Array(roundUp512(cmd.data!.length));
      padded.set(cmd.data!);
      const r = await this.send(
        'packet data-out',
        asmediaPacketCdb(AsmediaPacketOperation.DATA, 'out', padded.length, true),
        { direction: 'out', data: padded, effect },
        options,
        cmd.timeoutMs,
      );
      transferred = Math.min(r.transferred, cmd.data!.length);
    } else {
      await this.send(
        'packet non-data',
        asmediaPacketCdb(AsmediaPacketOperation.DATA, 'none', 0, false),
        { direction: 'none', effect },
        options,
        cmd.timeoutMs,
      );
    }
    const c = await this.send(
      'packet completion',
      asmediaPacketCdb(AsmediaPacketOperation.COMPLETION, dir, 16, false),
      { direction: 'in', length: 16, effect: 'read' },
      options,
      15_000,
    );
    if (c.transferred < 16 || (c.data[14] === 0xff && c.data[15] === 0xff)) {
      throw new UsbScsiError(
        ErrorCodes.IO,
        'the ASMedia bridge has no completion for the command (completion bytes 14-15 are ' +
          'FFh): the drive did not execute it',
      );
    }
    const view = new DataView(c.data.buffer, c.data.byteOffset, 16);
    return completionFromStatus(view.getUint32(12, true) >>> 17, view.getUint32(0, true), data, transferred);
  }
}

function roundUp512(n: number): number {
  return Math.ceil(n / 512) * 512;
}
