import { describe, expect, it } from 'vitest';
import { isUsbScsiError } from '../errors.js';
import { parseSmartData, parseSmartThresholds } from './ata-smart.js';

/**
 * A real device: SMART READ DATA and SMART READ THRESHOLD of a Samsung SSD 870 QVO 4TB (firmware
 * SVQ02B6Q), hex dumps from a CrystalDiskInfo report quoted in a public GitHub-hosted blog post
 * (the same report as ata-identify.test.ts). CrystalDiskInfo's own decoding of the same data, which
 * the assertions repeat: 14 attributes; 09 power-on 0x563 = 1379 h; 0C power cycles 0xC4 = 196;
 * B1 wear leveling 4; BE airflow temperature 29 °C (current 71, worst 47); F1 total LBAs written
 * 0x000597D08C79; thresholds 10 for 05, B3, B5, B6, B7. Byte 511 of each block is its checksum.
 */
const SMART_READ_DATA = `
000: 01 00 05 33 00 64 64 00 00 00 00 00 00 00 09 32
010: 00 63 63 63 05 00 00 00 00 00 0C 32 00 63 63 C4
020: 00 00 00 00 00 00 B1 13 00 63 63 04 00 00 00 00
030: 00 00 B3 13 00 64 64 00 00 00 00 00 00 00 B5 32
040: 00 64 64 00 00 00 00 00 00 00 B6 32 00 64 64 00
050: 00 00 00 00 00 00 B7 13 00 64 64 00 00 00 00 00
060: 00 00 BB 32 00 64 64 00 00 00 00 00 00 00 BE 32
070: 00 47 2F 1D 00 00 00 00 00 00 C3 1A 00 C8 C8 00
080: 00 00 00 00 00 00 C7 3E 00 64 64 00 00 00 00 00
090: 00 00 EB 12 00 63 63 0C 00 00 00 00 00 00 F1 32
0A0: 00 63 63 79 8C D0 97 05 00 00 00 00 00 00 00 00
160: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 53
170: 03 00 01 00 02 FF 00 40 01 00 00 00 00 00 00 00
1F0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 8D`;

const SMART_READ_THRESHOLD = `
000: 01 00 05 0A 00 00 00 00 00 00 00 00 00 00 09 00
010: 00 00 00 00 00 00 00 00 00 00 0C 00 00 00 00 00
020: 00 00 00 00 00 00 B1 00 00 00 00 00 00 00 00 00
030: 00 00 B3 0A 00 00 00 00 00 00 00 00 00 00 B5 0A
040: 00 00 00 00 00 00 00 00 00 00 B6 0A 00 00 00 00
050: 00 00 00 00 00 00 B7 0A 00 00 00 00 00 00 00 00
060: 00 00 BB 00 00 00 00 00 00 00 00 00 00 00 BE 00
070: 00 00 00 00 00 00 00 00 00 00 C3 00 00 00 00 00
080: 00 00 00 00 00 00 C7 00 00 00 00 00 00 00 00 00
090: 00 00 EB 00 00 00 00 00 00 00 00 00 00 00 F1 00
1F0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 4E`;

/** Hex dump rows ("OFF: 16 bytes"; rows left out of the dump are all zero in the original) → 512 bytes. */
function dumpToBytes(dump: string): Uint8Array {
  const out = new Uint8Array(512);
  for (const line of dump.trim().split('\n')) {
    const [offset, rest] = line.split(':');
    const base = parseInt(offset ?? '', 16);
    (rest ?? '')
      .trim()
      .split(/\s+/)
      .forEach((h, i) => (out[base + i] = parseInt(h, 16)));
  }
  return out;
}

