import { describe, expect, it } from 'vitest';
import { expectBadInput } from './test-support.js';
import {
  AtaProtocol,
  ataIdentifyDeviceCdb,
  ataPassThrough12Cdb,
  ataPassThrough16Cdb,
  ataSmartReadDataCdb,
  ataSmartReadThresholdsCdb,
  ataSmartReturnStatusCdb,
} from './cdb-ata.js';

const hex = (cdb: Uint8Array) => Array.from(cdb, (b) => b.toString(16).padStart(2, '0')).join(' ');

// Expected bytes: SAT-4 tables 172/173, cross-checked against what sg3_utils builds in
// src/sg_sat_identify.c (protocol 4, t_length 2, T_DIR, BYT_BLOK, count 1 at byte 6 / byte 4) and
// examples/sg_sat_smart_rd_data.c (features D0h at byte 4, 4Fh at byte 10, C2h at byte 12, B0h at 14).
describe('ATA PASS-THROUGH ready-made commands', () => {
  it('IDENTIFY DEVICE (16)', () => {
    expect(hex(ataIdentifyDeviceCdb())).toBe('85 08 0e 00 00 00 01 00 00 00 00 00 00 00 ec 00');
  });
  it('IDENTIFY DEVICE (12)', () => {
    expect(hex(ataIdentifyDeviceCdb(12))).toBe('a1 08 0e 00 01 00 00 00 00 ec 00 00');
  });
  it('SMART READ DATA (16) and (12)', () => {
    expect(hex(ataSmartReadDataCdb())).toBe('85 08 0e 00 d0 00 01 00 00 00 4f 00 c2 00 b0 00');
    expect(hex(ataSmartReadDataCdb(12))).toBe('a1 08 0e d0 01 00 4f c2 00 b0 00 00');
  });
  it('SMART READ THRESHOLDS uses feature D1h', () => {
    expect(hex(ataSmartReadThresholdsCdb())).toBe('85 08 0e 00 d1 00 01 00 00 00 4f 00 c2 00 b0 00');
  });
  it('SMART RETURN STATUS: non-data (protocol 3), CK_COND, no transfer', () => {
    expect(hex(ataSmartReturnStatusCdb())).toBe('85 06 20 00 da 00 00 00 00 00 4f 00 c2 00 b0 00');
  });
});

describe('ATA PASS-THROUGH(16) fields', () => {
  it('48-bit READ DMA EXT spreads the LBA over the interleaved bytes and sets EXTEND', () => {
    const cdb = ataPassThrough16Cdb({
      protocol: AtaProtocol.DMA,
      direction: 'in',
      command: 0x25,
      count: 0x0102,
      lba: 0x0000_1234_5678_9abcn,
      device: 0x40,
      extend: true,
    });
    // byte 7 LBA(31:24)=56, 8 LBA(7:0)=bc, 9 LBA(39:32)=34, 10 LBA(15:8)=9a, 11 LBA(47:40)=12, 12 LBA(23:16)=78
    expect(hex(cdb)).toBe('85 0d 0e 00 00 01 02 56 bc 34 9a 12 78 40 25 00');
  });
  it('28-bit form puts LBA bits 27:24 in DEVICE', () => {
    const cdb = ataPassThrough16Cdb({
      protocol: AtaProtocol.PIO_DATA_IN,
      command: 0x20,
      count: 1,
      lba: 0x0abcdef1,
      device: 0x40,
    });
    expect(hex(cdb)).toBe('85 08 0e 00 00 00 01 00 f1 00 de 00 bc 4a 20 00');
  });
  it('PIO data-out: T_DIR clear; OFF_LINE, T_TYPE and MULTIPLE_COUNT bits land where SAT-4 puts them', () => {
    const cdb = ataPassThrough16Cdb({
      protocol: AtaProtocol.PIO_DATA_OUT,
      command: 0x30,
      count: 1,
      offLine: 2,
      tType: true,
      multipleCount: 3,
    });
    expect(hex(cdb.subarray(0, 3))).toBe('85 6a 96');
  });
  it('refuses 16-bit features/count without extend, a DMA protocol without direction, contradictions', () => {
    expectBadInput(
      () => ataPassThrough16Cdb({ protocol: 3, command: 0xef, features: 0x100 }),
      /features must be an integer from 0 to 255/,
    );
    expectBadInput(() => ataPassThrough16Cdb({ protocol: AtaProtocol.DMA, command: 0xc8, count: 1 }), /pass direction/);
    expectBadInput(
      () => ataPassThrough16Cdb({ protocol: AtaProtocol.PIO_DATA_IN, command: 0xec, direction: 'out' }),
      /contradicts/,
    );
    expectBadInput(() => ataPassThrough16Cdb({ protocol: 16, command: 0 }), /protocol/);
    expectBadInput(() => ataPassThrough16Cdb({ protocol: 3, command: 0, lba: 0x10000000 }), /lba/);
  });
});

describe('ATA PASS-THROUGH(12)', () => {
  it('refuses extend and 28-bit overflow', () => {
    expectBadInput(() => ataPassThrough12Cdb({ protocol: 3, command: 0, extend: true }), /ataPassThrough16Cdb/);
    expectBadInput(() => ataPassThrough12Cdb({ protocol: 3, command: 0, lba: 0x10000000 }), /lba/);
    expectBadInput(() => ataIdentifyDeviceCdb(10 as 12), /12 or 16/);
  });
  it('CHECK POWER MODE (E5h), non-data with CK_COND (as sg3_utils examples/sg_sat_chk_power.c does over 16)', () => {
    expect(hex(ataPassThrough12Cdb({ protocol: AtaProtocol.NON_DATA, command: 0xe5, checkCondition: true }))).toBe(
      'a1 06 20 00 00 00 00 00 00 e5 00 00',
    );
  });
});
