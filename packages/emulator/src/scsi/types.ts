import type { LogicalUnit } from './lun.js';
import type { SenseSpec } from './sense.js';

export type HostDirection = 'none' | 'in' | 'out';

/** One command as the transport hands it to the SCSI target. */
export interface TargetCommand {
  lun: number;
  cdb: Uint8Array;
  /** Bytes received in the data-out phase (empty otherwise). */
  dataOut: Uint8Array;
  /** What the host announced in the CBW. */
  hostDirection: HostDirection;
  hostLength: number;
  tag: number;
}

export interface TargetResult {
  /** SCSI status: 0x00 GOOD or 0x02 CHECK CONDITION. */
  status: number;
  /** Data-in bytes the device has for the host (its "Di"). */
  data: Uint8Array;
  sense?: SenseSpec;
}

/** What the device expects to move for a command, decoded from the CDB before it runs. */
export type DataPlan = { direction: 'none' } | { direction: 'in' } | { direction: 'out'; length: number };

export interface FirmwareDownload {
  lun: number;
  /** WRITE BUFFER mode: 0x04, 0x05, 0x06, 0x07, 0x0E or 0x0F. */
  mode: number;
  bufferId: number;
  /** Buffer offset of this segment (modes 0x06/0x07/0x0E). */
  offset: number;
  /** This command's bytes. */
  segment: Uint8Array;
  /** Every segment so far, assembled by offset. */
  image: Uint8Array;
  /** The microcode is to be activated now (modes 0x04-0x07, 0x0F). */
  activate: boolean;
  /** The microcode is to be saved (modes 0x05, 0x07, 0x0E). */
  save: boolean;
}

/** Called for each download-microcode WRITE BUFFER. Return sense to fail the command. */
export type FirmwareHook = (download: FirmwareDownload) => void | SenseSpec | Promise<void | SenseSpec>;

export interface BuiltinContext {
  cdb: Uint8Array;
  unit: LogicalUnit;
  dataOut: Uint8Array;
  hostLength: number;
}

export interface BuiltinCommand {
  name: string;
  /** Media access: NOT READY (no medium, stopped, becoming ready) is reported before it runs. */
  media?: boolean;
  /** Data direction / data-out length decoded from the CDB (default: no data). */
  /**
   * `hostLength`: the bytes the host offers (BOT's dCBWDataTransferLength), for commands whose length the transport
   * carries.
   */
  plan?(cdb: Uint8Array, unit: LogicalUnit, hostLength: number): DataPlan;
  /** Returns the data-in bytes (already cut to the allocation length), or nothing. Throws CheckCondition. */
  run(ctx: BuiltinContext): Promise<Uint8Array | void> | Uint8Array | void;
}
