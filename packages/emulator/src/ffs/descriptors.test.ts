import { describe, expect, it } from 'vitest';
import { functionStrings, massStorageDescriptors } from './descriptors.js';

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

/** Splits a run of USB descriptors by bLength. */
function split(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += bytes[i]!) out.push(bytes.subarray(i, i + bytes[i]!));
  return out;
}

describe('FunctionFS descriptors', () => {
  it('has a V2 header whose length is the blob length, with FS|HS|SS and 3/3/5 descriptors', () => {
    const d = massStorageDescriptors();
    expect([u32(d, 0), u32(d, 4), u32(d, 8)]).toEqual([3, d.length, 7]);
    expect([u32(d, 12), u32(d, 16), u32(d, 20)]).toEqual([3, 3, 5]);
    const all = split(d.subarray(24));
    expect(all.length).toBe(11);
    expect(all.reduce((n, x) => n + x.length, 0)).toBe(d.length - 24);
  });

  it('declares interface 08/06/50 and bulk 0x81 / 0x02 with 64 / 512 / 1024-byte packets', () => {
    const all = split(massStorageDescriptors().subarray(24));
    const intf = all.filter((x) => x[1] === 4);
    expect(intf.map((x) => [x[5], x[6], x[7]])).toEqual([
      [8, 6, 0x50],
      [8, 6, 0x50],
      [8, 6, 0x50],
    ]);
    const eps = all.filter((x) => x[1] === 5).map((x) => [x[2], x[3], x[4]! | (x[5]! << 8)]);
    expect(eps).toEqual([
      [0x81, 2, 64],
      [0x02, 2, 64],
      [0x81, 2, 512],
      [0x02, 2, 512],
      [0x81, 2, 1024],
      [0x02, 2, 1024],
    ]);
    // SuperSpeed: a companion right after each endpoint
    const ss = all.slice(6);
    expect(ss.map((x) => x[1])).toEqual([4, 5, 0x30, 5, 0x30]);
  });

  it('encodes strings for language 0x0409, NUL-terminated', () => {
    const s = functionStrings(['usbscsi emulator']);
    expect([u32(s, 0), u32(s, 4), u32(s, 8), u32(s, 12)]).toEqual([2, s.length, 1, 1]);
    expect([s[16], s[17]]).toEqual([0x09, 0x04]);
    expect(Buffer.from(s.subarray(18)).toString('latin1')).toBe('usbscsi emulator\0');
  });
});
