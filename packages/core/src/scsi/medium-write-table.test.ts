/**
 * The consent allowlist, walked exhaustively: every opcode 00h-FFh, every service action of the
 * opcodes that mix reads and writes, and every ATA command 00h-FFh through ATA PASS-THROUGH(12)
 * and (16). The expected lists are written out here by hand from the command tables of SPC-6,
 * SBC-5, MMC-6, SSC-5, SMC-3, ZBC-2 and ACS-4 (opcode names as in sg3_utils' lib/sg_lib_data.c),
 * not derived from the implementation's tables.
 */
import { describe, expect, it } from 'vitest';
import { mediumSafety, mediumWriteReason } from './medium-write.js';
import { rawCdb } from './raw-cdb.js';

const hexList = (text: string) =>
  new Set(
    text
      .trim()
      .split(/\s+/)
      .map((h) => parseInt(h, 16)),
  );

/** Opcodes safe with every other CDB byte zero (WRITE BUFFER mode 00h and ZBC IN's REPORT ZONES included). */
const SAFE_WITH_ZERO_FIELDS = hexList(`
  00 01 03 05 08 0f 11 12 13 14 16 17 1a 1b 1c 1e
  23 25 28 29 2b 2d 2f
  30 31 32 33 34 35 36 37 3b 3c 3e
  43 44 45 46 47 4a 4b 4d 4e
  52 56 57 5a 5c 5e
  84 86 88 8c 8f
  90 91 92 95 96 9b
  a0 a2 a5 a6 a7 a8 ad af
  b0 b1 b2 b3 b4 b7 b8 b9 ba bc be
`);

/** Opcodes with no command in any of those standards (T10 leaves them unassigned). */
const UNASSIGNED = hexList(`
  02 06 09 0c 0d 0e 1f 20 21 22 26 27 49 4f 59
  60 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f
  70 71 72 73 74 75 76 77 78 79 7a 7b 7c 7d
  97 98 99
`);

function cdbOf(op: number, length = 16): Uint8Array {
  const cdb = new Uint8Array(length);
  cdb[0] = op;
  return cdb;
}

describe('every opcode 00h-FFh', () => {
  it('is safe exactly when on the expected list; everything else needs consent', () => {
    const safe: number[] = [];
    for (let op = 0; op <= 0xff; op++) if (mediumWriteReason(cdbOf(op)) === undefined) safe.push(op);
    expect(safe.map((op) => op.toString(16).padStart(2, '0'))).toEqual(
      [...SAFE_WITH_ZERO_FIELDS].map((op) => op.toString(16).padStart(2, '0')),
    );
  });

  it("classifies the rest as 'write' (standard) or 'unknown' (unassigned, vendor-specific)", () => {
    for (let op = 0; op <= 0xff; op++) {
      const expected = SAFE_WITH_ZERO_FIELDS.has(op) ? 'read' : op >= 0xc0 || UNASSIGNED.has(op) ? 'unknown' : 'write';
      expect(mediumSafety(cdbOf(op)), `opcode ${op.toString(16)}`).toBe(expected);
    }
  });

  it('vendor-specific opcodes C0h-FFh always need consent, whatever the CDB says', () => {
    for (let op = 0xc0; op <= 0xff; op++) {
      for (const length of [6, 10, 12, 16]) {
        expect(mediumWriteReason(cdbOf(op, length)), `${op.toString(16)}/${length}`).toBe(
          `opcode 0x${op.toString(16)} is vendor-specific: only the vendor knows what it changes`,
        );
      }
    }
  });
});

