/**
 * Log pages: SMART / Health Information (02h, 512 bytes), Error Information (01h, 64 bytes per
 * entry), Firmware Slot Information (03h, 512 bytes), Device Self-test (06h, 564 bytes). Offsets
 * from the NVM Express Base Specification 2.0 (Figures 206, 207, 208, 211, 212), as also laid
 * out in smartmontools' `nvme_smart_log`, `nvme_error_log_page`, `nvme_self_test_log`.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { ascii, le128 } from './nvme-identify.js';
import { nvmeStatusText } from './nvme-admin.js';

export const SMART_LOG_BYTES = 512;
export const ERROR_ENTRY_BYTES = 64;
export const FIRMWARE_SLOT_LOG_BYTES = 512;
export const SELF_TEST_LOG_BYTES = 564;

export interface NvmeSmartLog {
  criticalWarning: number;
  /** Composite temperature in Kelvin (0: not reported). */
  temperatureKelvin: number;
  availableSpare: number;
  availableSpareThreshold: number;
  percentageUsed: number;
  /** Units of 1000 512-byte blocks. */
  dataUnitsRead: bigint;
  dataUnitsWritten: bigint;
  hostReads: bigint;
  hostWrites: bigint;
  /** Minutes. */
  controllerBusyTime: bigint;
  powerCycles: bigint;
  powerOnHours: bigint;
  unsafeShutdowns: bigint;
  mediaErrors: bigint;
  errorLogEntries: bigint;
  /** Minutes above the warning / critical composite temperature. */
  warningTempTime: number;
  criticalTempTime: number;
  /** Sensors 1-8 in Kelvin; absent ones are 0 and left out. */
  temperatureSensorsKelvin: number[];
}

export function parseSmartLog(data: Uint8Array): NvmeSmartLog {
  if (data.length < SMART_LOG_BYTES)
    throw new UsbScsiError(ErrorCodes.IO, `the SMART / health log returned ${data.length} of ${SMART_LOG_BYTES} bytes`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const sensors: number[] = [];
  for (let i = 0; i < 8; i++) {
    const k = v.getUint16(200 + 2 * i, true);
    if (k) sensors.push(k);
  }
  return {
    criticalWarning: data[0]!,
    temperatureKelvin: v.getUint16(1, true),
    availableSpare: data[3]!,
    availableSpareThreshold: data[4]!,
    percentageUsed: data[5]!,
    dataUnitsRead: le128(data, 32),
    dataUnitsWritten: le128(data, 48),
    hostReads: le128(data, 64),
    hostWrites: le128(data, 80),
    controllerBusyTime: le128(data, 96),
    powerCycles: le128(data, 112),
    powerOnHours: le128(data, 128),
    unsafeShutdowns: le128(data, 144),
    mediaErrors: le128(data, 160),
    errorLogEntries: le128(data, 176),
    warningTempTime: v.getUint32(192, true),
    criticalTempTime: v.getUint32(196, true),
    temperatureSensorsKelvin: sensors,
  };
}

const CRITICAL_WARNING_BITS: [number, string][] = [
  [0x01, 'available spare below threshold'],
  [0x02, 'temperature above or below threshold'],
  [0x04, 'NVM subsystem reliability degraded'],
  [0x08, 'media placed in read-only mode'],
  [0x10, 'volatile memory backup failed'],
  [0x20, 'persistent memory region unreliable'],
];

export function criticalWarningText(w: number): string[] {
  const out = CRITICAL_WARNING_BITS.filter(([bit]) => w & bit).map(([, text]) => text);
  if (w & ~0x3f) out.push(`other (0x${(w & ~0x3f).toString(16)})`);
  return out;
}

export interface NvmeErrorEntry {
  errorCount: bigint;
  submissionQueueId: number;
  commandId: number;
  /** Status field without the phase tag. */
  status: number;
  statusText: string;
  phaseTag: boolean;
  parameterErrorLocation: number;
  lba: bigint;
  nsid: number;
  vendorSpecific: number;
}

/** Entries in order; unused ones (error count 0) are left out. */
export function parseErrorLog(data: Uint8Array): NvmeErrorEntry[] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: NvmeErrorEntry[] = [];
  for (let at = 0; at + ERROR_ENTRY_BYTES <= data.length; at += ERROR_ENTRY_BYTES) {
    const errorCount = v.getBigUint64(at, true);
    if (errorCount === 0n) continue;
    const field = v.getUint16(at + 12, true);
    out.push({
      errorCount,
      submissionQueueId: v.getUint16(at + 8, true),
      commandId: v.getUint16(at + 10, true),
      status: field >> 1,
      statusText: nvmeStatusText(field >> 1),
      phaseTag: (field & 1) !== 0,
      parameterErrorLocation: v.getUint16(at + 14, true),
      lba: v.getBigUint64(at + 16, true),
      nsid: v.getUint32(at + 24, true),
      vendorSpecific: data[at + 28]!,
    });
  }
  return out;
}

