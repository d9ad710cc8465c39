import { describe, expect, it } from 'vitest';
import { ascText } from './asc.js';
import { ASC_ASCQ_ENTRIES, ASC_ASCQ_RANGES } from './asc-table.js';

// Expected texts: T10 asc-num.txt (via sg3_utils lib/sg_lib_data.c; the same codes appear in
// torvalds/linux drivers/scsi/sense_codes.h, e.g. SENSE_CODE(0x2000, "Invalid command operation code")).
describe('ascText', () => {
  it.each([
    [0x00, 0x00, 'NO ADDITIONAL SENSE INFORMATION'],
    [0x04, 0x01, 'LOGICAL UNIT IS IN PROCESS OF BECOMING READY'],
    [0x0b, 0x01, 'WARNING - SPECIFIED TEMPERATURE EXCEEDED'],
    [0x20, 0x00, 'INVALID COMMAND OPERATION CODE'],
    [0x21, 0x00, 'LOGICAL BLOCK ADDRESS OUT OF RANGE'],
    [0x24, 0x00, 'INVALID FIELD IN CDB'],
    [0x28, 0x00, 'NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED'],
    [0x29, 0x00, 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED'],
    [0x3a, 0x00, 'MEDIUM NOT PRESENT'],
    [0x3f, 0x01, 'MICROCODE HAS BEEN CHANGED'],
    [0x5d, 0x00, 'FAILURE PREDICTION THRESHOLD EXCEEDED'],
    [0x40, 0x00, 'RAM FAILURE (SHOULD USE 40 NN)'],
  ])('%i/%i → %s', (asc, ascq, text) => {
    expect(ascText(asc, ascq)).toBe(text);
  });

  it('fills in the range entries with the ASCQ', () => {
    expect(ascText(0x40, 0x85)).toBe('DIAGNOSTIC FAILURE ON COMPONENT 0x85');
    expect(ascText(0x40, 0xff)).toBe('DIAGNOSTIC FAILURE ON COMPONENT 0xff');
    expect(ascText(0x40, 0x05)).toBe('RAM FAILURE 0x05');
    expect(ascText(0x41, 0x01)).toBe('DATA PATH FAILURE 0x01');
    expect(ascText(0x42, 0x7f)).toBe('POWER-ON OR SELF-TEST FAILURE 0x7f');
    expect(ascText(0x4d, 0x1a)).toBe('TAGGED OVERLAPPED COMMANDS (TASK TAG 0x1a)');
    expect(ascText(0x70, 0x02)).toBe('DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF 0x02');
  });

  it('uses sg3_utils wording for vendor-specific and unassigned codes', () => {
    expect(ascText(0x80, 0x01)).toBe('vendor specific ASC=80, ASCQ=01 (hex)');
    expect(ascText(0xff, 0xff)).toBe('vendor specific ASC=ff, ASCQ=ff (hex)');
    expect(ascText(0x04, 0x81)).toBe('ASC=04, vendor specific qualification ASCQ=81 (hex)');
    expect(ascText(0x7e, 0x01)).toBe('ASC=7e, ASCQ=01 (hex)');
  });
});

describe('the ASC/ASCQ table as data', () => {
  it('holds the full T10 list: 764 pairs, each once, all texts upper case', () => {
    expect(ASC_ASCQ_ENTRIES.length).toBe(764);
    const keys = new Set(ASC_ASCQ_ENTRIES.map(([a, q]) => (a << 8) | q));
    expect(keys.size).toBe(ASC_ASCQ_ENTRIES.length);
    for (const [, , text] of ASC_ASCQ_ENTRIES) expect(text).toBe(text.toUpperCase());
  });
  it('covers every ASC family from 00h to 74h that T10 assigns, with ranges that do not overlap', () => {
    const ascs = new Set(ASC_ASCQ_ENTRIES.map(([a]) => a));
    for (const a of [0x00, 0x04, 0x0b, 0x11, 0x20, 0x24, 0x27, 0x29, 0x2a, 0x3a, 0x3f, 0x44, 0x55, 0x5d, 0x67, 0x74])
      expect(ascs.has(a)).toBe(true);
    for (const r of ASC_ASCQ_RANGES) {
      const overlapping = ASC_ASCQ_RANGES.filter(
        (o) => o !== r && o.asc === r.asc && o.ascqMin <= r.ascqMax && r.ascqMin <= o.ascqMax,
      );
      expect(overlapping).toEqual([]);
    }
  });
});
