import { describe, expect, it } from 'vitest';
import { parseReadBufferDescriptor, parseReportLuns, parseSupportedDiagnosticPages } from './parse-misc.js';

describe('REPORT LUNS (SPC-5 table 172, SAM-5 LUN formats)', () => {
  it('two peripheral-addressed LUNs, as QEMU scsi-bus answers for LUN 0 and 1', () => {
    const r = parseReportLuns(
      Uint8Array.from([0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    );
    expect(r.lunListLength).toBe(16);
    expect(r.truncated).toBe(false);
    expect(r.luns.map((l) => [l.addressMethod, l.lun, l.bus])).toEqual([
      ['peripheral', 0, 0],
      ['peripheral', 1, 0],
    ]);
  });
  it('flat space (LUN 300), logical unit addressing (target 2, bus 1, LUN 3), extended', () => {
    const r = parseReportLuns(
      Uint8Array.from([
        0, 0, 0, 0x18, 0, 0, 0, 0, 0x41, 0x2c, 0, 0, 0, 0, 0, 0, 0x82, 0x23, 0, 0, 0, 0, 0, 0, 0xc1, 0x05, 0, 0, 0, 0,
        0, 0,
      ]),
    );
    expect(r.luns[0]).toMatchObject({ addressMethod: 'flat', lun: 300 });
    expect(r.luns[1]).toMatchObject({ addressMethod: 'logical unit', target: 2, bus: 1, lun: 3 });
    expect(r.luns[2]).toMatchObject({ addressMethod: 'extended' });
  });
  it('flags a list longer than the allocation length', () => {
    const r = parseReportLuns(Uint8Array.from([0, 0, 0, 0x20, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    expect(r).toMatchObject({ lunListLength: 32, truncated: true });
    expect(r.luns).toHaveLength(1);
    expect(() => parseReportLuns(new Uint8Array(4))).toThrow(/at least 8 bytes/);
  });
});

describe('READ BUFFER descriptor (SPC-5 table 204)', () => {
  it('offset boundary 9 (512-byte aligned), capacity 32 KiB', () => {
    expect(parseReadBufferDescriptor(Uint8Array.of(0x09, 0x00, 0x80, 0x00))).toEqual({
      offsetBoundary: 9,
      offsetAlignment: 512,
      bufferCapacity: 0x8000,
    });
  });
  it('FFh: the offset must be zero', () => {
    expect(parseReadBufferDescriptor(Uint8Array.of(0xff, 0x01, 0x00, 0x00))).toMatchObject({
      offsetAlignment: 0,
      bufferCapacity: 0x10000,
    });
    expect(() => parseReadBufferDescriptor(Uint8Array.of(0, 0, 0))).toThrow(/at least 4 bytes/);
  });
});

describe('RECEIVE DIAGNOSTIC RESULTS page 00h', () => {
  it('lists the supported pages, clipped to what arrived', () => {
    expect(parseSupportedDiagnosticPages(Uint8Array.of(0, 0, 0, 3, 0x00, 0x01, 0x80))).toEqual([0x00, 0x01, 0x80]);
    expect(parseSupportedDiagnosticPages(Uint8Array.of(0, 0, 0, 3, 0x00))).toEqual([0x00]);
  });
});
