/**
 * The simulated SATA disk behind the USB-SATA bridge: what ATA IDENTIFY DEVICE
 * and SMART return (ACS-3 word layout; SMART data layout as smartmontools
 * reads it: 30 attribute entries of 12 bytes from offset 2, checksum at 511).
 */

export interface SmartAttribute {
  id: number;
  flags: number;
  current: number;
  worst: number;
  threshold: number;
  raw: bigint;
}

export interface AtaDiskOptions {
  model?: string;
  serial?: string;
  firmware?: string;
  /** 512-byte sectors reported in IDENTIFY (default: from LUN 0's capacity). */
  sectors?: bigint;
  /** 1 = non-rotating (SSD), else rpm. Default 7200. */
  rotationRate?: number;
  /** SMART RETURN STATUS reports "threshold exceeded" (LBA mid/high F4h/2Ch). */
  smartFailing?: boolean;
  /** Replace the default attribute table. */
  attributes?: SmartAttribute[];
}

export const DEFAULT_SMART_ATTRIBUTES: readonly SmartAttribute[] = [
  { id: 1, flags: 0x000f, current: 100, worst: 100, threshold: 6, raw: 0n }, // raw read error rate
  { id: 5, flags: 0x0033, current: 100, worst: 100, threshold: 10, raw: 0n }, // reallocated sectors
  { id: 9, flags: 0x0032, current: 98, worst: 98, threshold: 0, raw: 1234n }, // power-on hours
  { id: 12, flags: 0x0032, current: 100, worst: 100, threshold: 20, raw: 42n }, // power cycles
  { id: 194, flags: 0x0022, current: 65, worst: 55, threshold: 0, raw: 35n }, // temperature °C
  { id: 197, flags: 0x0012, current: 100, worst: 100, threshold: 0, raw: 0n }, // pending sectors
  { id: 198, flags: 0x0010, current: 100, worst: 100, threshold: 0, raw: 0n }, // offline uncorrectable
  { id: 199, flags: 0x003e, current: 200, worst: 200, threshold: 0, raw: 0n }, // UDMA CRC errors
];

/** ATA strings put the first character of each pair in the high byte of the word. */
function putAtaString(words: Uint16Array, firstWord: number, wordCount: number, text: string): void {
  const padded = text.padEnd(wordCount * 2).slice(0, wordCount * 2);
  for (let i = 0; i < wordCount; i++)
    words[firstWord + i] = (padded.charCodeAt(2 * i) << 8) | padded.charCodeAt(2 * i + 1);
}

function wordsToBytes(words: Uint16Array): Uint8Array {
  const out = new Uint8Array(512);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint16(i * 2, w, true));
  return out;
}

/** Byte 511 makes the 512-byte sum zero mod 256 (IDENTIFY word 255 high byte; SMART data). */
function sealChecksum(block: Uint8Array): Uint8Array {
  let sum = 0;
  for (let i = 0; i < 511; i++) sum += block[i] ?? 0;
  block[511] = (256 - (sum & 0xff)) & 0xff;
  return block;
}

export class SimulatedAtaDisk {
  readonly model: string;
  readonly serial: string;
  /** Changes when new microcode is activated (DOWNLOAD MICROCODE). */
  firmware: string;
  /**
   * DOWNLOAD MICROCODE support and its segment limits in 512-byte blocks (IDENTIFY words 234/235); null: not supported.
   */
  microcode: { minBlocks: number; maxBlocks: number } | null = null;
  readonly sectors: bigint;
  readonly rotationRate: number;
  smartFailing: boolean;
  attributes: SmartAttribute[];

  constructor(options: AtaDiskOptions & { sectors: bigint }) {
    this.model = options.model ?? 'USBSCSI SIM SATA DISK';
    this.serial = options.serial ?? 'SIMATA0001';
    this.firmware = options.firmware ?? '1.0';
    this.sectors = options.sectors;
    this.rotationRate = options.rotationRate ?? 7200;
    this.smartFailing = options.smartFailing ?? false;
    this.attributes = (options.attributes ?? DEFAULT_SMART_ATTRIBUTES).map((a) => ({ ...a }));
  }

