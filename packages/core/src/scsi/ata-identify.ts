/**
 * ATA IDENTIFY DEVICE data (512 bytes, 256 little-endian words), ACS-4 §9.11
 * table 45. A short buffer is read as far as it goes: words past its end
 * count as zero ("not reported").
 */
import { badInput } from '../errors.js';
import { le16word, u8 } from './bytes.js';

export interface AtaIdentify {
  model: string;
  serial: string;
  firmware: string;
  /** true when word 0 bit 15 is clear (ATA device, not ATAPI). */
  ata: boolean;
  lbaSupported: boolean;
  lba48Supported: boolean;
  /** User addressable sectors: 48-bit words 100-103 (or 230-233) when supported, else 28-bit words 60-61. */
  userSectors: bigint;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** log2(logical sectors per physical sector), word 106 bits 3:0. */
  logicalPerPhysicalExponent: number;
  userCapacityBytes: bigint;
  smartSupported: boolean;
  smartEnabled: boolean;
  /** Highest SATA generation supported (1: 1.5, 2: 3.0, 3: 6.0 Gb/s), undefined if not SATA. */
  sataGeneration?: number;
  sataSpeeds: string[];
  /** Word 217: 'ssd' for non-rotating media, an rpm number, or undefined when not reported. */
  rotationRate?: number | 'ssd';
  /** Highest major version bit in word 80, e.g. 'ACS-3', or undefined. */
  majorVersion?: string;
  majorVersionBits: number;
  /** Word 255 checksum: undefined when the signature byte A5h is absent. */
  checksumValid?: boolean;
  /** The buffer held fewer than 512 bytes. */
  truncated: boolean;
}

/** ATA strings store two characters per word, first character in the high byte. */
export function ataString(buf: Uint8Array, firstWord: number, words: number): string {
  let s = '';
  for (let w = firstWord; w < firstWord + words; w++) {
    for (const c of [u8(buf, 2 * w + 1), u8(buf, 2 * w)]) {
      if (c !== 0) s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
    }
  }
  return s.trim();
}

// Word 80 bits (ACS-4 table 45): bit n → version name.
const MAJOR_VERSIONS: Record<number, string> = {
  1: 'ATA-1',
  2: 'ATA-2',
  3: 'ATA-3',
  4: 'ATA/ATAPI-4',
  5: 'ATA/ATAPI-5',
  6: 'ATA/ATAPI-6',
  7: 'ATA/ATAPI-7',
  8: 'ATA8-ACS',
  9: 'ACS-2',
  10: 'ACS-3',
  11: 'ACS-4',
  12: 'ACS-5',
  13: 'ACS-6',
};

export function parseAtaIdentify(data: Uint8Array): AtaIdentify {
  if (data.length < 2)
    throw badInput(`IDENTIFY DEVICE: need at least word 0 (2 bytes), got ${data.length}; ask for 512 bytes`);
  const w = (i: number) => le16word(data, i);
  // Words 82-84 are valid when word 83 bits 15:14 are 01; words 85-87 when word 87's are.
  const valid = (word: number) => (w(word) & 0xc000) === 0x4000;
  const lba48 = valid(83) && (w(83) & 0x0400) !== 0;
  const sectors28 = BigInt(w(60) | (w(61) << 16)) & 0xffffffffn;
  const sectors48 = (BigInt(w(103)) << 48n) | (BigInt(w(102)) << 32n) | (BigInt(w(101)) << 16n) | BigInt(w(100));
  const extValid = (w(69) & 0x0008) !== 0;
  const sectorsExt = (BigInt(w(233)) << 48n) | (BigInt(w(232)) << 32n) | (BigInt(w(231)) << 16n) | BigInt(w(230));
  const userSectors = extValid && sectorsExt > 0n ? sectorsExt : lba48 && sectors48 > 0n ? sectors48 : sectors28;

  // Word 106 is valid when bit 14 is set and bit 15 clear.
  const w106 = w(106);
  const w106Valid = (w106 & 0xc000) === 0x4000;
  const exponent = w106Valid && (w106 & 0x2000) !== 0 ? w106 & 0x0f : 0;
  const logical = w106Valid && (w106 & 0x1000) !== 0 ? 2 * ((w(118) << 16) | w(117)) : 512;
  const physical = logical * 2 ** exponent;

  const w76 = w(76);
  const sata = w76 !== 0 && w76 !== 0xffff;
  const speeds: string[] = [];
  if (sata) {
    if (w76 & 0x0002) speeds.push('1.5 Gb/s');
    if (w76 & 0x0004) speeds.push('3.0 Gb/s');
    if (w76 & 0x0008) speeds.push('6.0 Gb/s');
  }
  const gen = sata ? (w76 & 0x0008 ? 3 : w76 & 0x0004 ? 2 : w76 & 0x0002 ? 1 : undefined) : undefined;

  const w217 = w(217);
  const rotationRate = w217 === 1 ? ('ssd' as const) : w217 >= 0x0401 && w217 <= 0xfffe ? w217 : undefined;

  const w80 = w(80);
  let majorVersion: string | undefined;
  if (w80 !== 0 && w80 !== 0xffff) {
    for (let bit = 14; bit >= 1; bit--) {
      if (w80 & (1 << bit)) {
        majorVersion = MAJOR_VERSIONS[bit] ?? `major version bit ${bit}`;
        break;
      }
    }
  }

  let checksumValid: boolean | undefined;
  if (data.length >= 512 && u8(data, 510) === 0xa5) {
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += u8(data, i);
    checksumValid = (sum & 0xff) === 0;
  }

  return {
    model: ataString(data, 27, 20),
    serial: ataString(data, 10, 10),
    firmware: ataString(data, 23, 4),
    ata: (w(0) & 0x8000) === 0,
    lbaSupported: (w(49) & 0x0200) !== 0,
    lba48Supported: lba48,
    userSectors,
    logicalSectorSize: logical,
    physicalSectorSize: physical,
    logicalPerPhysicalExponent: exponent,
    userCapacityBytes: userSectors * BigInt(logical),
    smartSupported: valid(83) && (w(82) & 0x0001) !== 0,
    smartEnabled: valid(87) && (w(85) & 0x0001) !== 0,
    ...(gen !== undefined ? { sataGeneration: gen } : {}),
    sataSpeeds: speeds,
    ...(rotationRate !== undefined ? { rotationRate } : {}),
    ...(majorVersion !== undefined ? { majorVersion } : {}),
    majorVersionBits: w80 === 0xffff ? 0 : w80,
    ...(checksumValid !== undefined ? { checksumValid } : {}),
    truncated: data.length < 512,
  };
}
