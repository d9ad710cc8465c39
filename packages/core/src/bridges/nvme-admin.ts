/**
 * NVMe admin commands as the bridges carry them: opcode, NSID, CDW10-15 and one data phase
 * (NVM Express Base Specification 2.0, "Admin Command Set"). Which of them change the medium
 * is decided here, once, for every bridge: an allowlist of commands known to leave the medium
 * and the controller's state alone; everything else needs consent.
 */
import { badInput } from '../errors.js';
import type { DataDirection } from '../transport.js';
import { hex0x } from '../hex.js';

export const NvmeAdminOpcode = {
  GET_LOG_PAGE: 0x02,
  IDENTIFY: 0x06,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  FIRMWARE_COMMIT: 0x10,
  FIRMWARE_IMAGE_DOWNLOAD: 0x11,
  DEVICE_SELF_TEST: 0x14,
  DIRECTIVE_RECEIVE: 0x1a,
  FORMAT_NVM: 0x80,
  SECURITY_SEND: 0x81,
  SECURITY_RECEIVE: 0x82,
  SANITIZE: 0x84,
} as const;

/** Log identifiers read by the typed helpers. */
export const NvmeLogPage = { ERROR: 0x01, SMART_HEALTH: 0x02, FIRMWARE_SLOT: 0x03, SELF_TEST: 0x06 } as const;

/** Controller-wide or all-namespaces NSID. */
export const NVME_BROADCAST_NSID = 0xffff_ffff;

export interface NvmeAdminCommand {
  opcode: number;
  nsid?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
  /** The data phase: `in` with `length`, `out` with `data`, or `none`. */
  direction: DataDirection;
  length?: number;
  data?: Uint8Array;
  timeoutMs?: number;
}

/** Names of the admin opcodes this project knows; the effect is decided by {@link adminCommandEffect}. */
const ADMIN_NAMES = new Map<number, string>([
  [0x00, 'Delete I/O Submission Queue'],
  [0x01, 'Create I/O Submission Queue'],
  [0x02, 'Get Log Page'],
  [0x04, 'Delete I/O Completion Queue'],
  [0x05, 'Create I/O Completion Queue'],
  [0x06, 'Identify'],
  [0x08, 'Abort'],
  [0x09, 'Set Features'],
  [0x0a, 'Get Features'],
  [0x0c, 'Asynchronous Event Request'],
  [0x0d, 'Namespace Management'],
  [0x10, 'Firmware Commit'],
  [0x11, 'Firmware Image Download'],
  [0x14, 'Device Self-test'],
  [0x15, 'Namespace Attachment'],
  [0x18, 'Keep Alive'],
  [0x19, 'Directive Send'],
  [0x1a, 'Directive Receive'],
  [0x1c, 'Virtualization Management'],
  [0x1d, 'NVMe-MI Send'],
  [0x1e, 'NVMe-MI Receive'],
  [0x7c, 'Doorbell Buffer Config'],
  [0x80, 'Format NVM'],
  [0x81, 'Security Send'],
  [0x82, 'Security Receive'],
  [0x84, 'Sanitize'],
  [0x86, 'Get LBA Status'],
]);

/**
 * The allowlist: admin commands that only read. Everything else changes the medium, the
 * firmware or the controller's state (Set Features, Device Self-test, Firmware Download/Commit,
 * Format, Sanitize, Security Send, namespace management, vendor-specific C0h-FFh, unknown
 * opcodes) and needs consent.
 */
const READ_ONLY = new Set<number>([0x02, 0x06, 0x0a, 0x1a, 0x82, 0x86]);

const WRITE_REASONS = new Map<number, string>([
  [0x09, 'changes a controller feature (Set Features)'],
  [0x10, 'activates firmware (Firmware Commit)'],
  [0x11, 'writes a firmware image to the controller (Firmware Image Download)'],
  [0x14, 'starts or aborts a device self-test, which runs on the medium'],
  [0x80, 'formats the namespace (erases it)'],
  [0x81, 'sends a security protocol command (may erase or lock the medium)'],
  [0x84, 'sanitizes (erases) the medium'],
  [0x0d, 'creates or deletes namespaces'],
  [0x15, 'attaches or detaches namespaces'],
]);

export function adminOpcodeName(opcode: number): string {
  const name = ADMIN_NAMES.get(opcode);
  if (name) return name;
  return opcode >= 0xc0 ? `vendor-specific admin command ${hex0x(opcode)}` : `admin command ${hex0x(opcode)}`;
}

export interface AdminEffect {
  effect: 'read' | 'write';
  /** Why it needs consent (for `write`). */
  reason?: string;
}

/** Whether `cmd` leaves the medium, the firmware and the controller state alone ('read') or not. */
export function adminCommandEffect(cmd: Pick<NvmeAdminCommand, 'opcode' | 'direction'>): AdminEffect {
  if (READ_ONLY.has(cmd.opcode) && cmd.direction !== 'out') return { effect: 'read' };
  const known = WRITE_REASONS.get(cmd.opcode);
  return {
    effect: 'write',
    reason:
      known ??
      (cmd.opcode >= 0xc0
        ? 'is vendor-specific: its effect cannot be known'
        : 'is not known to leave the medium alone'),
  };
}

/**
 * Bytes the command itself asks the drive to return, whatever buffer the host sets up for it
 * (NVM Express Base 2.0): Get Log Page NUMD = NUMDU (CDW11[15:0]) : NUMDL (CDW10[31:16]), 0's
 * based dwords; Identify always 4096; Directive Receive NUMD in CDW11, 0's based dwords; Security
 * Receive AL in CDW11, bytes. Undefined for commands whose reply length is not in their fields.
 * Bridge caps apply to this as well as to the host's length: the drive sends what it was asked.
 */