  identify(): Uint8Array {
    const w = new Uint16Array(256);
    w[0] = 0x0040; // ATA device, fixed
    w[1] = 16383;
    w[3] = 16;
    w[6] = 63;
    putAtaString(w, 10, 10, this.serial);
    putAtaString(w, 23, 4, this.firmware);
    putAtaString(w, 27, 20, this.model);
    w[47] = 0x8010; // READ/WRITE MULTIPLE: 16 sectors
    w[49] = 0x0300; // LBA and DMA supported
    w[53] = 0x0006; // words 64-70 and 88 valid
    const lba28 = this.sectors > 0x0fffffffn ? 0x0fffffff : Number(this.sectors);
    w[60] = lba28 & 0xffff;
    w[61] = lba28 >>> 16;
    w[80] = 0x01f0; // ATA/ATAPI-4 .. ACS-2
    w[82] = 0x746b; // SMART (bit 0), security, power management, write cache, look-ahead...
    w[83] = 0x7d09 | 0x0400; // bit 14 valid, bit 10 48-bit address feature set
    w[84] = 0x6163; // bit 14 valid, SMART self-test (bit 1), SMART error logging (bit 0)
    w[85] = 0x7469; // SMART enabled (bit 0)
    w[86] = 0xbc09 | 0x0400; // 48-bit addressing enabled
    w[87] = 0x6163;
    w[88] = 0x407f; // UDMA 0-6 supported, mode 6 selected
    for (let i = 0; i < 4; i++) w[100 + i] = Number((this.sectors >> BigInt(16 * i)) & 0xffffn);
    w[106] = 0x4000; // words valid, 1 logical sector per physical
    if (this.microcode) {
      // ACS-4 table 45: word 83/86 bit 0 DOWNLOAD MICROCODE supported/enabled, word 69 bit 8
      // DOWNLOAD MICROCODE DMA, words 119/120 bit 4 mode 3 (offsets), words 234/235 segment limits.
      w[83] = (w[83] ?? 0) | 0x0001;
      w[86] = (w[86] ?? 0) | 0x0001;
      w[69] = (w[69] ?? 0) | 0x0100;
      w[119] = 0x4010;
      w[120] = 0x4010;
      w[234] = this.microcode.minBlocks;
      w[235] = this.microcode.maxBlocks;
    }
    w[217] = this.rotationRate;
    w[255] = 0x00a5; // integrity signature; checksum sealed below
    return sealChecksum(wordsToBytes(w));
  }

  smartData(): Uint8Array {
    const out = new Uint8Array(512);
    out[0] = 0x10; // revision 0x0010
    this.attributes.slice(0, 30).forEach((a, i) => {
      const at = 2 + i * 12;
      out[at] = a.id;
      out[at + 1] = a.flags & 0xff;
      out[at + 2] = a.flags >> 8;
      out[at + 3] = a.current;
      out[at + 4] = a.worst;
      for (let b = 0; b < 6; b++) out[at + 5 + b] = Number((a.raw >> BigInt(8 * b)) & 0xffn);
    });
    out[362] = 0x82; // offline data collection completed, auto offline enabled
    out[363] = 0x00; // last self-test completed without error
    out[364] = 120; // offline collection time, seconds
    out[367] = 0x5b; // offline capabilities
    out[368] = 0x03; // SMART capability: saves data on power-saving, autosave
    out[370] = 0x01; // error logging supported
    out[372] = 2; // short self-test: 2 minutes
    out[373] = 60; // extended self-test: 60 minutes
    return sealChecksum(out);
  }

  smartThresholds(): Uint8Array {
    const out = new Uint8Array(512);
    out[0] = 0x10;
    this.attributes.slice(0, 30).forEach((a, i) => {
      out[2 + i * 12] = a.id;
      out[2 + i * 12 + 1] = a.threshold;
    });
    return sealChecksum(out);
  }
}
