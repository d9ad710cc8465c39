import { describe, expect, it } from 'vitest';
import { rawCdb } from './raw-cdb.js';
import { expectBadInput } from './test-support.js';

// The hex conventions are sg_raw's (sg3_utils doc/sg_raw.8: "sg_raw /dev/sg0 12 00 00 00 60 00").
describe('rawCdb hex parsing', () => {
  it('accepts spaced bytes, run-together bytes, 0x prefixes and single digits', () => {
    const inquiry = [0x12, 0, 0, 0, 0x24, 0];
    expect(Array.from(rawCdb('12 00 00 00 24 00'))).toEqual(inquiry);
    expect(Array.from(rawCdb('120000002400'))).toEqual(inquiry);
    expect(Array.from(rawCdb('  0x12 0 0 0 0x24 0 '))).toEqual(inquiry);
    expect(Array.from(rawCdb('1200 0000 2400'))).toEqual(inquiry);
    expect(Array.from(rawCdb('12,00,00,00,24,00'))).toEqual(inquiry);
  });
  it('takes any opcode, including vendor-specific ones, at 6/10/12/16 bytes', () => {
    expect(rawCdb('c1 00 00 00 00 00 00 00 00 00').length).toBe(10);
    expect(rawCdb('ff'.repeat(16)).length).toBe(16);
    expect(rawCdb(new Uint8Array(12)).length).toBe(12);
  });
  it('allows 1..16 bytes for BOT when asked', () => {
    expect(Array.from(rawCdb('e7 01 02', { anyLength: true }))).toEqual([0xe7, 1, 2]);
    expectBadInput(() => rawCdb('00'.repeat(17), { anyLength: true }), /1 to 16 bytes/);
  });
  it('refuses bad hex, odd digit runs, empty input and odd lengths, saying what to type', () => {
    expectBadInput(
      () => rawCdb('12 zz 00 00 24 00'),
      /"zz" is not hexadecimal; type the CDB as hex bytes, e\.g\. "12 00 00 00 24 00"/,
    );
    expectBadInput(() => rawCdb('1200000024000'), /odd number of hex digits; write each byte as two digits/);
    expectBadInput(() => rawCdb('   '), /empty/);
    expectBadInput(() => rawCdb('12 00 00 00 24'), /6, 10, 12 or 16 bytes; got 5\. Pad with 00/);
    expectBadInput(() => rawCdb([0x12, 0, 0, 0, 0x24, 256]), /byte 5 is 256/);
  });
  it('returns a copy, not the caller buffer', () => {
    const src = new Uint8Array(6);
    const cdb = rawCdb(src);
    src[0] = 0x12;
    expect(cdb[0]).toBe(0);
  });
});