describe('opcodes that mix reads and writes: by service action', () => {
  const EXPECTED: [number, string, string][] = [
    [0x95, 'ZBC IN', '00 06 07 09'],
    [0x9e, 'SERVICE ACTION IN(16)', '0f 10 11 12 13 16 17'],
    [0x9f, 'SERVICE ACTION OUT(16)', ''],
    [0xa3, 'MAINTENANCE IN', '01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 1d 1e'],
    [0xa4, 'MAINTENANCE OUT', ''],
    [0xab, 'SERVICE ACTION IN(12)', '01'],
    [0xa9, 'SERVICE ACTION OUT(12)', ''],
    [0x3b, 'WRITE BUFFER (modes)', '00 02 0a 1a 1b 1c'],
    [0x96, 'WRITE BUFFER(16) (modes)', '00 02 0a 1a 1b 1c'],
  ];
  it.each(EXPECTED)('%s %s', (op, _name, list) => {
    const expected = list ? hexList(list) : new Set<number>();
    for (let sa = 0; sa <= 0x1f; sa++) {
      // Bits 7:5 of byte 1 are not part of the action.
      for (const high of [0x00, 0xe0]) {
        const cdb = cdbOf(op);
        cdb[1] = high | sa;
        expect(mediumWriteReason(cdb) === undefined, `${op.toString(16)}/${sa.toString(16)}`).toBe(expected.has(sa));
      }
    }
  });

  it('VARIABLE LENGTH CDB (7Fh): READ(32), VERIFY(32), XDREAD(32), GET LBA STATUS(32) only', () => {
    const expected = new Set([0x0003, 0x0009, 0x000a, 0x0012]);
    for (const sa of [...Array(0x20).keys(), 0x1800, 0x1ff0, 0x8805, 0x8806]) {
      const cdb = cdbOf(0x7f, 32);
      cdb[7] = 0x18;
      cdb[8] = sa >> 8;
      cdb[9] = sa & 0xff;
      expect(mediumWriteReason(cdb) === undefined, sa.toString(16)).toBe(expected.has(sa));
    }
    expect(mediumWriteReason(Uint8Array.of(0x7f, 0, 0, 0, 0, 0))).toBeDefined(); // too short to name an action
  });

  it('the cases that were taken for reads: WRITE ATTRIBUTE, REMOVE ELEMENT AND TRUNCATE', () => {
    expect(mediumWriteReason(rawCdb('8d 00 00 00 00 00 00 00 00 00 00 00 00 10 00 00'))).toBe(
      'WRITE ATTRIBUTE writes attributes of the medium',
    );
    expect(mediumWriteReason(rawCdb('9e 18 00 00 00 00 00 00 00 00 00 00 00 00 00 00'))).toMatch(
      /^REMOVE ELEMENT AND TRUNCATE \(service action 0x18\) is not known/,
    );
    // READ CAPACITY(16)
    expect(mediumWriteReason(rawCdb('9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00'))).toBeUndefined();
    // REPORT SUPPORTED OPERATION CODES
    expect(mediumWriteReason(rawCdb('a3 0c 00 00 00 00 00 00 02 00 00 00'))).toBeUndefined();
  });
});

/** ATA commands that only read, report, flush or change power state (ACS-4 and obsolete ATA codes). */
const SAFE_ATA = hexList(`
  03 20 21 22 23 24 25 26 27 29 2a 2b 2f
  40 41 42 47 4a 5c 5d 60 65 70 78 87
  90 94 95 96 97 98 99 a1 b4
  c4 c7 c8 c9 da de df
  e0 e1 e2 e3 e4 e5 e6 e7 e9 ea ec ed f8
`);

/** SAT-4 table 174 protocols that send the drive no data and do not reset it. */
const READING_PROTOCOLS = new Set([3, 4, 6, 7, 8, 10, 12]);

/** ATA PASS-THROUGH with the given fields (T_LENGTH 2 when data moves; BYT_BLOK set). */
function pt(
  size: 12 | 16,
  f: { protocol: number; command: number; features?: number; extend?: boolean; dirIn?: boolean; tLength?: number },
): Uint8Array {
  const cdb = new Uint8Array(size);
  cdb[0] = size === 16 ? 0x85 : 0xa1;
  cdb[1] = (f.protocol << 1) | (size === 16 && f.extend ? 1 : 0);
  cdb[2] = (f.dirIn ? 0x08 : 0) | 0x04 | (f.tLength ?? 0);
  const features = f.features ?? 0;
  if (size === 16) {
    cdb[3] = features >> 8;
    cdb[4] = features & 0xff;
    cdb[14] = f.command;
  } else {
    cdb[3] = features & 0xff;
    cdb[9] = f.command;
  }
  return cdb;
}