describe('parseSmartData on a Samsung SSD 870 QVO 4TB', () => {
  const data = dumpToBytes(SMART_READ_DATA);
  const smart = parseSmartData(data);

  it('revision, checksum and the 14 attributes in slot order', () => {
    expect(smart.revision).toBe(1);
    expect(smart.checksumValid).toBe(true);
    expect(smart.attributes.map((a) => a.id)).toEqual([
      5, 9, 12, 177, 179, 181, 182, 183, 187, 190, 195, 199, 235, 241,
    ]);
  });

  it('names, flags, current/worst and 48-bit raw values', () => {
    const byId = new Map(smart.attributes.map((a) => [a.id, a]));
    expect(byId.get(5)).toMatchObject({
      name: 'Reallocated_Sector_Ct',
      flags: 0x33,
      prefailure: true,
      online: true,
      current: 100,
      worst: 100,
      raw: 0n,
    });
    expect(byId.get(9)).toMatchObject({
      name: 'Power_On_Hours',
      prefailure: false,
      online: true,
      current: 99,
      raw: 1379n,
    });
    expect(byId.get(12)).toMatchObject({ name: 'Power_Cycle_Count', raw: 196n });
    expect(byId.get(177)).toMatchObject({ name: 'Wear_Leveling_Count', flags: 0x13, prefailure: true, raw: 4n });
    expect(byId.get(190)).toMatchObject({ name: 'Airflow_Temperature_Cel', current: 71, worst: 47, raw: 29n });
    expect(byId.get(241)).toMatchObject({ name: 'Total_LBAs_Written', raw: 0x000597d08c79n });
    expect(byId.get(235)?.name).toBe('Unknown_Attribute'); // vendor-specific (Samsung POR recovery count)
    expect(Array.from(byId.get(241)?.rawBytes ?? [])).toEqual([0x79, 0x8c, 0xd0, 0x97, 0x05, 0x00]);
  });

  it('offline / self-test status and polling times (extended time from the 16-bit word, byte 373 = FFh)', () => {
    expect(smart).toMatchObject({
      offlineCollectionStatus: 0,
      offlineCollectionStatusText: 'never started',
      selfTestStatus: 0,
      selfTestPercentRemaining: 0,
      offlineCapability: 0x53,
      smartCapability: 0x0003,
      errorLoggingSupported: true,
      shortSelfTestMinutes: 2,
      extendedSelfTestMinutes: 320,
      conveyanceSelfTestMinutes: 0,
      truncated: false,
    });
  });

  it('a self-test in progress reports the percentage left', () => {
    const running = data.slice();
    running[363] = 0xf3;
    expect(parseSmartData(running)).toMatchObject({
      selfTestStatus: 15,
      selfTestStatusText: 'in progress',
      selfTestPercentRemaining: 30,
    });
  });

  it('a flipped byte fails the checksum; a short block yields the attributes it holds', () => {
    const bad = data.slice();
    bad[0x73] = 0x1e;
    expect(parseSmartData(bad).checksumValid).toBe(false);
    const short = parseSmartData(data.subarray(0, 2 + 12 * 3 + 5));
    expect(short.attributes.map((a) => a.id)).toEqual([5, 9, 12]);
    expect(short.checksumValid).toBeUndefined();
    expect(short.truncated).toBe(true);
  });

  it('refuses a block without even the revision', () => {
    let caught: unknown;
    try {
      parseSmartData(new Uint8Array(1));
    } catch (err) {
      caught = err;
    }
    expect(isUsbScsiError(caught, 'E_BAD_INPUT')).toBe(true);
  });
});

describe('parseSmartThresholds on the same drive', () => {
  it('thresholds per attribute ID, checksum valid', () => {
    const t = parseSmartThresholds(dumpToBytes(SMART_READ_THRESHOLD));
    expect(t.checksumValid).toBe(true);
    expect(t.revision).toBe(1);
    expect(t.thresholds.filter((x) => x.threshold > 0).map((x) => x.id)).toEqual([5, 179, 181, 182, 183]);
    expect(t.thresholds.find((x) => x.id === 5)).toEqual({ id: 5, name: 'Reallocated_Sector_Ct', threshold: 10 });
    expect(t.thresholds).toHaveLength(14);
  });
});

// Names: the DEFAULT entry of smartmontools drivedb.h ("-v 194,tempminmax,Temperature_Celsius", …).
describe('SMART attribute names', () => {
  it('knows the common smartmontools names', async () => {
    const { smartAttributeName } = await import('./smart-attribute-names.js');
    const ids = [
      1, 3, 4, 5, 7, 9, 10, 12, 177, 179, 181, 182, 187, 188, 190, 194, 195, 196, 197, 198, 199, 231, 232, 233, 241,
      242,
    ];
    for (const id of ids) expect(smartAttributeName(id), `id ${id}`).not.toBe('Unknown_Attribute');
    expect(smartAttributeName(194)).toBe('Temperature_Celsius');
    expect(smartAttributeName(197)).toBe('Current_Pending_Sector');
    expect(smartAttributeName(199)).toBe('UDMA_CRC_Error_Count');
    expect(smartAttributeName(100)).toBe('Unknown_Attribute');
  });
});
