import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';

// Information units of USB Attached SCSI (UAS 1.0 / T10 UAS-2 §6.2): every IU starts with
// {id, reserved, tag (big-endian 16)}. Encoders check their input; decoders treat the device as
// untrusted: a short IU, an unknown id or a bad length is a typed error, never a crash.

export const IuId = {
  COMMAND: 0x01,
  SENSE: 0x03,
  RESPONSE: 0x04,
  TASK_MANAGEMENT: 0x05,
  READ_READY: 0x06,
  WRITE_READY: 0x07,
} as const;

export const TaskAttribute = { SIMPLE: 0, HEAD_OF_QUEUE: 1, ORDERED: 2, ACA: 4 } as const;
export type TaskAttribute = (typeof TaskAttribute)[keyof typeof TaskAttribute];

export const TaskManagementFunction = { ABORT_TASK: 0x01, LOGICAL_UNIT_RESET: 0x08 } as const;
export type TaskManagementFunction = (typeof TaskManagementFunction)[keyof typeof TaskManagementFunction];

/** Response IU codes (UAS-2 Table 20; SAM-5 service responses). */
export const ResponseCode = {
  TMF_COMPLETE: 0x00,
  INVALID_IU: 0x02,
  TMF_NOT_SUPPORTED: 0x04,
  TMF_FAILED: 0x05,
  TMF_SUCCEEDED: 0x08,
  INCORRECT_LUN: 0x09,
  OVERLAPPED_TAG: 0x0a,
} as const;

const RESPONSE_NAMES: Record<number, string> = {
  0x00: 'task management function complete',
  0x02: 'invalid information unit',
  0x04: 'task management function not supported',
  0x05: 'task management function failed',
  0x08: 'task management function succeeded',
  0x09: 'incorrect logical unit number',
  0x0a: 'overlapped tag attempted',
};

export function responseCodeName(code: number): string {
  return RESPONSE_NAMES[code] ?? `reserved response code 0x${code.toString(16).padStart(2, '0')}`;
}

export const COMMAND_IU_LENGTH = 32;
export const TASK_MANAGEMENT_IU_LENGTH = 16;
/** Sense IU header; the sense data follows (at most 252 bytes, UAS-2 §6.2.5). */
export const SENSE_IU_HEADER_LENGTH = 16;
export const RESPONSE_IU_LENGTH = 8;
export const READY_IU_LENGTH = 4;
/** A status-pipe read large enough for any IU the device may send there. */
export const STATUS_IU_MAX_LENGTH = SENSE_IU_HEADER_LENGTH + 252;
/** Tags are 16-bit; 0 is reserved by neither spec nor Linux, but stream id 0 means "no stream". */
export const MAX_TAG = 0xffff;

function checkTag(tag: number, what: string): void {
  if (!Number.isInteger(tag) || tag < 1 || tag > MAX_TAG) throw badInput(`${what} ${tag} is not a tag (1..65535)`);
}

/** SAM-5 single-level LUN (peripheral addressing below 256, flat space up to 16383), as Linux int_to_scsilun. */
function writeLun(view: DataView, at: number, lun: number): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > 0x3fff) throw badInput(`LUN ${lun} is outside 0..16383`);
  view.setUint16(at, lun < 256 ? lun : 0x4000 | lun);
}

export interface CommandIu {
  tag: number;
  lun: number;
  cdb: Uint8Array;
  /** Default SIMPLE. */
  taskAttribute?: TaskAttribute;
}

/**
 * Command IU (32 bytes). A CDB over 16 bytes needs additional CDB length, which neither QEMU's
 * `usb-uas` nor most bridges take: refused here, before anything is sent.
 */
export function encodeCommandIu(iu: CommandIu): Uint8Array {
  checkTag(iu.tag, 'command tag');
  if (!(iu.cdb instanceof Uint8Array) || iu.cdb.length < 1 || iu.cdb.length > 16) {
    throw badInput(
      `a UAS command carries a CDB of 1 to 16 bytes (no additional CDB length); got ` +
        `${iu.cdb instanceof Uint8Array ? iu.cdb.length : typeof iu.cdb} bytes`,
    );
  }
  const attribute = iu.taskAttribute ?? TaskAttribute.SIMPLE;
  if (!Object.values(TaskAttribute).includes(attribute)) throw badInput(`task attribute ${attribute} is not defined`);
  const bytes = new Uint8Array(COMMAND_IU_LENGTH);
  const view = new DataView(bytes.buffer);
  bytes[0] = IuId.COMMAND;
  view.setUint16(2, iu.tag);
  bytes[4] = attribute;
  writeLun(view, 8, iu.lun);
  bytes.set(iu.cdb, 16);
  return bytes;
}

