import { badInput } from '@usbscsi/core/errors';
import { SimulatedAtaDisk, type AtaDiskOptions } from './ata-disk.js';
import { CheckCondition } from './check-condition.js';
import { ataCommands } from './commands-ata.js';
import { sbcCommands } from './commands-sbc.js';
import { spcCommands } from './commands-spc.js';
import type { TargetEnv, TargetIdentity } from './env.js';
import { FirmwareModel, type FirmwareModelOptions } from './firmware-model.js';
import { LogicalUnit, type LunOptions } from './lun.js';
import { Sense, encodeSense, type SenseSpec } from './sense.js';
import type { BuiltinCommand, DataPlan, FirmwareHook, HostDirection, TargetCommand, TargetResult } from './types.js';

export interface TargetOptions {
  vendor?: string;
  product?: string;
  revision?: string;
  serial?: string;
  /** One entry per LUN (default: one 16 MiB RAM LUN of 512-byte blocks). */
  luns?: LunOptions[];
  /** The SATA disk behind the bridge for ATA PASS-THROUGH; `false` = not a SAT bridge (opcodes 85h/A1h unsupported). */
  ata?: AtaDiskOptions | false;
  /** Called for download-microcode WRITE BUFFER modes; without it those modes are refused (invalid field). */
  onFirmware?: FirmwareHook;
  /**
   * A firmware model behind the download modes (WRITE BUFFER, ATA DOWNLOAD MICROCODE); ignored while `onFirmware` is
   * set.
   */
  firmware?: FirmwareModelOptions;
  bufferCapacity?: number;
  maxTransferBlocks?: number;
}

/** What a vendor handler sees. */
export interface VendorCommandContext {
  opcode: number;
  cdb: Uint8Array;
  lun: number;
  unit: LogicalUnit;
  /** Data-out bytes (empty when the host sent none). */
  dataOut: Uint8Array;
  hostDirection: HostDirection;
  /** dCBWDataTransferLength. */
  hostLength: number;
  tag: number;
  /** Runs the built-in command this handler overrides (if any) and returns its result. */
  builtin(): Promise<TargetResult>;
}

/** Sense to report: a key/asc/ascq (status becomes CHECK CONDITION). */
export type VendorSense = Pick<SenseSpec, 'key' | 'asc' | 'ascq'> & Partial<SenseSpec>;

export interface VendorCommandResult {
  /** Data-in bytes for the host. */
  data?: Uint8Array;
  sense?: VendorSense;
  /** SCSI status; default GOOD, or CHECK CONDITION when `sense` is set. */
  status?: number;
}

export type VendorCommandHandler = (
  ctx: VendorCommandContext,
) => Promise<VendorCommandResult | Uint8Array | void> | VendorCommandResult | Uint8Array | void;

export interface VendorCommandOptions {
  /**
   * The data phase the device expects, decoded from the CDB. Without it the
   * device trusts the CBW: it takes all the data-out the host announces.
   */
  plan?: (cdb: Uint8Array) => DataPlan;
  /** Only for this LUN (default: every LUN). */
  lun?: number;
}

interface VendorEntry {
  handler: VendorCommandHandler;
  options: VendorCommandOptions;
}

/** Commands that report normally while a unit attention or not-ready condition is pending (SPC-5 §5.14). */
const UNAFFECTED_BY_ATTENTION = new Set([0x12, 0x03, 0xa0]);

export interface ExecuteOverrides {
  /**
   * Report this sense (e.g. an injected NOT READY) instead of running the command, unless the opcode is INQUIRY /
   * REQUEST SENSE / REPORT LUNS.
   */
  injectedSense?: SenseSpec;
}

/**
 * The SCSI target: LUNs, the built-in SPC/SBC/SAT command set, vendor handlers
 * (which override built-ins) and per-LUN sense held until REQUEST SENSE.
 */
export class ScsiTarget implements TargetEnv {
  readonly identity: TargetIdentity;
  readonly units: LogicalUnit[];
  readonly bufferCapacity: number;
  readonly maxTransferBlocks: number;
  readonly ataDisk: SimulatedAtaDisk | null;
  private readonly builtins = new Map<number, BuiltinCommand>();
  private readonly vendor = new Map<number, VendorEntry[]>();
  private firmware: FirmwareHook | undefined;
  /** The firmware model (null unless `firmware` was given). */
  readonly firmwareState: FirmwareModel | null;
  /** Set by the USB device around the target: how activation re-enumerates (drop off the bus, come back after `ms`). */
  onReenumerate: ((ms: number) => void) | undefined;
  /** Errors thrown by vendor handlers or built-ins (the host saw HARDWARE ERROR 44/00), newest last, at most 50. */
  readonly internalErrors: unknown[] = [];

