/**
 * Planning a download: which mode, which chunks at which offsets. Pure functions: every refusal
 * here happens before a command is sent.
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import {
  DOWNLOAD_MODES,
  MODE_NAMES,
  type DownloadFirmwareOptions,
  type DownloadMode,
  type FirmwareCapabilities,
  type FirmwareChunk,
  type FirmwarePlan,
} from './types.js';
import { hex0x } from '../hex.js';

export const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** WRITE BUFFER(10)'s PARAMETER LIST LENGTH and BUFFER OFFSET are 24-bit. */
export const MAX_WRITE_BUFFER_FIELD = 0xff_ffff;

/** A mode given by a user: 5, 7, 0xd, 0xe (numbers, or strings in decimal / 0x-hex) or 'auto'. */
export function parseFirmwareMode(value: string | number | undefined): 'auto' | DownloadMode {
  if (value === undefined || value === 'auto') return 'auto';
  const n =
    typeof value === 'number'
      ? value
      : /^0x[0-9a-f]+$/i.test(value.trim())
        ? Number.parseInt(value.trim(), 16)
        : /^\d+$/.test(value.trim())
          ? Number(value.trim())
          : Number.NaN;
  if (!DOWNLOAD_MODES.includes(n as DownloadMode)) {
    throw badInput(
      `firmware mode ${String(value)} is not a download mode: use auto, 5 (whole image), ` +
        `7 (segmented), 0xd or 0xe (segmented, deferred)`,
      { reason: 'bad-mode' },
    );
  }
  return n as DownloadMode;
}

/** The mode `auto` picks, and why; or the asked-for mode after checking the device supports it. */
export function chooseMode(
  caps: FirmwareCapabilities,
  imageBytes: number,
  options: DownloadFirmwareOptions,
): { mode: DownloadMode; reason: string } {
  const asked = parseFirmwareMode(options.mode);
  const activate = options.activate === true;
  const reported = caps.modes;
  // Offset boundary 0 (SPC-5 FFh): only buffer offset 0 exists, so segments cannot follow one another.
  const segmentsAllowed = caps.offsetBoundary !== 0;
  if (asked !== 'auto') {
    if (reported && !reported.includes(asked)) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `the device does not support firmware mode ${hex0x(asked)} (${MODE_NAMES[asked]}); ` +
          `it reports ${reported.length ? reported.map((m) => hex0x(m)).join(', ') : 'no download mode'}: ` +
          `choose one of those, or --mode auto`,
        { details: { reason: 'mode-unsupported', mode: asked, supported: reported } },
      );
    }
    return { mode: asked, reason: 'asked for' };
  }
  const has = (m: number) => reported === undefined || reported.includes(m);
  const from = reported
    ? `the device reports modes ${reported.map((m) => hex0x(m)).join(', ')}`
    : 'the device does not report its modes';
  if (has(0x0e) && (reported !== undefined || !activate) && segmentsAllowed && (!activate || has(0x0f))) {
    return {
      mode: 0x0e,
      reason:
        `${from}: 0x0e keeps the old firmware running until ` +
        (activate ? 'the activate command (0x0f)' : 'the next power cycle or an explicit activation'),
    };
  }
  if (!activate) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `${from}, and none downloads without activating: add --activate (activate: true) ` +
        `to let the device switch to the new firmware when the download ends`,
      { details: { reason: 'mode-unsupported', supported: reported } },
    );
  }
  if (has(0x07) && segmentsAllowed)
    return { mode: 0x07, reason: `${from}: 0x07 sends segments and activates after the last one` };
  if (has(0x05))
    return { mode: 0x05, reason: `${from}: 0x05 is the only download mode left (the whole image in one command)` };
  throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `${from}, none of which this library can drive (05h, 07h, 0Dh, 0Eh)`, {
    details: { reason: 'mode-unsupported', supported: reported },
  });
}

export interface ChunkRules {
  /** Segment offsets are multiples of this (bytes; ≥ 1). */
  alignment: number;
  minChunk: number;
  maxChunk: number;
  /** Highest offset + length the device takes (buffer capacity, or a field's limit). */
  limit: number;
  /** What the limit is, for the message. */
  limitName: string;
}

