/**
 * CDB builders for SPC (all device types) commands. Pure functions: they
 * validate every argument (E_BAD_INPUT naming the field and its range) and
 * return a fresh Uint8Array. Field layouts cite SPC-5 (T10/BSR INCITS 502).
 */
import { badInput } from '../errors.js';
import { checkUint, putBe16, putBe24, putBe32 } from './bytes.js';
import { Opcode } from './opcodes.js';

export interface InquiryOptions {
  /** VPD page to ask for (sets EVPD); omit for standard INQUIRY data. */
  vpdPage?: number;
  /** Default 36 for standard data, 252 for a VPD page. At most 0xFFFF. */
  allocationLength?: number;
}

/** INQUIRY (12h), SPC-5 §6.7. */
export function inquiryCdb(options: InquiryOptions = {}): Uint8Array {
  const evpd = options.vpdPage !== undefined;
  const page = evpd ? checkUint('INQUIRY', 'vpdPage', options.vpdPage as number, 0xff) : 0;
  const alloc = checkUint('INQUIRY', 'allocationLength', options.allocationLength ?? (evpd ? 252 : 36), 0xffff);
  const cdb = Uint8Array.of(Opcode.INQUIRY, evpd ? 1 : 0, page, 0, 0, 0);
  putBe16(cdb, 3, alloc);
  return cdb;
}

/** TEST UNIT READY (00h). */
export function testUnitReadyCdb(): Uint8Array {
  return new Uint8Array(6);
}

export interface RequestSenseOptions {
  /** Default 252 (the largest fixed-format sense SPC allows). At most 255. */
  allocationLength?: number;
  /** DESC bit: ask for descriptor-format sense. */
  descriptor?: boolean;
}

/** REQUEST SENSE (03h), SPC-5 §6.39. */
export function requestSenseCdb(options: RequestSenseOptions = {}): Uint8Array {
  const alloc = checkUint('REQUEST SENSE', 'allocationLength', options.allocationLength ?? 252, 0xff);
  return Uint8Array.of(Opcode.REQUEST_SENSE, options.descriptor ? 1 : 0, 0, 0, alloc, 0);
}

/** Page control of MODE SENSE: current, changeable, default or saved values. */
export type PageControl = 'current' | 'changeable' | 'default' | 'saved';
const PAGE_CONTROL: Record<PageControl, number> = { current: 0, changeable: 1, default: 2, saved: 3 };

export interface ModeSenseOptions {
  /** Page code 0..0x3F; default 0x3F (all pages). */
  page?: number;
  /** Subpage 0..0xFF; default 0 (0xFF = all subpages). */
  subpage?: number;
  /** Default 'current'. */
  pageControl?: PageControl;
  /** DBD: disable block descriptors. */
  disableBlockDescriptors?: boolean;
  /** Default 0xFF (6-byte) / 0x1000 (10-byte). */
  allocationLength?: number;
  /** MODE SENSE(10) only: LLBAA, accept long LBA block descriptors. */
  longLba?: boolean;
}

function modeSenseByte2(command: string, o: ModeSenseOptions): number {
  const pc = PAGE_CONTROL[o.pageControl ?? 'current'];
  if (pc === undefined) {
    throw badInput(
      `${command}: pageControl must be one of current, changeable, default, saved; got ${String(o.pageControl)}`,
    );
  }
  return (pc << 6) | checkUint(command, 'page', o.page ?? 0x3f, 0x3f);
}

/** MODE SENSE(6) (1Ah), SPC-5 §6.14. */
export function modeSense6Cdb(options: ModeSenseOptions = {}): Uint8Array {
  const cmd = 'MODE SENSE(6)';
  if (options.longLba) throw badInput(`${cmd}: longLba (LLBAA) exists only in MODE SENSE(10); use modeSense10Cdb`);
  const alloc = checkUint(cmd, 'allocationLength', options.allocationLength ?? 0xff, 0xff);
  const sub = checkUint(cmd, 'subpage', options.subpage ?? 0, 0xff);
  return Uint8Array.of(
    Opcode.MODE_SENSE_6,
    options.disableBlockDescriptors ? 0x08 : 0,
    modeSenseByte2(cmd, options),
    sub,
    alloc,
    0,
  );
}

