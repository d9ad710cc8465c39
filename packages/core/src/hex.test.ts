import { describe, expect, it } from 'vitest';
import { hex, hex0x, hexBytes, usbIdsOf } from './hex.js';

describe('hex', () => {
  it('pads to the digits asked for, lowercase, and never cuts a wider value', () => {
    expect(hex(5)).toBe('05');
    expect(hex(0xab)).toBe('ab');
    expect(hex(0x46f4, 4)).toBe('46f4');
    expect(hex(1, 4)).toBe('0001');
    expect(hex(0x12345, 4)).toBe('12345');
    expect(hex(0x1_0000_0000n, 8)).toBe('100000000');
  });

  it('hex0x prefixes 0x to the same digits', () => {
    expect(hex0x(0x12)).toBe('0x12');
    expect(hex0x(0x5, 4)).toBe('0x0005');
    expect(hex0x(0x14000000, 8)).toBe('0x14000000');
  });

  it('hexBytes writes two digits a byte, with the separator asked for', () => {
    const cdb = Uint8Array.from([0x12, 0, 0, 0, 0x24, 0]);
    expect(hexBytes(cdb)).toBe('120000002400');
    expect(hexBytes(cdb, ' ')).toBe('12 00 00 00 24 00');
    expect(hexBytes(new Uint8Array(0))).toBe('');
    expect(hexBytes(new Uint8Array(Uint8Array.of(9, 0xff, 7).buffer, 1, 1))).toBe('ff');
  });

  it('usbIdsOf is VID:PID as lsusb prints it', () => {
    expect(usbIdsOf({ vendorId: 0x46f4, productId: 1 })).toBe('46f4:0001');
  });
});