  constructor(options: TargetOptions = {}) {
    this.identity = {
      vendor: options.vendor ?? 'USBSCSI',
      product: options.product ?? 'SIMULATED DISK',
      revision: options.revision ?? '0.1',
      serial: options.serial ?? 'SIM0001',
    };
    const lunOptions = options.luns ?? [{}];
    if (lunOptions.length < 1 || lunOptions.length > 16)
      throw badInput(`a BOT device has 1 to 16 LUNs, not ${lunOptions.length}`);
    this.units = lunOptions.map((o, i) => new LogicalUnit(i, o));
    this.bufferCapacity = options.bufferCapacity ?? 64 * 1024;
    this.maxTransferBlocks = options.maxTransferBlocks ?? 0xffff;
    this.firmware = options.onFirmware;
    const first = this.units[0]!;
    this.ataDisk =
      options.ata === false
        ? null
        : new SimulatedAtaDisk({
            ...(options.ata ?? {}),
            sectors: options.ata?.sectors ?? (first.blockCount * BigInt(first.blockSize)) / 512n,
          });
    this.firmwareState = options.firmware
      ? new FirmwareModel(
          {
            setRevisions: (revision, ataRevision) => {
              this.identity.revision = revision;
              if (this.ataDisk) this.ataDisk.firmware = ataRevision;
            },
            raiseUnitAttention: (sense) => {
              for (const unit of this.units) unit.unitAttention = sense;
            },
            reenumerate: (ms) => this.onReenumerate?.(ms),
          },
          options.firmware,
        )
      : null;
    if (this.ataDisk && this.firmwareState)
      this.ataDisk.microcode = {
        minBlocks: this.firmwareState.ataMinBlocks,
        maxBlocks: this.firmwareState.ataMaxBlocks,
      };
    const firmware = () => this.firmwareState;
    for (const table of [
      spcCommands(this),
      sbcCommands(),
      this.ataDisk ? ataCommands(() => this.ataDisk!, firmware) : new Map<number, BuiltinCommand>(),
    ]) {
      for (const [op, cmd] of table) this.builtins.set(op, cmd);
    }
  }

  get maxLun(): number {
    return this.units.length - 1;
  }

  firmwareHook(): FirmwareHook | undefined {
    return this.firmware;
  }
  setFirmwareHook(hook: FirmwareHook | undefined): void {
    this.firmware = hook;
  }
  firmwareModel(): FirmwareModel | null {
    return this.firmwareState;
  }
  supportsOpcode(opcode: number): boolean {
    return this.builtins.has(opcode) || this.vendor.has(opcode);
  }

  unit(lun: number): LogicalUnit {
    const u = this.units[lun];
    if (!u) throw badInput(`LUN ${lun} does not exist (this device has ${this.units.length})`);
    return u;
  }