export interface NvmeFirmwareSlots {
  activeSlot: number;
  /** Slot activated at the next reset (0: none pending). */
  nextResetSlot: number;
  /** Revision per slot 1-7 ('' = empty). */
  slots: string[];
}

export function parseFirmwareSlotLog(data: Uint8Array): NvmeFirmwareSlots {
  if (data.length < 64) throw new UsbScsiError(ErrorCodes.IO, `the firmware slot log returned ${data.length} bytes`);
  const slots: string[] = [];
  for (let i = 0; i < 7; i++) slots.push(ascii(data, 8 + 8 * i, 8));
  return { activeSlot: data[0]! & 0x7, nextResetSlot: (data[0]! >> 4) & 0x7, slots };
}

const SELF_TEST_CODES: Record<number, string> = { 0x1: 'Short', 0x2: 'Extended', 0xe: 'Vendor specific' };
const SELF_TEST_RESULTS: Record<number, string> = {
  0x0: 'Completed without error',
  0x1: 'Aborted: Self-test command',
  0x2: 'Aborted: Controller Reset',
  0x3: 'Aborted: Namespace removed',
  0x4: 'Aborted: Format NVM command',
  0x5: 'Fatal or unknown test error',
  0x6: 'Completed: unknown failed segment',
  0x7: 'Completed: failed segments',
  0x8: 'Aborted: unknown reason',
  0x9: 'Aborted: sanitize operation',
};

export interface NvmeSelfTestResult {
  code: number;
  codeText: string;
  result: number;
  resultText: string;
  segment: number;
  powerOnHours: bigint;
  nsid?: number;
  lba?: bigint;
  statusCodeType?: number;
  statusCode?: number;
}

export interface NvmeSelfTestLog {
  /** 0 none, 1 short, 2 extended, Eh vendor. */
  currentOperation: number;
  currentOperationText: string;
  currentCompletionPercent: number;
  /** Newest first; unused entries (code 0 or result Fh) are left out. */
  results: NvmeSelfTestResult[];
  /** Result slots present in the data (20 in a whole log; fewer when a bridge caps the read). */
  slotsRead: number;
}

export function parseSelfTestLog(data: Uint8Array): NvmeSelfTestLog {
  if (data.length < 4) throw new UsbScsiError(ErrorCodes.IO, `the self-test log returned ${data.length} bytes`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const op = data[0]! & 0xf;
  const results: NvmeSelfTestResult[] = [];
  const slotsRead = Math.min(20, Math.floor((data.length - 4) / 28));
  for (let i = 0; i < slotsRead; i++) {
    const at = 4 + 28 * i;
    const code = data[at]! >> 4;
    const result = data[at]! & 0xf;
    if (code === 0 || result === 0xf) continue;
    const valid = data[at + 2]!;
    results.push({
      code,
      codeText: SELF_TEST_CODES[code] ?? `Unknown (0x${code.toString(16)})`,
      result,
      resultText: SELF_TEST_RESULTS[result] ?? `Unknown result (0x${result.toString(16)})`,
      segment: data[at + 1]!,
      powerOnHours: v.getBigUint64(at + 4, true),
      ...(valid & 0x1 ? { nsid: v.getUint32(at + 12, true) } : {}),
      ...(valid & 0x2 ? { lba: v.getBigUint64(at + 16, true) } : {}),
      ...(valid & 0x4 ? { statusCodeType: data[at + 24]! & 0x7 } : {}),
      ...(valid & 0x8 ? { statusCode: data[at + 25]! } : {}),
    });
  }
  const opText =
    op === 0
      ? 'No self-test in progress'
      : `${SELF_TEST_CODES[op] ?? `Unknown (0x${op.toString(16)})`} self-test in progress`;
  return {
    currentOperation: op,
    currentOperationText: opText,
    currentCompletionPercent: op ? data[1]! & 0x7f : 0,
    results,
    slotsRead,
  };
}
