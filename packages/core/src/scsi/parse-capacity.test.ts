import { describe, expect, it } from 'vitest';
import { parseReadCapacity10, parseReadCapacity16 } from './parse-capacity.js';

describe('READ CAPACITY(10)', () => {
  it('QEMU scsi-disk for an 8 GiB image of 512-byte blocks: last LBA 00FFFFFFh, block length 0200h', () => {
    // hw/scsi/scsi-disk.c: outbuf[0..3] = nb_sectors - 1, outbuf[6] = blocksize >> 8.
    const c = parseReadCapacity10(Uint8Array.of(0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00));
    expect(c).toEqual({
      lastLba: 0xffffffn,
      blockSize: 512,
      blocks: 0x1000000n,
      bytes: 8n * 1024n ** 3n,
      needsReadCapacity16: false,
    });
  });
  it('FFFFFFFFh means: ask READ CAPACITY(16)', () => {
    expect(parseReadCapacity10(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0)).needsReadCapacity16).toBe(true);
  });
  it('throws E_BAD_INPUT below 8 bytes', () => {
    expect(() => parseReadCapacity10(new Uint8Array(7))).toThrow(/at least 8 bytes/);
  });
});

describe('READ CAPACITY(16) (SBC-4 table 80)', () => {
  it(
    '4 TB drive (7 814 037 168 sectors, as the Samsung 870 QVO IDENTIFY reports) as 512e ' +
      'with 4 KiB physical, thin-provisioned',
    () => {
      const d = new Uint8Array(32);
      d.set([0x00, 0x00, 0x00, 0x01, 0xd1, 0xc0, 0xbe, 0xaf], 0); // last LBA 7814037167
      d.set([0x00, 0x00, 0x02, 0x00], 8); // 512
      d[13] = 0x03; // 8 logical per physical
      d[14] = 0xc0; // LBPME, LBPRZ
      const c = parseReadCapacity16(d);
      expect(c).toMatchObject({
        lastLba: 7814037167n,
        blocks: 7814037168n,
        blockSize: 512,
        bytes: 4000787030016n,
        protectionEnabled: false,
        logicalPerPhysicalExponent: 3,
        physicalBlockSize: 4096,
        lowestAlignedLba: 0,
        lbpme: true,
        lbprz: true,
      });
      expect(c.protectionType).toBeUndefined();
    },
  );
  it('protection type 2 (P_TYPE 1), P_I exponent and a lowest aligned LBA', () => {
    const d = new Uint8Array(32);
    d[7] = 0xff;
    d[10] = 0x10; // 4096-byte blocks
    d[12] = 0x03; // P_TYPE 1, PROT_EN
    d[13] = 0x20; // P_I_EXPONENT 2
    d[14] = 0x00;
    d[15] = 0x07;
    expect(parseReadCapacity16(d)).toMatchObject({
      protectionEnabled: true,
      protectionType: 1,
      protectionIntervalExponent: 2,
      lowestAlignedLba: 7,
      blockSize: 4096,
    });
  });
  it('a 12-byte reply still gives LBA and block size; below 12 is E_BAD_INPUT', () => {
    const d = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 2, 0);
    expect(parseReadCapacity16(d)).toMatchObject({ blocks: 10n, physicalBlockSize: 512, lbpme: false });
    expect(() => parseReadCapacity16(d.subarray(0, 11))).toThrow(/at least 12 bytes/);
  });
});
