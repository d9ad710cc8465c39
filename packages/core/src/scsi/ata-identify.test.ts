import { describe, expect, it } from 'vitest';
import { isUsbScsiError } from '../errors.js';
import { ataString, parseAtaIdentify } from './ata-identify.js';

/**
 * A real device: IDENTIFY DEVICE of a Samsung SSD 870 QVO 4TB (firmware SVQ02B6Q), as printed by
 * CrystalDiskInfo ("-- IDENTIFY_DEVICE --", word values, rows of 10 words, decimal row offsets) in a
 * public GitHub-hosted blog post (ThinkPad P52 home-server notes). CrystalDiskInfo decoded the same
 * dump as: 7814037168 sectors, SSD, SATA/600, ACS-4, S.M.A.R.T. — the assertions below. Word 255
 * is A5h + checksum, so a transcription error would fail `checksumValid`.
 */
const SAMSUNG_870_QVO_IDENTIFY = `
000: 0040 3FFF C837 0010 0000 0000 003F 0000 0000 0000
010: 5335 5354 4E46 3057 3730 3633 3332 4D20 2020 2020
020: 0000 0000 0000 5356 5130 3242 3651 5361 6D73 756E
030: 6720 5353 4420 3837 3020 5156 4F20 3454 4220 2020
040: 2020 2020 2020 2020 2020 2020 2020 8001 4001 2F00
050: 4000 0200 0200 0007 3FFF 0010 003F FC10 00FB 0101
060: FFFF 0FFF 0000 0007 0003 0078 0078 0078 0078 4F30
070: 0000 0000 0000 0000 0000 001F 850E 00C6 056C 0060
080: 09FC 005E 746B 7D01 4163 7469 BC01 4163 407F 0002
090: 0004 0000 FFFE 0000 0000 0000 0000 0000 0000 0000
100: BEB0 D1C0 0001 0000 0000 0008 4000 0000 5002 538F
110: 4372 DD3A 0000 0000 0000 0000 0000 0000 0000 401E
120: 401C 0000 0000 0000 0000 0000 0000 0000 0029 0000
130: 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
140: 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
150: 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
160: 0000 0000 0000 0000 0000 0000 0000 0000 0003 0001
170: 2020 2020 2020 2020 0000 0000 0000 0000 0000 0000
180: 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
190: 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
200: 0000 0000 0000 0000 0000 0000 003D 0000 0000 4000
210: 0000 0000 0000 0000 0000 0000 0000 0001 0000 0000
220: 0000 0000 11FF 0000 0000 0000 0000 0000 0000 0000
230: 0000 0000 0000 0000 0000 1400 0000 0000 0000 0000
240: 0000 0000 0000 4000 0000 0000 0000 0000 0000 0000
250: 0000 0000 0000 0000 0000 32A5`;

/** Word dump → the 512 bytes the drive sent (ATA words are little-endian). */
function wordsToBytes(dump: string): Uint8Array {
  const words = dump
    .trim()
    .split('\n')
    .flatMap((line) =>
      line
        .replace(/^\s*\d+:/, '')
        .trim()
        .split(/\s+/),
    )
    .map((w) => parseInt(w, 16));
  const out = new Uint8Array(words.length * 2);
  words.forEach((w, i) => {
    out[2 * i] = w & 0xff;
    out[2 * i + 1] = w >> 8;
  });
  return out;
}

