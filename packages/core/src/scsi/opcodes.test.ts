import { describe, expect, it } from 'vitest';
import { cdbGroupLength, opcodeName } from './opcodes.js';

// Group code → CDB length: SPC-5 table 6 ("Group code values").
describe('cdbGroupLength', () => {
  it('maps each group to its CDB length', () => {
    expect(cdbGroupLength(0x12)).toBe(6);
    expect(cdbGroupLength(0x28)).toBe(10);
    expect(cdbGroupLength(0x5a)).toBe(10);
    expect(cdbGroupLength(0x88)).toBe(16);
    expect(cdbGroupLength(0xa1)).toBe(12);
  });
  it('leaves reserved, variable-length and vendor groups to the caller', () => {
    expect(cdbGroupLength(0x7f)).toBeUndefined();
    expect(cdbGroupLength(0xc1)).toBeUndefined();
    expect(cdbGroupLength(0xff)).toBeUndefined();
  });
});

// Names: sg3_utils sg_lib_normal_opcodes / sg_lib_serv_in16_arr / sg_lib_maint_in_arr.
describe('opcodeName', () => {
  it('names plain opcodes', () => {
    expect(opcodeName(0x12)).toBe('INQUIRY');
    expect(opcodeName(Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0))).toBe('READ(10)');
    expect(opcodeName(0x85)).toBe('ATA PASS-THROUGH(16)');
    expect(opcodeName(0x3b)).toBe('WRITE BUFFER(10)');
  });
  it('decodes service actions of 9E and A3', () => {
    expect(opcodeName(Uint8Array.of(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0))).toBe(
      'READ CAPACITY(16)',
    );
    expect(opcodeName(Uint8Array.of(0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).toBe(
      'REPORT SUPPORTED OPERATION CODES',
    );
    expect(opcodeName(Uint8Array.of(0x9e, 0x1e))).toBe('SERVICE ACTION IN(16), SERVICE ACTION 0x1e');
  });
  it('says vendor specific or unknown instead of guessing', () => {
    expect(opcodeName(0xc7)).toBe('VENDOR SPECIFIC (0xc7)');
    expect(opcodeName(0x59)).toBe('UNKNOWN OPCODE (0x59)');
  });
});