/** MODE SENSE(10) (5Ah), SPC-5 §6.15. */
export function modeSense10Cdb(options: ModeSenseOptions = {}): Uint8Array {
  const cmd = 'MODE SENSE(10)';
  const alloc = checkUint(cmd, 'allocationLength', options.allocationLength ?? 0x1000, 0xffff);
  const sub = checkUint(cmd, 'subpage', options.subpage ?? 0, 0xff);
  const byte1 = (options.longLba ? 0x10 : 0) | (options.disableBlockDescriptors ? 0x08 : 0);
  const cdb = Uint8Array.of(Opcode.MODE_SENSE_10, byte1, modeSenseByte2(cmd, options), sub, 0, 0, 0, 0, 0, 0);
  putBe16(cdb, 7, alloc);
  return cdb;
}

export interface ReportLunsOptions {
  /** SELECT REPORT: 0 all addressable LUNs, 1 well-known only, 2 all; default 0. */
  selectReport?: number;
  /** At least 16 (SPC-5 §6.33); default 8 + 8 × 256. */
  allocationLength?: number;
}

/** REPORT LUNS (A0h), SPC-5 §6.33. */
export function reportLunsCdb(options: ReportLunsOptions = {}): Uint8Array {
  const cmd = 'REPORT LUNS';
  const alloc = checkUint(cmd, 'allocationLength', options.allocationLength ?? 8 + 8 * 256, 0xffffffff);
  if (alloc < 16) throw badInput(`${cmd}: allocationLength must be at least 16 (SPC-5 §6.33); got ${alloc}`);
  const cdb = new Uint8Array(12);
  cdb[0] = Opcode.REPORT_LUNS;
  cdb[2] = checkUint(cmd, 'selectReport', options.selectReport ?? 0, 0xff);
  putBe32(cdb, 6, alloc);
  return cdb;
}

/** READ BUFFER(10) modes (SPC-5 table 201). */
export const ReadBufferMode = {
  COMBINED_HEADER_AND_DATA: 0x00,
  VENDOR_SPECIFIC: 0x01,
  DATA: 0x02,
  DESCRIPTOR: 0x03,
  ECHO_BUFFER: 0x0a,
  ECHO_BUFFER_DESCRIPTOR: 0x0b,
  ERROR_HISTORY: 0x1c,
} as const;

/** WRITE BUFFER modes (SPC-5 table 236). Modes 04h–07h and 0Dh–0Fh change device firmware. */
export const WriteBufferMode = {
  COMBINED_HEADER_AND_DATA: 0x00,
  VENDOR_SPECIFIC: 0x01,
  DATA: 0x02,
  DOWNLOAD_MICROCODE_ACTIVATE: 0x04,
  DOWNLOAD_MICROCODE_SAVE_ACTIVATE: 0x05,
  DOWNLOAD_MICROCODE_OFFSETS_ACTIVATE: 0x06,
  DOWNLOAD_MICROCODE_OFFSETS_SAVE_ACTIVATE: 0x07,
  ECHO_BUFFER: 0x0a,
  DOWNLOAD_MICROCODE_OFFSETS_SELECT_ACTIVATION_SAVE_DEFER: 0x0d,
  DOWNLOAD_MICROCODE_OFFSETS_SAVE_DEFER: 0x0e,
  ACTIVATE_DEFERRED_MICROCODE: 0x0f,
  ENABLE_EXPANDER_COMMS: 0x1a,
  DISABLE_EXPANDER_COMMS: 0x1b,
  DOWNLOAD_ERROR_HISTORY: 0x1c,
} as const;

export interface BufferOptions {
  /** 5-bit MODE field. */
  mode: number;
  /** 3-bit MODE SPECIFIC field (byte 1 bits 7-5); default 0. */
  modeSpecific?: number;
  /** BUFFER ID, default 0. */
  bufferId?: number;
  /** 24-bit BUFFER OFFSET, default 0. */
  offset?: number;
  /** 24-bit length: ALLOCATION LENGTH (read) or PARAMETER LIST LENGTH (write). */
  length: number;
}