export interface TaskManagementIu {
  tag: number;
  function: TaskManagementFunction;
  lun: number;
  /** ABORT TASK: the tag of the command to abort. */
  taskTag?: number;
}

export function encodeTaskManagementIu(iu: TaskManagementIu): Uint8Array {
  checkTag(iu.tag, 'task management tag');
  const bytes = new Uint8Array(TASK_MANAGEMENT_IU_LENGTH);
  const view = new DataView(bytes.buffer);
  bytes[0] = IuId.TASK_MANAGEMENT;
  view.setUint16(2, iu.tag);
  bytes[4] = iu.function;
  if (iu.function === TaskManagementFunction.ABORT_TASK) {
    checkTag(iu.taskTag ?? 0, 'the tag of the task to abort');
    view.setUint16(6, iu.taskTag!);
  }
  writeLun(view, 8, iu.lun);
  return bytes;
}

/** What the device may send on the status pipe. */
export type StatusIu =
  | { id: 'sense'; tag: number; status: number; statusQualifier: number; sense: Uint8Array }
  | { id: 'response'; tag: number; responseCode: number; additionalInfo: number }
  | { id: 'read-ready'; tag: number }
  | { id: 'write-ready'; tag: number };

function malformed(message: string, bytes: Uint8Array): UsbScsiError {
  return new UsbScsiError(ErrorCodes.PHASE_ERROR, `the device sent a malformed UAS IU: ${message}`, {
    details: { iu: Array.from(bytes.subarray(0, 32)) },
  });
}

/**
 * Decodes one IU read from the status pipe. Throws `E_PHASE_ERROR` for anything that is not a
 * whole Sense, Response, Read Ready or Write Ready IU (the tag's meaning is the caller's to judge).
 */
export function decodeStatusIu(bytes: Uint8Array): StatusIu {
  if (bytes.length < READY_IU_LENGTH) throw malformed(`${bytes.length} bytes, shorter than any IU`, bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = view.getUint16(2);
  switch (bytes[0]) {
    case IuId.READ_READY:
      return { id: 'read-ready', tag };
    case IuId.WRITE_READY:
      return { id: 'write-ready', tag };
    case IuId.RESPONSE:
      if (bytes.length < RESPONSE_IU_LENGTH)
        throw malformed(`a Response IU of ${bytes.length} bytes (8 needed)`, bytes);
      return {
        id: 'response',
        tag,
        responseCode: bytes[7]!,
        additionalInfo: (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!,
      };
    case IuId.SENSE: {
      if (bytes.length < SENSE_IU_HEADER_LENGTH)
        throw malformed(`a Sense IU of ${bytes.length} bytes (16 needed)`, bytes);
      const length = view.getUint16(14);
      if (SENSE_IU_HEADER_LENGTH + length > bytes.length)
        throw malformed(`a Sense IU announces ${length} sense bytes but carries ${bytes.length - 16}`, bytes);
      return {
        id: 'sense',
        tag,
        statusQualifier: view.getUint16(4),
        status: bytes[6]!,
        sense: bytes.slice(SENSE_IU_HEADER_LENGTH, SENSE_IU_HEADER_LENGTH + length),
      };
    }
    default:
      throw malformed(`IU id 0x${bytes[0]!.toString(16).padStart(2, '0')} on the status pipe`, bytes);
  }
}

/** The Read Ready or Write Ready IU a device sends for `tag` (4 bytes: id, reserved, tag). */
export function encodeReadyIu(id: 'read-ready' | 'write-ready', tag: number): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffff) throw badInput(`a UAS tag is 0 to 65535; got ${tag}`);
  return Uint8Array.of(id === 'read-ready' ? IuId.READ_READY : IuId.WRITE_READY, 0, tag >> 8, tag & 0xff);
}
