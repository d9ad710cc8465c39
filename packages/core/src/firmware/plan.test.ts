import { describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { downloadMicrocodeCdb } from './ata-target.js';
import { checkFirmwareOptions, chooseMode, chunkImage, parseFirmwareMode } from './plan.js';
import { parseOneCommandSupport, reportSupportedOperationCodeCdb } from './scsi-target.js';
import type { FirmwareCapabilities } from './types.js';

const caps = (modes: number[] | undefined, offsetBoundary: number | undefined = 512): FirmwareCapabilities => ({
  target: 'scsi',
  modes,
  modesSource: modes ? 'report-supported-operation-codes' : 'not-reported',
  offsetBoundary,
  bufferCapacity: 1 << 20,
  revision: '1',
  notes: [],
});

function reason(fn: () => unknown): [string, unknown] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsbScsiError);
    return [(err as UsbScsiError).code, (err as UsbScsiError).details['reason']];
  }
  throw new Error('expected a typed error');
}

describe('parseFirmwareMode', () => {
  it('takes the download modes in decimal or hex, and auto', () => {
    expect(['auto', '5', '7', '0xd', '0xe', 14, undefined].map(parseFirmwareMode)).toEqual([
      'auto',
      5,
      7,
      13,
      14,
      14,
      'auto',
    ]);
  });
  it('refuses other modes (0x0f is the activate step, not a download)', () => {
    for (const bad of ['6', '0xf', 'segmented', 2])
      expect(reason(() => parseFirmwareMode(bad))).toEqual([ErrorCodes.BAD_INPUT, 'bad-mode']);
  });
});

describe('chooseMode', () => {
  const all = [5, 7, 13, 14, 15];
  it.each([
    [all, false, 0x0e],
    [all, true, 0x0e],
    [[5, 7], true, 0x07],
    [[5], true, 0x05],
    [undefined, false, 0x0e],
    [undefined, true, 0x07],
  ])('modes %j, activate %s → %i', (modes, activate, expected) => {
    expect(chooseMode(caps(modes), 1000, { allowMediumWrite: true, activate }).mode).toBe(expected);
  });
  it('offset boundary "offset 0 only" rules out segments', () => {
    expect(chooseMode(caps(all, 0), 1000, { allowMediumWrite: true, activate: true }).mode).toBe(0x05);
  });
  it('refuses: an unreported mode, activation nobody asked for', () => {
    expect(reason(() => chooseMode(caps([5, 7]), 1000, { allowMediumWrite: true, mode: 0x0e }))).toEqual([
      ErrorCodes.UNSUPPORTED,
      'mode-unsupported',
    ]);
    expect(reason(() => chooseMode(caps([5, 7]), 1000, { allowMediumWrite: true }))).toEqual([
      ErrorCodes.UNSUPPORTED,
      'mode-unsupported',
    ]);
  });
});

describe('chunkImage', () => {
  const rules = { alignment: 512, minChunk: 1, maxChunk: 1 << 20, limit: 1 << 20, limitName: 'download buffer' };
  it('aligned chunks at increasing offsets from the base; the last one short, never padded', () => {
    const { chunkSize, chunks } = chunkImage(10_000, 4096, 4096, rules);
    expect(chunkSize).toBe(4096);
    expect(chunks.map((c) => [c.offset, c.imageOffset, c.length])).toEqual([
      [4096, 0, 4096],
      [8192, 4096, 4096],
      [12288, 8192, 1808],
    ]);
  });
  it('default chunk: 64 KiB within the limits, rounded down to the boundary', () => {
    expect(chunkImage(200_000, 0, undefined, { ...rules, alignment: 3000 }).chunkSize).toBe(63_000);
  });
  it('refuses a misaligned offset, an image past the buffer, a chunk that is not a multiple of the boundary', () => {
    expect(reason(() => chunkImage(1000, 100, 4096, rules))).toEqual([ErrorCodes.BAD_INPUT, 'misaligned-offset']);
    expect(reason(() => chunkImage((1 << 20) - 511, 512, 4096, rules))).toEqual([
      ErrorCodes.BAD_INPUT,
      'image-too-large',
    ]);
    expect(reason(() => chunkImage(1000, 0, 1000, rules))).toEqual([ErrorCodes.BAD_INPUT, 'bad-chunk-size']);
    expect(reason(() => chunkImage(0, 0, 512, rules))).toEqual([ErrorCodes.BAD_INPUT, 'empty-image']);
  });
});