describe('every ATA command 00h-FFh through ATA PASS-THROUGH(12) and (16)', () => {
  it.each([12, 16] as const)('non-data, feature 0, size %i: safe exactly when on the expected list', (size) => {
    const safe: string[] = [];
    for (let command = 0; command <= 0xff; command++)
      if (mediumWriteReason(pt(size, { protocol: 3, command })) === undefined)
        safe.push(command.toString(16).padStart(2, '0'));
    expect(safe).toEqual([...SAFE_ATA].map((c) => c.toString(16).padStart(2, '0')));
  });

  it('PIO data-in reads are safe; the same commands with a data-out protocol or direction are not', () => {
    for (let command = 0; command <= 0xff; command++) {
      for (const size of [12, 16] as const) {
        expect(
          mediumWriteReason(pt(size, { protocol: 4, command, dirIn: true, tLength: 2 })) === undefined,
          `in ${command.toString(16)}`,
        ).toBe(SAFE_ATA.has(command));
        expect(
          mediumWriteReason(pt(size, { protocol: 5, command, tLength: 2 })),
          `PIO out ${command.toString(16)}`,
        ).toBeDefined();
        expect(
          mediumWriteReason(pt(size, { protocol: 6, command, tLength: 2 })),
          `DMA out ${command.toString(16)}`,
        ).toBeDefined();
      }
    }
  });

  it('every protocol: only those that send no data (and RETURN RESPONSE INFORMATION) pass with a safe command', () => {
    for (let protocol = 0; protocol <= 15; protocol++) {
      const ok = READING_PROTOCOLS.has(protocol) || protocol === 15;
      expect(
        mediumWriteReason(pt(16, { protocol, command: 0xec, dirIn: true, tLength: 2 })) === undefined,
        `protocol ${protocol}`,
      ).toBe(ok);
      // RETURN RESPONSE INFORMATION sends the drive nothing, whatever the command byte holds.
      expect(mediumWriteReason(pt(16, { protocol, command: 0xf4 })) === undefined, `protocol ${protocol}, F4h`).toBe(
        protocol === 15,
      );
    }
  });

  it('SMART (B0h): READ DATA, READ THRESHOLDS, READ LOG and RETURN STATUS only', () => {
    const expected = hexList('d0 d1 d5 da');
    for (let features = 0; features <= 0xff; features++) {
      for (const size of [12, 16] as const) {
        expect(
          mediumWriteReason(pt(size, { protocol: 3, command: 0xb0, features })) === undefined,
          features.toString(16),
        ).toBe(expected.has(features));
      }
    }
  });

  it('subcommands by FEATURE: ZAC MANAGEMENT IN, ACCESSIBLE MAX ADDRESS CONFIGURATION, DCO, SANITIZE DEVICE', () => {
    const cases: [number, number, boolean][] = [
      [0x4a, 0x0000, true], // REPORT ZONES EXT
      [0x4a, 0x3f00, true], // … with reporting options in FEATURE(15:8)
      [0x4a, 0x0009, true], // ZONE QUERY EXT
      [0x4a, 0x0008, false], // ZONE ACTIVATE EXT
      [0x78, 0x0000, true], // GET NATIVE MAX ADDRESS EXT
      [0x78, 0x0001, false], // SET ACCESSIBLE MAX ADDRESS EXT
      [0x78, 0x0002, false], // FREEZE ACCESSIBLE MAX ADDRESS EXT
      [0x78, 0x0100, false],
      [0xb1, 0xc2, true], // DEVICE CONFIGURATION IDENTIFY
      [0xb1, 0xc4, true], // … IDENTIFY DMA
      [0xb1, 0xc0, false], // RESTORE
      [0xb1, 0xc1, false], // FREEZE LOCK
      [0xb1, 0xc3, false], // SET
      [0xb4, 0x0000, true], // SANITIZE STATUS EXT
      [0xb4, 0x0011, false], // CRYPTO SCRAMBLE EXT
      [0xb4, 0x0012, false], // BLOCK ERASE EXT
      [0xb4, 0x0014, false], // OVERWRITE EXT
    ];
    for (const [command, features, safe] of cases) {
      expect(
        mediumWriteReason(pt(16, { protocol: 3, command, features, extend: true })) === undefined,
        `${command.toString(16)}/${features.toString(16)}`,
      ).toBe(safe);
    }
  });

  it('the commands that were taken for reads need consent now', () => {
    expect(mediumWriteReason(pt(16, { protocol: 3, command: 0x78, features: 0x0001, extend: true }))).toMatch(
      /ACCESSIBLE MAX ADDRESS CONFIGURATION.*feature 0x0001/,
    );
    expect(mediumWriteReason(pt(16, { protocol: 3, command: 0xb2, extend: true }))).toMatch(
      /SET SECTOR CONFIGURATION EXT/,
    );
    expect(mediumWriteReason(pt(12, { protocol: 3, command: 0xc0 }))).toMatch(/CFA ERASE SECTORS/);
    expect(mediumWriteReason(pt(16, { protocol: 3, command: 0xc0 }))).toMatch(/CFA ERASE SECTORS/);
  });

  it("MMC's BLANK (A1h, ATA PASS-THROUGH(12)'s opcode) is never taken for a read", () => {
    for (const byte1 of [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x16]) {
      expect(
        mediumWriteReason(Uint8Array.of(0xa1, byte1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        byte1.toString(16),
      ).toBeDefined();
    }
  });

  it('a pass-through CDB too short to carry its command needs consent', () => {
    expect(mediumWriteReason(Uint8Array.of(0x85, 0x08, 0x0e, 0, 0, 0))).toMatch(/too short/);
    expect(mediumWriteReason(Uint8Array.of(0xa1, 0x08, 0x0e, 0, 0, 0, 0, 0, 0, 0))).toMatch(/too short/);
  });
});
