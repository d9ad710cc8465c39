/**
 * CDB builders for SBC (block device) commands, SBC-4 (T10/BSR INCITS 506).
 * LBAs take a number or a bigint; lengths are in logical blocks.
 */
import { badInput } from '../errors.js';
import { checkUint, checkUint64, putBe16, putBe32, putBe64 } from './bytes.js';
import { Opcode, ServiceActionIn16 } from './opcodes.js';

/** READ CAPACITY(10) (25h), SBC-4 §5.20. */
export function readCapacity10Cdb(): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = Opcode.READ_CAPACITY_10;
  return cdb;
}

/** READ CAPACITY(16) (9Eh / 10h), SBC-4 §5.21. Default allocation length 32. */
export function readCapacity16Cdb(allocationLength = 32): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = Opcode.SERVICE_ACTION_IN_16;
  cdb[1] = ServiceActionIn16.READ_CAPACITY_16;
  putBe32(cdb, 10, checkUint('READ CAPACITY(16)', 'allocationLength', allocationLength, 0xffffffff));
  return cdb;
}

export interface ReadWriteOptions {
  lba: number | bigint;
  /** Transfer length in logical blocks (0 transfers nothing). */
  blocks: number;
  /** Force unit access: bypass the volatile cache. */
  fua?: boolean;
  /** Disable page out (cache retention hint). */
  dpo?: boolean;
  /** GROUP NUMBER, 0..0x3F. */
  group?: number;
}

function rw10(opcode: number, cmd: string, o: ReadWriteOptions): Uint8Array {
  const lba = checkUint64(cmd, 'lba', o.lba);
  if (lba > 0xffffffffn)
    throw badInput(
      `${cmd}: lba must be 0..0xFFFFFFFF; got ${lba.toString()}. Use the (16) form for LBAs past 2^32 - 1`,
    );
  const cdb = new Uint8Array(10);
  cdb[0] = opcode;
  cdb[1] = (o.dpo ? 0x10 : 0) | (o.fua ? 0x08 : 0);
  putBe32(cdb, 2, Number(lba));
  cdb[6] = checkUint(cmd, 'group', o.group ?? 0, 0x3f);
  if (!Number.isInteger(o.blocks) || o.blocks < 0 || o.blocks > 0xffff) {
    throw badInput(`${cmd}: blocks must be 0..65535; got ${String(o.blocks)}. Use the (16) form or split the transfer`);
  }
  putBe16(cdb, 7, o.blocks);
  return cdb;
}

function rw16(opcode: number, cmd: string, o: ReadWriteOptions): Uint8Array {
  const lba = checkUint64(cmd, 'lba', o.lba);
  const cdb = new Uint8Array(16);
  cdb[0] = opcode;
  cdb[1] = (o.dpo ? 0x10 : 0) | (o.fua ? 0x08 : 0);
  putBe64(cdb, 2, lba);
  putBe32(cdb, 10, checkUint(cmd, 'blocks', o.blocks, 0xffffffff));
  cdb[14] = checkUint(cmd, 'group', o.group ?? 0, 0x3f);
  return cdb;
}

/** READ(10) (28h): LBA ≤ 0xFFFFFFFF, blocks ≤ 0xFFFF. */
export function read10Cdb(options: ReadWriteOptions): Uint8Array {
  return rw10(Opcode.READ_10, 'READ(10)', options);
}

/** READ(16) (88h). */
export function read16Cdb(options: ReadWriteOptions): Uint8Array {
  return rw16(Opcode.READ_16, 'READ(16)', options);
}

/** WRITE(10) (2Ah). Writes the medium: callers must have the user's consent. */
export function write10Cdb(options: ReadWriteOptions): Uint8Array {
  return rw10(Opcode.WRITE_10, 'WRITE(10)', options);
}

/** WRITE(16) (8Ah). Writes the medium: callers must have the user's consent. */
export function write16Cdb(options: ReadWriteOptions): Uint8Array {
  return rw16(Opcode.WRITE_16, 'WRITE(16)', options);
}

/** START STOP UNIT power conditions (SBC-4 table 80). */
export const PowerCondition = {
  START_VALID: 0x0,
  ACTIVE: 0x1,
  IDLE: 0x2,
  STANDBY: 0x3,
  LU_CONTROL: 0x7,
  FORCE_IDLE_0: 0xa,
  FORCE_STANDBY_0: 0xb,
} as const;

export interface StartStopOptions {
  /** START bit (with power condition 0). */
  start?: boolean;
  /** LOEJ: load (with start) or eject (without). */
  loadEject?: boolean;
  /** IMMED: return before the operation completes. */
  immediate?: boolean;
  /** POWER CONDITION field 0..0xF; non-zero makes START and LOEJ ignored by the device. */
  powerCondition?: number;
  powerConditionModifier?: number;
  noFlush?: boolean;
}

/** START STOP UNIT (1Bh), SBC-4 §5.32. */
export function startStopUnitCdb(options: StartStopOptions = {}): Uint8Array {
  const cmd = 'START STOP UNIT';
  const pc = checkUint(cmd, 'powerCondition', options.powerCondition ?? 0, 0xf);
  const pcm = checkUint(cmd, 'powerConditionModifier', options.powerConditionModifier ?? 0, 0xf);
  const byte4 = (pc << 4) | (options.noFlush ? 0x04 : 0) | (options.loadEject ? 0x02 : 0) | (options.start ? 0x01 : 0);
  return Uint8Array.of(Opcode.START_STOP_UNIT, options.immediate ? 1 : 0, 0, pcm, byte4, 0);
}

/** PREVENT ALLOW MEDIUM REMOVAL (1Eh), SBC-4 §5.13: `true` prevents, `false` allows. */
export function preventAllowMediumRemovalCdb(prevent: boolean | number): Uint8Array {
  const value =
    typeof prevent === 'boolean' ? (prevent ? 1 : 0) : checkUint('PREVENT ALLOW MEDIUM REMOVAL', 'prevent', prevent, 3);
  return Uint8Array.of(Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, value, 0);
}

export interface SynchronizeCacheOptions {
  /** First LBA; default 0. */
  lba?: number | bigint;
  /** Number of blocks; 0 (default) means to the last LBA. */
  blocks?: number;
  immediate?: boolean;
  group?: number;
}

/** SYNCHRONIZE CACHE(10) (35h), SBC-4 §5.35. */
export function synchronizeCache10Cdb(options: SynchronizeCacheOptions = {}): Uint8Array {
  const cmd = 'SYNCHRONIZE CACHE(10)';
  const cdb = new Uint8Array(10);
  cdb[0] = Opcode.SYNCHRONIZE_CACHE_10;
  cdb[1] = options.immediate ? 0x02 : 0;
  putBe32(cdb, 2, Number(checkUint64(cmd, 'lba', options.lba ?? 0, 32)));
  cdb[6] = checkUint(cmd, 'group', options.group ?? 0, 0x3f);
  putBe16(cdb, 7, checkUint(cmd, 'blocks', options.blocks ?? 0, 0xffff));
  return cdb;
}