function bufferCdb(opcode: number, cmd: string, lengthName: string, o: BufferOptions): Uint8Array {
  const mode = checkUint(cmd, 'mode', o.mode, 0x1f);
  const ms = checkUint(cmd, 'modeSpecific', o.modeSpecific ?? 0, 7);
  const cdb = new Uint8Array(10);
  cdb[0] = opcode;
  cdb[1] = (ms << 5) | mode;
  cdb[2] = checkUint(cmd, 'bufferId', o.bufferId ?? 0, 0xff);
  putBe24(cdb, 3, checkUint(cmd, 'offset', o.offset ?? 0, 0xffffff));
  putBe24(cdb, 6, checkUint(cmd, lengthName, o.length, 0xffffff));
  return cdb;
}

/** READ BUFFER(10) (3Ch), SPC-5 §6.20. */
export function readBuffer10Cdb(options: BufferOptions): Uint8Array {
  return bufferCdb(Opcode.READ_BUFFER_10, 'READ BUFFER(10)', 'length', options);
}

/** WRITE BUFFER(10) (3Bh), SPC-5 §6.49. For mode 0Fh (activate deferred microcode) length must be 0. */
export function writeBuffer10Cdb(options: BufferOptions): Uint8Array {
  if (options.mode === WriteBufferMode.ACTIVATE_DEFERRED_MICROCODE && options.length !== 0) {
    throw badInput('WRITE BUFFER(10): mode 0x0f (activate deferred microcode) carries no data; pass length 0');
  }
  return bufferCdb(Opcode.WRITE_BUFFER_10, 'WRITE BUFFER(10)', 'length', options);
}

/** SEND DIAGNOSTIC self-test codes (SPC-5 table 219). */
export const SelfTestCode = {
  NONE: 0,
  BACKGROUND_SHORT: 1,
  BACKGROUND_EXTENDED: 2,
  ABORT_BACKGROUND: 4,
  FOREGROUND_SHORT: 5,
  FOREGROUND_EXTENDED: 6,
} as const;

export interface SendDiagnosticOptions {
  /** SELF-TEST CODE (0..7). Non-zero requires selfTest false and no parameter list. */
  selfTestCode?: number;
  /** PF: the parameter list is in page format. */
  pageFormat?: boolean;
  /** SELFTEST bit: run the default self-test. */
  selfTest?: boolean;
  deviceOffline?: boolean;
  unitOffline?: boolean;
  /** Length of the diagnostic page list sent as data-out; default 0. */
  parameterListLength?: number;
}

/** SEND DIAGNOSTIC (1Dh), SPC-5 §6.42. */
export function sendDiagnosticCdb(options: SendDiagnosticOptions = {}): Uint8Array {
  const cmd = 'SEND DIAGNOSTIC';
  const code = checkUint(cmd, 'selfTestCode', options.selfTestCode ?? 0, 7);
  const len = checkUint(cmd, 'parameterListLength', options.parameterListLength ?? 0, 0xffff);
  if (code !== 0 && (options.selfTest || len !== 0)) {
    throw badInput(`${cmd}: a selfTestCode (${code}) needs selfTest false and parameterListLength 0 (SPC-5 §6.42)`);
  }
  const byte1 =
    (code << 5) |
    (options.pageFormat ? 0x10 : 0) |
    (options.selfTest ? 0x04 : 0) |
    (options.deviceOffline ? 0x02 : 0) |
    (options.unitOffline ? 0x01 : 0);
  const cdb = Uint8Array.of(Opcode.SEND_DIAGNOSTIC, byte1, 0, 0, 0, 0);
  putBe16(cdb, 3, len);
  return cdb;
}

export interface ReceiveDiagnosticOptions {
  /** Diagnostic page; with `page` set, PCV is set. Omit to receive the result of the last SEND DIAGNOSTIC. */
  page?: number;
  /** At most 0xFFFF; default 4096. */
  allocationLength?: number;
}

/** RECEIVE DIAGNOSTIC RESULTS (1Ch), SPC-5 §6.32. */
export function receiveDiagnosticCdb(options: ReceiveDiagnosticOptions = {}): Uint8Array {
  const cmd = 'RECEIVE DIAGNOSTIC RESULTS';
  const pcv = options.page !== undefined;
  const page = pcv ? checkUint(cmd, 'page', options.page as number, 0xff) : 0;
  const cdb = Uint8Array.of(Opcode.RECEIVE_DIAGNOSTIC_RESULTS, pcv ? 1 : 0, page, 0, 0, 0);
  putBe16(cdb, 3, checkUint(cmd, 'allocationLength', options.allocationLength ?? 4096, 0xffff));
  return cdb;
}
