import { describe, expect, it } from 'vitest';
import { parseModeSense10, parseModeSense6 } from './parse-mode-sense.js';

describe('MODE SENSE(6)', () => {
  // Layout as QEMU hw/scsi/scsi-disk.c scsi_disk_emulate_mode_sense() builds it: 4-byte header,
  // one 8-byte block descriptor (density 0, 24-bit block count, block length in 5..7), then the
  // caching page 08h (length 12h, WCE set).
  const caching = Uint8Array.from([
    0x1f,
    0x00,
    0x00,
    0x08,
    0x00,
    0x10,
    0x00,
    0x00,
    0x00,
    0x00,
    0x02,
    0x00,
    0x08,
    0x12,
    0x04,
    ...new Array(17).fill(0),
  ]);
  it('header, block descriptor and the caching page', () => {
    const m = parseModeSense6(caching);
    expect(m).toMatchObject({ modeDataLength: 31, mediumType: 0, writeProtected: false, longLba: false });
    expect(m.blockDescriptors).toEqual([{ blocks: 0x100000n, blockLength: 512, densityCode: 0 }]);
    expect(m.pages).toHaveLength(1);
    expect(m.pages[0]).toMatchObject({ page: 0x08, subpage: 0, parametersSaveable: false });
    expect(m.pages[0]?.bytes.length).toBe(20);
    expect(m.pages[0]?.bytes[2]).toBe(0x04);
  });
  it('write-protected medium, no block descriptors (DBD), several pages including a saveable one', () => {
    const m = parseModeSense6(
      Uint8Array.from([0x0f, 0x00, 0x80, 0x00, 0x81, 0x02, 0xaa, 0xbb, 0x1c, 0x06, 1, 2, 3, 4, 5, 6]),
    );
    expect(m.writeProtected).toBe(true);
    expect(m.blockDescriptors).toEqual([]);
    expect(m.pages.map((p) => [p.page, p.parametersSaveable, p.bytes.length])).toEqual([
      [0x01, true, 4],
      [0x1c, false, 8],
    ]);
  });
  it('stops at MODE DATA LENGTH and clips a page cut off by a short allocation length', () => {
    const m = parseModeSense6(caching.subarray(0, 18));
    expect(m.pages).toHaveLength(1);
    expect(m.pages[0]?.bytes.length).toBe(6);
    expect(() => parseModeSense6(Uint8Array.of(3, 0, 0))).toThrow(/at least 4 bytes/);
  });
});

describe('MODE SENSE(10)', () => {
  it('LONGLBA block descriptor and a subpage-format page (SPF, control extension 0Ah/01h)', () => {
    const data = Uint8Array.from([
      0x00,
      0x36,
      0x00,
      0x10,
      0x01,
      0x00,
      0x00,
      0x10,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0x10,
      0x00,
      0x4a,
      0x01,
      0x00,
      0x1c,
      ...new Array(0x1c).fill(0),
    ]);
    const m = parseModeSense10(data);
    expect(m).toMatchObject({ modeDataLength: 0x36, deviceSpecific: 0x10, writeProtected: false, longLba: true });
    expect(m.blockDescriptors).toEqual([{ blocks: 0x100000000n, blockLength: 4096 }]);
    expect(m.pages).toHaveLength(1);
    expect(m.pages[0]).toMatchObject({ page: 0x0a, subpage: 0x01 });
    expect(m.pages[0]?.bytes.length).toBe(32);
  });
  it('needs the 8-byte header', () => {
    expect(() => parseModeSense10(new Uint8Array(7))).toThrow(/MODE SENSE\(10\).*at least 8 bytes/);
  });
});