/** Splits `imageBytes` at `base` into aligned chunks; refuses what cannot be sent. */
export function chunkImage(
  imageBytes: number,
  base: number,
  chunkSize: number | undefined,
  rules: ChunkRules,
): { chunkSize: number; chunks: FirmwareChunk[] } {
  if (imageBytes === 0) throw badInput('the firmware image is empty: check the file', { reason: 'empty-image' });
  if (base % rules.alignment !== 0) {
    throw badInput(
      `buffer offset ${base} is not a multiple of the device's offset boundary (${rules.alignment} ` +
        `bytes): pick an offset that is`,
      { reason: 'misaligned-offset', offset: base, boundary: rules.alignment },
    );
  }
  if (base + imageBytes > rules.limit) {
    throw badInput(
      `the image (${imageBytes} bytes at offset ${base}) is larger than the device's ${rules.limitName} ` +
        `(${rules.limit} bytes): check that it is the right image for this device`,
      {
        reason: 'image-too-large',
        imageBytes,
        limit: rules.limit,
      },
    );
  }
  let size = chunkSize ?? Math.max(rules.minChunk, Math.min(DEFAULT_CHUNK_BYTES, rules.maxChunk));
  if (chunkSize === undefined) size -= size % rules.alignment;
  if (!Number.isSafeInteger(size) || size < rules.minChunk || size > rules.maxChunk || size % rules.alignment !== 0) {
    throw badInput(
      `chunk size ${chunkSize ?? size} does not fit the device: it must be a multiple of ` +
        `${rules.alignment} bytes from ${rules.minChunk} to ${rules.maxChunk}`,
      {
        reason: 'bad-chunk-size',
        chunkSize: chunkSize ?? size,
        alignment: rules.alignment,
        minChunk: rules.minChunk,
        maxChunk: rules.maxChunk,
      },
    );
  }
  const chunks: FirmwareChunk[] = [];
  for (let at = 0; at < imageBytes; at += size)
    chunks.push({ index: chunks.length, offset: base + at, imageOffset: at, length: Math.min(size, imageBytes - at) });
  return { chunkSize: size, chunks };
}

export function activationOf(mode: DownloadMode, activate: boolean): FirmwarePlan['activation'] {
  if (mode === 0x05 || mode === 0x07) return 'with-last-chunk';
  return activate ? 'activate-command' : 'deferred';
}

/**
 * Checks what can be checked without the device (front ends call it before opening one, so a
 * bad request exits having sent nothing): mode, the activation rule of 05h/07h, numbers, consent.
 */
export function checkFirmwareOptions(imageBytes: number, options: DownloadFirmwareOptions): void {
  if (!Number.isSafeInteger(imageBytes) || imageBytes <= 0)
    throw badInput('the firmware image is empty: check the file', { reason: 'empty-image' });
  if (!options?.dryRun && options?.allowMediumWrite !== true) {
    throw badInput(
      'downloading firmware changes the device: pass explicit consent (--yes on the command ' +
        'line, allowMediumWrite: true in the API); nothing was sent',
      { reason: 'no-consent' },
    );
  }
  const mode = parseFirmwareMode(options.mode);
  if (mode !== 'auto' && (mode === 0x05 || mode === 0x07) && options.activate !== true) {
    throw badInput(
      `mode ${hex0x(mode)} activates the new firmware as soon as it is downloaded: say ` +
        `so with --activate (activate: true), or use mode 0xe to download now and activate later`,
      {
        reason: 'activation-not-allowed',
      },
    );
  }
  checkBufferId(options.bufferId);
  if (options.target !== undefined && !['auto', 'scsi', 'ata'].includes(options.target))
    throw badInput(`firmware target ${String(options.target)} is not one of auto, scsi, ata`, { reason: 'bad-target' });
  for (const [name, value, min] of [
    ['chunkSize', options.chunkSize, 1],
    ['offset', options.offset, 0],
    ['timeoutMs', options.timeoutMs, 1],
    ['activationTimeoutMs', options.activationTimeoutMs, 1],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min))
      throw badInput(`${name} must be a whole number of at least ${min}; got ${value}`, { reason: `bad-${name}` });
  }
}

export function checkBufferId(bufferId: number | undefined): number {
  const id = bufferId ?? 0;
  if (!Number.isInteger(id) || id < 0 || id > 0xff)
    throw badInput(`buffer id ${bufferId} is not a byte (0-255)`, { reason: 'bad-buffer-id' });
  return id;
}