describe('parseAtaIdentify on a Samsung SSD 870 QVO 4TB', () => {
  const data = wordsToBytes(SAMSUNG_870_QVO_IDENTIFY);

  it('the transcription is 512 bytes and its checksum holds', () => {
    expect(data.length).toBe(512);
    expect(parseAtaIdentify(data).checksumValid).toBe(true);
  });

  it('decodes the byte-swapped strings', () => {
    const id = parseAtaIdentify(data);
    expect(id.model).toBe('Samsung SSD 870 QVO 4TB');
    expect(id.serial).toBe('S5STNF0W706332M');
    expect(id.firmware).toBe('SVQ02B6Q');
  });

  it('capacity from the 48-bit words, sector sizes, SMART, SATA, rotation, version', () => {
    const id = parseAtaIdentify(data);
    expect(id).toMatchObject({
      ata: true,
      lbaSupported: true,
      lba48Supported: true,
      userSectors: 7814037168n,
      userCapacityBytes: 4000787030016n,
      logicalSectorSize: 512,
      physicalSectorSize: 512,
      logicalPerPhysicalExponent: 0,
      smartSupported: true,
      smartEnabled: true,
      sataGeneration: 3,
      sataSpeeds: ['1.5 Gb/s', '3.0 Gb/s', '6.0 Gb/s'],
      rotationRate: 'ssd',
      majorVersion: 'ACS-4',
      truncated: false,
    });
  });

  it('notices a corrupted block through the checksum', () => {
    const bad = data.slice();
    bad[100] = (bad[100] ?? 0) ^ 0x01;
    expect(parseAtaIdentify(bad).checksumValid).toBe(false);
  });
});

// Constructed per ACS-4 table 45 to reach the branches the SSD does not use.
describe('parseAtaIdentify, other layouts', () => {
  it('28-bit-only drive, 7200 rpm, 4Kn physical (word 106), SMART off, not SATA', () => {
    const d = new Uint8Array(512);
    const put = (w: number, v: number) => {
      d[2 * w] = v & 0xff;
      d[2 * w + 1] = v >> 8;
    };
    put(49, 0x0200);
    put(60, 0x5678);
    put(61, 0x0123); // 0x01235678 sectors
    put(82, 0x0001);
    put(83, 0x4000); // valid, no 48-bit
    put(85, 0x0000);
    put(87, 0x4000);
    put(106, 0x6003); // valid, multiple logical per physical, 2^3
    put(217, 7200);
    put(80, 0x00f0); // ATA/ATAPI-4..7
    const id = parseAtaIdentify(d);
    expect(id).toMatchObject({
      lba48Supported: false,
      userSectors: 0x01235678n,
      physicalSectorSize: 4096,
      logicalPerPhysicalExponent: 3,
      smartSupported: true,
      smartEnabled: false,
      rotationRate: 7200,
      majorVersion: 'ATA/ATAPI-7',
      sataSpeeds: [],
    });
    expect(id.sataGeneration).toBeUndefined();
    expect(id.checksumValid).toBeUndefined(); // no A5h signature
  });

  it('logical sectors longer than 512 bytes come from words 117-118', () => {
    const d = new Uint8Array(512);
    d[2 * 106 + 1] = 0x50; // 0x5000: valid, bit 12 (long logical sectors)
    d[2 * 117] = 0x00;
    d[2 * 117 + 1] = 0x08; // 0x0800 words = 4096 bytes
    expect(parseAtaIdentify(d).logicalSectorSize).toBe(4096);
  });

  it('a short buffer is read as far as it goes; under 2 bytes is E_BAD_INPUT', () => {
    const data = wordsToBytes(SAMSUNG_870_QVO_IDENTIFY).subarray(0, 100);
    const id = parseAtaIdentify(data);
    expect(id.model).toBe('Samsung SSD 870 QVO 4TB');
    expect(id.truncated).toBe(true);
    expect(id.userSectors).toBe(0n);
    let caught: unknown;
    try {
      parseAtaIdentify(new Uint8Array(1));
    } catch (err) {
      caught = err;
    }
    expect(isUsbScsiError(caught, 'E_BAD_INPUT')).toBe(true);
  });

  it('ataString swaps each word and trims', () => {
    expect(ataString(Uint8Array.from([0x41, 0x54, 0x41, 0x20, 0x20, 0x20]), 0, 3)).toBe('TA A');
  });
});
