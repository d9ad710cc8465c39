import { badInput } from '../errors.js';

/**
 * Per-device deviations from the BOT spec, keyed by VID:PID, in one table
 * (cf. Linux drivers/usb/storage/unusual_devs.h, where the entries below come
 * from; Linux also keys on bcdDevice ranges, we key on VID:PID only).
 */
export interface BotQuirks {
  /** The device's dCSWDataResidue is unreliable: compute it from what moved. */
  ignoreResidue: boolean;
  /** Accept a CSW whose signature is not 'USBS' (some devices send 'USBU' or garbage). */
  tolerateBadCswSignature: boolean;
  /** Do not send GET MAX LUN (it confuses the device); assume LUN 0 only. */
  singleLun: boolean;
  /** Largest data phase in one command, bytes. Reads and writes are split to fit. */
  maxTransferBytes: number;
  /** Send START STOP UNIT (start) before the first media access. */
  needsStartUnit: boolean;
}

export const DEFAULT_MAX_TRANSFER_BYTES = 1024 * 1024;

export const DEFAULT_QUIRKS: Readonly<BotQuirks> = Object.freeze({
  ignoreResidue: false,
  tolerateBadCswSignature: false,
  singleLun: false,
  maxTransferBytes: DEFAULT_MAX_TRANSFER_BYTES,
  needsStartUnit: false,
});

interface QuirkEntry {
  vendorId: number;
  productId: number;
  name: string;
  quirks: Partial<BotQuirks>;
}

const MAX_SECTORS_64 = 64 * 512;

/** Entries transcribed from Linux unusual_devs.h (flags: IGNORE_RESIDUE, SINGLE_LUN, MAX_SECTORS_64). */
export const QUIRK_TABLE: readonly QuirkEntry[] = [
  { vendorId: 0x052b, productId: 0x1911, name: 'Tekom 400_CAMERA', quirks: { ignoreResidue: true } },
  { vendorId: 0x054c, productId: 0x0025, name: 'Sony Memorystick NW-MS7', quirks: { singleLun: true } },
  { vendorId: 0x054c, productId: 0x002d, name: 'Sony Memorystick MSAC-US1', quirks: { singleLun: true } },
  { vendorId: 0x055d, productId: 0x2020, name: 'SAMSUNG SFD-321U', quirks: { singleLun: true } },
  { vendorId: 0x058f, productId: 0x6387, name: 'JetFlash TS1GJF2A/120', quirks: { maxTransferBytes: MAX_SECTORS_64 } },
  {
    vendorId: 0x059b,
    productId: 0x0001,
    name: 'Iomega ZIP 100 (GET MAX LUN needs clear-halt)',
    quirks: { singleLun: true },
  },
  {
    vendorId: 0x05e3,
    productId: 0x0701,
    name: 'Genesys Logic USB to IDE Optical',
    quirks: { maxTransferBytes: MAX_SECTORS_64 },
  },
  {
    vendorId: 0x05e3,
    productId: 0x0702,
    name: 'Genesys Logic USB to IDE Disk',
    quirks: { maxTransferBytes: MAX_SECTORS_64 },
  },
  { vendorId: 0x071b, productId: 0x3203, name: 'RockChip MP3', quirks: { maxTransferBytes: MAX_SECTORS_64 } },
  { vendorId: 0x0727, productId: 0x0306, name: 'ATMEL SND1 Storage', quirks: { ignoreResidue: true } },
  { vendorId: 0x07c4, productId: 0xa4a5, name: 'Simple Tech/Datafab CF+SM Reader', quirks: { ignoreResidue: true } },
];

export function quirksFor(vendorId: number, productId: number, overrides: Partial<BotQuirks> = {}): BotQuirks {
  const entry = QUIRK_TABLE.find((e) => e.vendorId === vendorId && e.productId === productId);
  const quirks: BotQuirks = { ...DEFAULT_QUIRKS, ...(entry?.quirks ?? {}), ...overrides };
  if (!Number.isInteger(quirks.maxTransferBytes) || quirks.maxTransferBytes < 512) {
    throw badInput(`maxTransferBytes must be an integer of at least 512, got ${quirks.maxTransferBytes}`);
  }
  return quirks;
}

/**
 * Parses a quirk override list as users type it: `ignore-residue,single-lun,max-transfer=65536`.
 */
export function parseQuirkList(text: string): Partial<BotQuirks> {
  const out: Partial<BotQuirks> = {};
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, value] = raw.split('=', 2) as [string, string | undefined];
    switch (key) {
      case 'ignore-residue':
        out.ignoreResidue = true;
        break;
      case 'bad-csw-signature':
        out.tolerateBadCswSignature = true;
        break;
      case 'single-lun':
        out.singleLun = true;
        break;
      case 'needs-start-unit':
        out.needsStartUnit = true;
        break;
      case 'max-transfer': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 512)
          throw badInput(
            `max-transfer needs a byte count of at least 512, e.g. max-transfer=65536; got '${value ?? ''}'`,
          );
        out.maxTransferBytes = n;
        break;
      }
      default:
        throw badInput(
          `unknown quirk '${key}'; known: ignore-residue, bad-csw-signature, single-lun, needs-start-unit, ` +
            `max-transfer=BYTES`,
        );
    }
  }
  return out;
}