describe('checkFirmwareOptions (no device needed)', () => {
  it('consent, unless a dry run; modes 05h/07h only with activate', () => {
    expect(reason(() => checkFirmwareOptions(100, { allowMediumWrite: false }))).toEqual([
      ErrorCodes.BAD_INPUT,
      'no-consent',
    ]);
    expect(() => checkFirmwareOptions(100, { allowMediumWrite: false, dryRun: true })).not.toThrow();
    expect(reason(() => checkFirmwareOptions(100, { allowMediumWrite: true, mode: 7 }))).toEqual([
      ErrorCodes.BAD_INPUT,
      'activation-not-allowed',
    ]);
    expect(() => checkFirmwareOptions(100, { allowMediumWrite: true, mode: 7, activate: true })).not.toThrow();
    expect(reason(() => checkFirmwareOptions(100, { allowMediumWrite: true, chunkSize: 0 }))).toEqual([
      ErrorCodes.BAD_INPUT,
      'bad-chunkSize',
    ]);
    expect(reason(() => checkFirmwareOptions(100, { allowMediumWrite: true, bufferId: 256 }))).toEqual([
      ErrorCodes.BAD_INPUT,
      'bad-buffer-id',
    ]);
  });
});

describe('CDBs', () => {
  it('REPORT SUPPORTED OPERATION CODES one-command form for WRITE BUFFER mode 0x0e (SPC-5 §6.35)', () => {
    expect([...reportSupportedOperationCodeCdb(0x3b, 0x0e, 64)]).toEqual([
      0xa3, 0x0c, 0x03, 0x3b, 0x00, 0x0e, 0, 0, 0, 64, 0, 0,
    ]);
    expect(parseOneCommandSupport(Uint8Array.of(0, 0x03, 0, 10))).toBe('supported');
    expect(parseOneCommandSupport(Uint8Array.of(0, 0x05, 0, 10))).toBe('supported');
    expect(parseOneCommandSupport(Uint8Array.of(0, 0x01, 0, 10))).toBe('not-supported');
    expect(parseOneCommandSupport(Uint8Array.of(0, 0x00))).toBe('unknown');
  });

  it(
    'DOWNLOAD MICROCODE in ATA PASS-THROUGH(16): subcommand in FEATURE, blocks in COUNT, ' +
      'offset in LBA 23:8, CK_COND (ACS-4 §7.7)',
    () => {
      const cdb = downloadMicrocodeCdb({ subcommand: 0x03, blocks: 128, offsetBlocks: 0x0102 });
      expect(cdb[0]).toBe(0x85);
      expect(cdb[1]).toBe(5 << 1); // PIO data-out
      expect(cdb[2]).toBe(0x20 | 0x04 | 0x02); // CK_COND, BYT_BLOK, T_LENGTH in COUNT; T_DIR out
      expect([cdb[4], cdb[6], cdb[8], cdb[10], cdb[12], cdb[13], cdb[14]]).toEqual([
        0x03, 128, 0x00, 0x02, 0x01, 0x40, 0x92,
      ]);
      const dma = downloadMicrocodeCdb({ subcommand: 0x0e, blocks: 1, offsetBlocks: 0, dma: true });
      expect([dma[1], dma[14]]).toEqual([6 << 1, 0x93]);
      const activate = downloadMicrocodeCdb({ subcommand: 0x0f, blocks: 0, offsetBlocks: 0 });
      expect([activate[1], activate[2], activate[4], activate[14]]).toEqual([3 << 1, 0x20, 0x0f, 0x92]);
    },
  );
});
