import { describe, expect, it } from 'vitest';
import { expectBadInput } from './test-support.js';
import {
  preventAllowMediumRemovalCdb,
  read10Cdb,
  read16Cdb,
  readCapacity10Cdb,
  readCapacity16Cdb,
  startStopUnitCdb,
  synchronizeCache10Cdb,
  write10Cdb,
  write16Cdb,
} from './cdb-sbc.js';

const bytes = (cdb: Uint8Array) => Array.from(cdb);

// Byte layouts: SBC-4 tables (READ(10) table 72, READ(16) table 74, READ CAPACITY(16) table 79, ...).
describe('READ CAPACITY', () => {
  it('(10) is opcode 25h and nine zero bytes', () => {
    expect(bytes(readCapacity10Cdb())).toEqual([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('(16) is SERVICE ACTION IN(16) 9Eh / 10h with allocation length in 10..13', () => {
    expect(bytes(readCapacity16Cdb())).toEqual([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0]);
  });
});

describe('READ / WRITE', () => {
  it('READ(10) LBA 0x12345678, 8 blocks', () => {
    expect(bytes(read10Cdb({ lba: 0x12345678, blocks: 8 }))).toEqual([0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 8, 0]);
  });
  it('WRITE(10) with FUA and DPO', () => {
    expect(bytes(write10Cdb({ lba: 1, blocks: 0xffff, fua: true, dpo: true }))).toEqual([
      0x2a, 0x18, 0, 0, 0, 1, 0, 0xff, 0xff, 0,
    ]);
  });
  it('READ(16) with a 64-bit LBA as bigint and a 32-bit length', () => {
    expect(bytes(read16Cdb({ lba: 0x0123456789abcdefn, blocks: 0x10000 }))).toEqual([
      0x88, 0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 0, 0, 0, 0,
    ]);
  });
  it('WRITE(16) with FUA and a group number', () => {
    expect(bytes(write16Cdb({ lba: 2 ** 33, blocks: 1, fua: true, group: 5 }))).toEqual([
      0x8a, 0x08, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0,
    ]);
  });
  it('refuses an LBA or length out of range for READ(10), pointing at the (16) form', () => {
    expectBadInput(
      () => read10Cdb({ lba: 0x100000000, blocks: 1 }),
      /lba must be 0\.\.0xFFFFFFFF; got 4294967296\. Use the \(16\) form/,
    );
    expectBadInput(() => read10Cdb({ lba: 0, blocks: 0x10000 }), /blocks must be 0\.\.65535.*\(16\) form/);
    expectBadInput(() => write10Cdb({ lba: -1, blocks: 1 }), /lba/);
    expectBadInput(() => read16Cdb({ lba: 1n << 64n, blocks: 1 }), /lba/);
    expectBadInput(() => read16Cdb({ lba: 2 ** 60, blocks: 1 }), /pass a bigint/);
    expectBadInput(() => write16Cdb({ lba: 0, blocks: 2 ** 32 }), /blocks/);
  });
});

describe('START STOP UNIT / PREVENT ALLOW / SYNCHRONIZE CACHE', () => {
  it('eject: LOEJ without START (SBC-4 table 88)', () => {
    expect(bytes(startStopUnitCdb({ loadEject: true }))).toEqual([0x1b, 0, 0, 0, 0x02, 0]);
  });
  it('start with IMMED; power condition STANDBY (3) with modifier', () => {
    expect(bytes(startStopUnitCdb({ start: true, immediate: true }))).toEqual([0x1b, 1, 0, 0, 0x01, 0]);
    expect(bytes(startStopUnitCdb({ powerCondition: 3, powerConditionModifier: 1, noFlush: true }))).toEqual([
      0x1b, 0, 0, 1, 0x34, 0,
    ]);
    expectBadInput(() => startStopUnitCdb({ powerCondition: 16 }), /powerCondition/);
  });
  it('PREVENT ALLOW MEDIUM REMOVAL', () => {
    expect(bytes(preventAllowMediumRemovalCdb(true))).toEqual([0x1e, 0, 0, 0, 1, 0]);
    expect(bytes(preventAllowMediumRemovalCdb(false))).toEqual([0x1e, 0, 0, 0, 0, 0]);
    expectBadInput(() => preventAllowMediumRemovalCdb(4), /prevent/);
  });
  it('SYNCHRONIZE CACHE(10): whole medium by default, IMMED bit 1', () => {
    expect(bytes(synchronizeCache10Cdb())).toEqual([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(bytes(synchronizeCache10Cdb({ lba: 0x100, blocks: 0x20, immediate: true }))).toEqual([
      0x35, 0x02, 0, 0, 1, 0, 0, 0, 0x20, 0,
    ]);
  });
});