export function requestedReplyBytes(cmd: Pick<NvmeAdminCommand, 'opcode' | 'cdw10' | 'cdw11'>): number | undefined {
  const cdw10 = cmd.cdw10 ?? 0;
  const cdw11 = cmd.cdw11 ?? 0;
  switch (cmd.opcode) {
    case NvmeAdminOpcode.GET_LOG_PAGE:
      return ((cdw11 & 0xffff) * 0x1_0000 + (cdw10 >>> 16) + 1) * 4;
    case NvmeAdminOpcode.IDENTIFY:
      return 4096;
    case NvmeAdminOpcode.DIRECTIVE_RECEIVE:
      return ((cdw11 >>> 0) + 1) * 4;
    case NvmeAdminOpcode.SECURITY_RECEIVE:
      return cdw11 >>> 0;
    default:
      return undefined;
  }
}

/** Refuses a malformed command before anything is sent. */
export function checkAdminCommand(cmd: NvmeAdminCommand): void {
  if (!Number.isInteger(cmd.opcode) || cmd.opcode < 0 || cmd.opcode > 0xff)
    throw badInput(`an NVMe opcode is a byte (0x00-0xFF); got ${cmd.opcode}`);
  for (const key of ['nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const) {
    const v = cmd[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff))
      throw badInput(`${key} is a 32-bit unsigned value; got ${v}`);
  }
  if (cmd.direction === 'in') {
    if (!Number.isInteger(cmd.length) || (cmd.length ?? 0) < 1 || (cmd.length ?? 0) > 0x100_0000)
      throw badInput(`a data-in NVMe command needs a length from 1 to 16 MiB; got ${cmd.length}`);
  } else if (cmd.direction === 'out') {
    if (!(cmd.data instanceof Uint8Array) || cmd.data.length === 0)
      throw badInput('a data-out NVMe command needs the bytes to send');
  } else if (cmd.direction !== 'none') {
    throw badInput(`an NVMe data direction is none, in or out; got ${String(cmd.direction)}`);
  }
}

/** The 64-byte submission queue entry (little-endian dwords), as packet-mode bridges take it. */
export function submissionEntry(cmd: NvmeAdminCommand): Uint8Array {
  const sqe = new Uint8Array(64);
  const view = new DataView(sqe.buffer);
  sqe[0] = cmd.opcode;
  view.setUint32(4, cmd.nsid ?? 0, true);
  const cdws = [cmd.cdw10, cmd.cdw11, cmd.cdw12, cmd.cdw13, cmd.cdw14, cmd.cdw15];
  cdws.forEach((v, i) => view.setUint32(40 + 4 * i, v ?? 0, true));
  return sqe;
}

export interface NvmeCompletion {
  /** The bridge read the completion back (status and DW0 are real); false: only the SCSI outcome is known. */
  available: boolean;
  /** Status field without the phase bit: DNR(14) M(13) CRD(12:11) SCT(10:8) SC(7:0). 0 = success. */
  status: number;
  statusCodeType: number;
  statusCode: number;
  /** Command-specific result (e.g. the Get Features value). */
  dw0: number;
  /** Data-in bytes (empty otherwise). */
  data: Uint8Array;
  /** Bytes moved in the data phase. */
  transferred: number;
}

/** A completion from CQE dword 3's status field (bits 31:17) and dword 0. */
export function completionFromStatus(
  statusField: number,
  dw0: number,
  data: Uint8Array,
  transferred: number,
): NvmeCompletion {
  const status = statusField & 0x7fff;
  return {
    available: true,
    status,
    statusCodeType: (status >> 8) & 0x7,
    statusCode: status & 0xff,
    dw0: dw0 >>> 0,
    data,
    transferred,
  };
}

/** A command whose completion the bridge cannot read back: success is all that GOOD status says. */
export function assumedCompletion(data: Uint8Array, transferred: number): NvmeCompletion {
  return { available: false, status: 0, statusCodeType: 0, statusCode: 0, dw0: 0, data, transferred };
}

const GENERIC_STATUS: Record<number, string> = {
  0x00: 'Successful Completion',
  0x01: 'Invalid Command Opcode',
  0x02: 'Invalid Field in Command',
  0x03: 'Command ID Conflict',
  0x04: 'Data Transfer Error',
  0x05: 'Commands Aborted due to Power Loss Notification',
  0x06: 'Internal Error',
  0x07: 'Command Abort Requested',
  0x0b: 'Invalid Namespace or Format',
  0x0d: 'Invalid SGL Segment Descriptor',
  0x1d: 'Sanitize In Progress',
};
const COMMAND_SPECIFIC_STATUS: Record<number, string> = {
  0x06: 'Invalid Firmware Slot',
  0x07: 'Invalid Firmware Image',
  0x09: 'Invalid Log Page',
  0x0a: 'Invalid Format',
  0x0b: 'Firmware Activation Requires Conventional Reset',
  0x0d: 'Feature Identifier Not Saveable',
  0x0e: 'Feature Not Changeable',
  0x10: 'Firmware Activation Requires NVM Subsystem Reset',
  0x11: 'Firmware Activation Requires Controller Level Reset',
  0x14: 'Overlapping Range',
  0x1d: 'Device Self-test In Progress',
};

/** Text for a status field: "Invalid Field in Command (SCT 0, SC 0x02)". */
export function nvmeStatusText(status: number): string {
  const sct = (status >> 8) & 0x7;
  const sc = status & 0xff;
  const name =
    sct === 0
      ? GENERIC_STATUS[sc]
      : sct === 1
        ? COMMAND_SPECIFIC_STATUS[sc]
        : sct === 2
          ? 'Media and Data Integrity Error'
          : undefined;
  return `${name ?? 'status'} (SCT ${sct}, SC ${hex0x(sc)})`;
}
