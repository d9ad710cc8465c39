import type { FaultKind } from '../faults.js';
import type { HostDirection } from '../scsi/types.js';
import type { ReceivedCbw } from './wrappers.js';

/**
 * What the device did with one bulk-out transfer. `nak`: not ready to take data now (the host's transfer stays
 * pending).
 */
export type BulkOutOutcome = { status: 'ok' | 'stall'; accepted: number } | { status: 'nak' };

/**
 * What the device sends for one bulk-in transfer of up to `maxLength` bytes.
 * `data` longer than `maxLength` is babble (the host sees `overflow`).
 * `stall`: the device sent `data` and then halted the endpoint.
 * `nak`: nothing to send now.
 */
export type BulkInOutcome = { status: 'ok' | 'stall'; data: Uint8Array } | { status: 'nak' };

export type ControlOutcome = { status: 'ok'; data?: Uint8Array } | { status: 'stall' };

/** One command as the device saw it; filled in as it completes. */
export interface CommandRecord {
  /** 1-based. */
  index: number;
  tag: number;
  lun: number;
  opcode: number;
  cdb: Uint8Array;
  hostDirection: HostDirection;
  hostLength: number;
  /** Faults that fired on this command. */
  faults: FaultKind[];
  /** Data bytes moved in the data phase. */
  transferred: number;
  /** CSW fields as sent (before any injected corruption), once sent. */
  cswStatus?: number;
  residue?: number;
  /** SCSI status of the command (0 GOOD, 2 CHECK CONDITION), when it ran. */
  scsiStatus?: number;
}

export interface BotDeviceStats {
  /** Valid CBWs received (= commands). */
  commands: number;
  invalidCbws: number;
  notMeaningfulCbws: number;
  /** Bulk-Only Mass Storage Resets (class request 0xFF). */
  resets: number;
  /** USB port resets. */
  portResets: number;
  clearHalts: number;
  clearHaltsByEndpoint: Record<number, number>;
  getMaxLun: number;
  cswsSent: number;
  lastCbw: ReceivedCbw | null;
  lastCsw: Uint8Array | null;
  /** The last 1000 commands. */
  history: CommandRecord[];
}

export function emptyStats(): BotDeviceStats {
  return {
    commands: 0,
    invalidCbws: 0,
    notMeaningfulCbws: 0,
    resets: 0,
    portResets: 0,
    clearHalts: 0,
    clearHaltsByEndpoint: {},
    getMaxLun: 0,
    cswsSent: 0,
    lastCbw: null,
    lastCsw: null,
    history: [],
  };
}
