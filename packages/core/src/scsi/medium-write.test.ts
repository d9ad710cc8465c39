import { describe, expect, it } from 'vitest';
import {
  ataIdentifyDeviceCdb,
  ataPassThrough16Cdb,
  ataSmartReadDataCdb,
  ataSmartReturnStatusCdb,
  AtaProtocol,
} from './cdb-ata.js';
import { read10Cdb, write10Cdb, write16Cdb } from './cdb-sbc.js';
import { inquiryCdb, readBuffer10Cdb, writeBuffer10Cdb } from './cdb-spc.js';
import { isMediumWrite, mediumSafety, mediumWriteReason } from './medium-write.js';
import { rawCdb } from './raw-cdb.js';

// Opcodes from SBC-4 / SPC-5 / ZBC-2 command tables; ATA commands from ACS-4 table 10.
describe('isMediumWrite', () => {
  it.each([
    ['WRITE(6)', '0a 00 00 00 01 00'],
    ['WRITE(12)', 'aa 00 00 00 00 00 00 00 00 01 00 00'],
    ['WRITE AND VERIFY(10)', '2e 00 00 00 00 00 00 00 01 00'],
    ['WRITE SAME(16)', '93 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00'],
    ['FORMAT UNIT', '04 00 00 00 00 00'],
    ['UNMAP', '42 00 00 00 00 00 00 00 18 00'],
    ['SANITIZE', '48 01 00 00 00 00 00 00 00 00'],
    ['COMPARE AND WRITE', '89 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00'],
    ['WRITE LONG(10)', '3f 00 00 00 00 00 00 02 00 00'],
    ['WRITE LONG(16) (9F/11)', '9f 11 00 00 00 00 00 00 00 00 00 00 02 00 00 00'],
    ['REASSIGN BLOCKS', '07 00 00 00 00 00'],
    ['ZBC OUT', '94 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00'],
  ])('%s writes', (_name, hex) => {
    expect(isMediumWrite(rawCdb(hex))).toBe(true);
  });

  it('WRITE(10)/(16) builders write; READ/INQUIRY do not', () => {
    expect(mediumWriteReason(write10Cdb({ lba: 0, blocks: 1 }))).toBe('WRITE(10) writes data');
    expect(isMediumWrite(write16Cdb({ lba: 0, blocks: 1 }))).toBe(true);
    expect(isMediumWrite(read10Cdb({ lba: 0, blocks: 1 }))).toBe(false);
    expect(isMediumWrite(inquiryCdb())).toBe(false);
    expect(isMediumWrite(readBuffer10Cdb({ mode: 2, length: 16 }))).toBe(false);
  });

  it('WRITE BUFFER: download modes change firmware, data/echo modes do not', () => {
    for (const mode of [0x04, 0x05, 0x06, 0x07, 0x0d, 0x0e]) {
      expect(mediumWriteReason(writeBuffer10Cdb({ mode, length: 512 }))).toMatch(/changes the device firmware/);
    }
    expect(isMediumWrite(writeBuffer10Cdb({ mode: 0x0f, length: 0 }))).toBe(true);
    expect(isMediumWrite(writeBuffer10Cdb({ mode: 0x02, length: 512 }))).toBe(false);
    expect(isMediumWrite(writeBuffer10Cdb({ mode: 0x0a, length: 512 }))).toBe(false);
  });

  it('WRITE(32) in a variable-length CDB', () => {
    const cdb = new Uint8Array(32);
    cdb[0] = 0x7f;
    cdb[7] = 0x18;
    cdb[9] = 0x0b;
    expect(isMediumWrite(cdb)).toBe(true);
    cdb[9] = 0x09; // READ(32)
    expect(isMediumWrite(cdb)).toBe(false);
  });

  it('ATA PASS-THROUGH: write protocols and write commands are writes; IDENTIFY and SMART reads are not', () => {
    expect(isMediumWrite(ataIdentifyDeviceCdb())).toBe(false);
    expect(isMediumWrite(ataSmartReadDataCdb(12))).toBe(false);
    expect(isMediumWrite(ataSmartReturnStatusCdb())).toBe(false);
    // WRITE SECTORS (30h), PIO data-out
    expect(isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.PIO_DATA_OUT, command: 0x30, count: 1 }))).toBe(
      true,
    );
    // WRITE DMA EXT (35h) by command, DMA out by protocol+direction
    expect(
      mediumWriteReason(
        ataPassThrough16Cdb({ protocol: AtaProtocol.DMA, direction: 'out', command: 0x35, count: 1, extend: true }),
      ),
    ).toMatch(/WRITE DMA EXT/);
    expect(
      isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.DMA, direction: 'out', command: 0x99, count: 1 })),
    ).toBe(true);
    // DOWNLOAD MICROCODE (92h), SECURITY ERASE UNIT (F4h), SMART WRITE LOG (B0h/D6h), TRIM (06h)
    expect(isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.NON_DATA, command: 0x92 }))).toBe(true);
    expect(isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.NON_DATA, command: 0xf4 }))).toBe(true);
    expect(
      isMediumWrite(
        ataPassThrough16Cdb({ protocol: AtaProtocol.NON_DATA, command: 0xb0, features: 0xd6, lba: 0xc24f00 }),
      ),
    ).toBe(true);
    expect(
      isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.DMA, direction: 'out', command: 0x06, count: 1 })),
    ).toBe(true);
    // CHECK POWER MODE is harmless
    expect(isMediumWrite(ataPassThrough16Cdb({ protocol: AtaProtocol.NON_DATA, command: 0xe5 }))).toBe(false);
  });

  it('names a SMART subcommand that is not read-only as SMART, not as something else', () => {
    // SMART ENABLE OPERATIONS, as `raw 85 06 20 00 d8 …` sends it.
    const enable = rawCdb('85 06 20 00 d8 00 00 00 00 00 4f 00 c2 00 b0 00');
    expect(mediumWriteReason(enable)).toMatch(
      /sends SMART ENABLE OPERATIONS \(ATA command 0xb0, feature 0x00d8\), which is not a read-only SMART subcommand$/,
    );
    expect(
      mediumWriteReason(
        ataPassThrough16Cdb({ protocol: AtaProtocol.NON_DATA, command: 0xb0, features: 0x42, lba: 0xc24f00 }),
      ),
    ).toMatch(
      /sends SMART subcommand 0x42 \(ATA command 0xb0, feature 0x0042\), which is not a read-only SMART subcommand$/,
    );
  });

  it('wants consent for vendor-specific opcodes and for an empty CDB', () => {
    expect(mediumWriteReason(rawCdb('c1 00 00 00 00 00 00 00 00 00'))).toMatch(
      /vendor-specific: only the vendor knows/,
    );
    expect(isMediumWrite(new Uint8Array(0))).toBe(true);
  });
});

describe('mediumSafety', () => {
  it('separates standard reads, writes and commands only the vendor can judge', () => {
    expect(mediumSafety(inquiryCdb())).toBe('read');
    expect(mediumSafety(write10Cdb({ lba: 0, blocks: 1 }))).toBe('write');
    expect(mediumSafety(rawCdb('15 10 00 00 0c 00'))).toBe('write'); // MODE SELECT(6): not on the allowlist
    expect(mediumSafety(rawCdb('c1 00 00 00 00 00 00 00 00 00'))).toBe('unknown');
    expect(mediumSafety(rawCdb('59 00 00 00 00 00 00 00 00 00'))).toBe('unknown'); // unassigned opcode
    expect(mediumSafety(new Uint8Array(0))).toBe('unknown');
  });
});
