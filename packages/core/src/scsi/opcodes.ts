/** Operation codes used by the builders, CDB lengths by group, and names for display. */
import { u8 } from './bytes.js';
import { hex0x } from '../hex.js';
import {
  MAINTENANCE_IN_NAMES,
  MAINTENANCE_OUT_NAMES,
  OPCODE_NAMES,
  SERVICE_ACTION_IN_16_NAMES,
  SERVICE_ACTION_OUT_16_NAMES,
} from './opcode-names.js';

export const Opcode = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  FORMAT_UNIT: 0x04,
  REASSIGN_BLOCKS: 0x07,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  RECEIVE_DIAGNOSTIC_RESULTS: 0x1c,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_BUFFER_10: 0x3b,
  READ_BUFFER_10: 0x3c,
  WRITE_LONG_10: 0x3f,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  SANITIZE: 0x48,
  MODE_SELECT_10: 0x55,
  MODE_SENSE_10: 0x5a,
  VARIABLE_LENGTH: 0x7f,
  ATA_PASS_THROUGH_16: 0x85,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  WRITE_AND_VERIFY_16: 0x8e,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  ZBC_OUT: 0x94,
  WRITE_BUFFER_16: 0x96,
  WRITE_STREAM_16: 0x9a,
  WRITE_ATOMIC_16: 0x9c,
  SERVICE_ACTION_IN_16: 0x9e,
  SERVICE_ACTION_OUT_16: 0x9f,
  REPORT_LUNS: 0xa0,
  ATA_PASS_THROUGH_12: 0xa1,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
} as const;

/** SERVICE ACTION IN(16) service actions. */
export const ServiceActionIn16 = { READ_CAPACITY_16: 0x10, READ_LONG_16: 0x11, GET_LBA_STATUS: 0x12 } as const;

/**
 * CDB length implied by the opcode's group code (SPC-5 §4.2.5.1): group 0 → 6, 1 and 2 → 10,
 * 4 → 16, 5 → 12. `undefined` for group 3 (reserved / variable length 0x7F) and groups 6–7
 * (vendor specific), whose length the caller must know.
 */
export function cdbGroupLength(opcode: number): number | undefined {
  switch ((opcode >>> 5) & 7) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return undefined;
  }
}

/**
 * Human name of a command, e.g. `READ(10)`, `READ CAPACITY(16)` for 9E/10,
 * `REPORT SUPPORTED OPERATION CODES` for A3/0C. Takes a CDB (service actions are
 * decoded from byte 1) or a bare opcode.
 */
export function opcodeName(cdb: Uint8Array | number): string {
  const op = typeof cdb === 'number' ? cdb & 0xff : u8(cdb, 0);
  const base = OPCODE_NAMES.get(op);
  const saTable =
    op === 0x9e
      ? SERVICE_ACTION_IN_16_NAMES
      : op === 0x9f
        ? SERVICE_ACTION_OUT_16_NAMES
        : op === 0xa3
          ? MAINTENANCE_IN_NAMES
          : op === 0xa4
            ? MAINTENANCE_OUT_NAMES
            : undefined;
  if (saTable && typeof cdb !== 'number' && cdb.length >= 2) {
    const sa = u8(cdb, 1) & 0x1f;
    return saTable.get(sa) ?? `${base ?? hex0x(op)}, SERVICE ACTION ${hex0x(sa)}`;
  }
  if (base) return base;
  if (op >= 0xc0) return `VENDOR SPECIFIC (${hex0x(op)})`;
  return `UNKNOWN OPCODE (${hex0x(op)})`;
}