  /** Registers a vendor handler; it overrides a built-in of the same opcode. Returns an unregister function. */
  onCommand(opcode: number, handler: VendorCommandHandler, options: VendorCommandOptions = {}): () => void {
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xff)
      throw badInput(`opcode ${opcode} is not a byte (0x00-0xFF)`);
    const entry: VendorEntry = { handler, options };
    const list = this.vendor.get(opcode) ?? [];
    list.unshift(entry); // the latest registration wins
    this.vendor.set(opcode, list);
    return () => {
      const current = this.vendor.get(opcode) ?? [];
      this.vendor.set(
        opcode,
        current.filter((e) => e !== entry),
      );
    };
  }

  /** The data phase the device expects for this CDB (BOT needs it before any data moves). */
  plan(lun: number, cdb: Uint8Array, hostDirection: HostDirection, hostLength: number): DataPlan {
    const opcode = cdb[0] ?? 0;
    const unit = this.units[lun];
    const vendor = this.vendorFor(opcode, lun);
    if (vendor) {
      if (vendor.options.plan) return vendor.options.plan(cdb);
      return hostDirection === 'out'
        ? { direction: 'out', length: hostLength }
        : hostDirection === 'in'
          ? { direction: 'in' }
          : { direction: 'none' };
    }
    const builtin = this.builtins.get(opcode);
    if (!builtin?.plan || !unit) return { direction: 'none' };
    try {
      return builtin.plan(cdb, unit, hostLength);
    } catch {
      return { direction: 'none' };
    }
  }

  async execute(cmd: TargetCommand, overrides: ExecuteOverrides = {}): Promise<TargetResult> {
    const opcode = cmd.cdb[0] ?? 0;
    const unit = this.units[cmd.lun];
    if (!unit) return this.absentLun(cmd, opcode);
    const result = await this.run(cmd, unit, opcode, overrides);
    if (result.status === 0x02 && result.sense) unit.pendingSense = result.sense;
    return result;
  }

  /** SPC-5: INQUIRY to a LUN that is not there says "not connected, no device type"; REQUEST SENSE reports 05/25/00. */
  private absentLun(cmd: TargetCommand, opcode: number): TargetResult {
    if (opcode === 0x12 && ((cmd.cdb[1] ?? 0) & 1) === 0) {
      const data = new Uint8Array(36);
      data[0] = 0x7f; // peripheral qualifier 011b, type 1Fh
      data[2] = 0x06;
      data[3] = 0x02;
      data[4] = 31;
      return { status: 0x00, data: data.subarray(0, Math.min(36, ((cmd.cdb[3] ?? 0) << 8) | (cmd.cdb[4] ?? 0))) };
    }
    if (opcode === 0x03)
      return {
        status: 0x00,
        data: encodeSense(Sense.lunNotSupported(), ((cmd.cdb[1] ?? 0) & 1) !== 0).subarray(0, cmd.cdb[4] ?? 0),
      };
    return { status: 0x02, data: new Uint8Array(0), sense: Sense.lunNotSupported() };
  }

  private async run(
    cmd: TargetCommand,
    unit: LogicalUnit,
    opcode: number,
    overrides: ExecuteOverrides,
  ): Promise<TargetResult> {
    const exempt = UNAFFECTED_BY_ATTENTION.has(opcode);
    // Activating new microcode: not ready until done, then the unit attention 3F/01 it raised.
    if (!exempt && this.firmwareState?.activating()) return checkCondition(Sense.becomingReady());
    if (!exempt && unit.unitAttention) {
      const sense = unit.unitAttention;
      unit.unitAttention = null;
      return checkCondition(sense);
    }
    if (!exempt && overrides.injectedSense) return checkCondition(overrides.injectedSense);
    const vendor = this.vendorFor(opcode, cmd.lun);
    if (vendor) return this.runVendor(vendor, cmd, unit, opcode);
    return this.runBuiltin(cmd, unit, opcode);
  }

  private async runBuiltin(cmd: TargetCommand, unit: LogicalUnit, opcode: number): Promise<TargetResult> {
    const builtin = this.builtins.get(opcode);
    if (!builtin) return checkCondition(Sense.invalidOpcode());
    try {
      if (builtin.media) {
        if (!unit.mediumPresent) throw new CheckCondition(Sense.mediumNotPresent());
        if (unit.becomingReadyFor > 0) {
          unit.becomingReadyFor--;
          throw new CheckCondition(Sense.becomingReady());
        }
        if (!unit.started) throw new CheckCondition(Sense.initializingCommandRequired());
      }
      const data = await builtin.run({ cdb: cmd.cdb, unit, dataOut: cmd.dataOut, hostLength: cmd.hostLength });
      return { status: 0x00, data: data ?? new Uint8Array(0) };
    } catch (err) {
      if (err instanceof CheckCondition) return checkCondition(err.sense, err.data);
      this.internalErrors.push(err);
      if (this.internalErrors.length > 50) this.internalErrors.shift();
      return checkCondition(Sense.internalTargetFailure());
    }
  }

  private async runVendor(
    entry: VendorEntry,
    cmd: TargetCommand,
    unit: LogicalUnit,
    opcode: number,
  ): Promise<TargetResult> {
    try {
      const out = await entry.handler({
        opcode,
        cdb: cmd.cdb,
        lun: cmd.lun,
        unit,
        dataOut: cmd.dataOut,
        hostDirection: cmd.hostDirection,
        hostLength: cmd.hostLength,
        tag: cmd.tag,
        builtin: () => this.runBuiltin(cmd, unit, opcode),
      });
      if (out === undefined) return { status: 0x00, data: new Uint8Array(0) };
      if (out instanceof Uint8Array) return { status: 0x00, data: out };
      if ('status' in out && typeof out.status === 'number' && !('sense' in out && out.sense))
        return { status: out.status, data: out.data ?? new Uint8Array(0) };
      if (out.sense)
        return { status: out.status ?? 0x02, data: out.data ?? new Uint8Array(0), sense: { ...out.sense } };
      return { status: 0x00, data: out.data ?? new Uint8Array(0) };
    } catch (err) {
      if (err instanceof CheckCondition) return checkCondition(err.sense, err.data);
      this.internalErrors.push(err);
      if (this.internalErrors.length > 50) this.internalErrors.shift();
      return checkCondition(Sense.internalTargetFailure());
    }
  }

  private vendorFor(opcode: number, lun: number): VendorEntry | undefined {
    return this.vendor.get(opcode)?.find((e) => e.options.lun === undefined || e.options.lun === lun);
  }

  async close(): Promise<void> {
    await Promise.all(this.units.map((u) => u.store.close()));
  }
}

function checkCondition(sense: SenseSpec, data?: Uint8Array): TargetResult {
  return { status: 0x02, data: data ?? new Uint8Array(0), sense };
}
