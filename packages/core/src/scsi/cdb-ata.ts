/**
 * ATA PASS-THROUGH(12) (A1h) and (16) (85h) per SAT-4 (T10/BSR INCITS 491)
 * §12.2, plus ready-made CDBs for IDENTIFY DEVICE and SMART.
 */
import { badInput } from '../errors.js';
import { checkUint, checkUint64 } from './bytes.js';
import { Opcode } from './opcodes.js';

/** PROTOCOL field values (SAT-4 table 174). */
export const AtaProtocol = {
  HARD_RESET: 0,
  SRST: 1,
  NON_DATA: 3,
  PIO_DATA_IN: 4,
  PIO_DATA_OUT: 5,
  DMA: 6,
  DMA_QUEUED: 7,
  DEVICE_DIAGNOSTIC: 8,
  DEVICE_RESET: 9,
  UDMA_DATA_IN: 10,
  UDMA_DATA_OUT: 11,
  FPDMA: 12,
  RETURN_RESPONSE_INFORMATION: 15,
} as const;

/** T_LENGTH: where the transfer length is (SAT-4 table 176). */
export const AtaTLength = { NONE: 0, FEATURES: 1, COUNT: 2, TPSIU: 3 } as const;

/** ATA command codes used here (ACS-4). */
export const AtaCommand = {
  IDENTIFY_DEVICE: 0xec,
  IDENTIFY_PACKET_DEVICE: 0xa1,
  SMART: 0xb0,
  READ_LOG_EXT: 0x2f,
  CHECK_POWER_MODE: 0xe5,
} as const;

/** SMART feature (subcommand) codes, FEATURES register with LBA 0xC24F00. */
export const SmartFeature = {
  READ_DATA: 0xd0,
  READ_THRESHOLDS: 0xd1,
  ENABLE_AUTOSAVE: 0xd2,
  EXECUTE_OFFLINE_IMMEDIATE: 0xd4,
  READ_LOG: 0xd5,
  WRITE_LOG: 0xd6,
  ENABLE_OPERATIONS: 0xd8,
  DISABLE_OPERATIONS: 0xd9,
  RETURN_STATUS: 0xda,
} as const;

/** SMART commands carry the signature 4Fh in LBA mid and C2h in LBA high. */
export const SMART_LBA = 0xc24f00;

export interface AtaPassThroughOptions {
  protocol: number;
  command: number;
  features?: number;
  count?: number;
  /** 28-bit (bits 27:24 go in DEVICE for the 12-byte / non-extended forms) or 48-bit with `extend`. */
  lba?: number | bigint;
  /** DEVICE register, default 0 (set 0x40 for LBA mode where the command needs it). */
  device?: number;
  /** 48-bit command (16-byte form only). */
  extend?: boolean;
  /** CK_COND: return the ATA registers as sense even on success (needed for SMART RETURN STATUS). */
  checkCondition?: boolean;
  /** T_DIR: default from the protocol (data-in protocols → 'in'). */
  direction?: 'in' | 'out';
  /** BYT_BLOK: length counted in blocks (default true for data protocols) rather than bytes. */
  blocks?: boolean;
  /** T_LENGTH: default COUNT for data protocols, NONE otherwise. */
  tLength?: number;
  /** T_TYPE: block size is the logical sector size (true) or 512 (false, default). */
  tType?: boolean;
  /** OFF_LINE 0..3 (wait 2^n − 2 s before reading status). */
  offLine?: number;
  /** MULTIPLE_COUNT 0..7 (READ/WRITE MULTIPLE). */
  multipleCount?: number;
}

const DATA_IN = new Set<number>([AtaProtocol.PIO_DATA_IN, AtaProtocol.UDMA_DATA_IN]);
const DATA_OUT = new Set<number>([AtaProtocol.PIO_DATA_OUT, AtaProtocol.UDMA_DATA_OUT]);
const DATA_EITHER = new Set<number>([AtaProtocol.DMA, AtaProtocol.DMA_QUEUED, AtaProtocol.FPDMA]);

function flags(cmd: string, o: AtaPassThroughOptions): { byte1: number; byte2: number } {
  const protocol = checkUint(cmd, 'protocol', o.protocol, 15);
  const isData = DATA_IN.has(protocol) || DATA_OUT.has(protocol) || DATA_EITHER.has(protocol);
  if (DATA_EITHER.has(protocol) && isData && o.direction === undefined) {
    throw badInput(`${cmd}: protocol ${protocol} (DMA) moves data either way; pass direction 'in' or 'out'`);
  }
  const dirIn = o.direction ? o.direction === 'in' : DATA_IN.has(protocol);
  if ((o.direction === 'in' && DATA_OUT.has(protocol)) || (o.direction === 'out' && DATA_IN.has(protocol))) {
    throw badInput(`${cmd}: direction '${o.direction}' contradicts protocol ${protocol}`);
  }
  const tLength = checkUint(cmd, 'tLength', o.tLength ?? (isData ? AtaTLength.COUNT : AtaTLength.NONE), 3);
  const blocks = o.blocks ?? isData;
  const byte1 = (checkUint(cmd, 'multipleCount', o.multipleCount ?? 0, 7) << 5) | (protocol << 1);
  const byte2 =
    (checkUint(cmd, 'offLine', o.offLine ?? 0, 3) << 6) |
    (o.checkCondition ? 0x20 : 0) |
    (o.tType ? 0x10 : 0) |
    (dirIn ? 0x08 : 0) |
    (blocks ? 0x04 : 0) |
    tLength;
  return { byte1, byte2 };
}

/** ATA PASS-THROUGH(12) (A1h), SAT-4 §12.2.2: 28-bit commands only. */
export function ataPassThrough12Cdb(options: AtaPassThroughOptions): Uint8Array {
  const cmd = 'ATA PASS-THROUGH(12)';
  if (options.extend) throw badInput(`${cmd}: 48-bit (extend) commands need ataPassThrough16Cdb`);
  const { byte1, byte2 } = flags(cmd, options);
  const lba = Number(checkUint64(cmd, 'lba', options.lba ?? 0, 28));
  const device = checkUint(cmd, 'device', options.device ?? 0, 0xff) | (lba >>> 24);
  return Uint8Array.of(
    Opcode.ATA_PASS_THROUGH_12,
    byte1,
    byte2,
    checkUint(cmd, 'features', options.features ?? 0, 0xff),
    checkUint(cmd, 'count', options.count ?? 0, 0xff),
    lba & 0xff,
    (lba >>> 8) & 0xff,
    (lba >>> 16) & 0xff,
    device,
    checkUint(cmd, 'command', options.command, 0xff),
    0,
    0,
  );
}

/** ATA PASS-THROUGH(16) (85h), SAT-4 §12.2.3. */
export function ataPassThrough16Cdb(options: AtaPassThroughOptions): Uint8Array {
  const cmd = 'ATA PASS-THROUGH(16)';
  const ext = options.extend === true;
  const { byte1, byte2 } = flags(cmd, options);
  const max = ext ? 0xffff : 0xff;
  const features = checkUint(cmd, 'features', options.features ?? 0, max);
  const count = checkUint(cmd, 'count', options.count ?? 0, max);
  const lba = checkUint64(cmd, 'lba', options.lba ?? 0, ext ? 48 : 28);
  const b = (shift: bigint) => Number((lba >> shift) & 0xffn);
  const cdb = new Uint8Array(16);
  cdb[0] = Opcode.ATA_PASS_THROUGH_16;
  cdb[1] = byte1 | (ext ? 1 : 0);
  cdb[2] = byte2;
  cdb[3] = features >>> 8;
  cdb[4] = features & 0xff;
  cdb[5] = count >>> 8;
  cdb[6] = count & 0xff;
  // SAT-4 table 173: LBA bytes interleave "previous" (high) and current (low) register values.
  cdb[7] = ext ? b(24n) : 0;
  cdb[8] = b(0n);
  cdb[9] = ext ? b(32n) : 0;
  cdb[10] = b(8n);
  cdb[11] = ext ? b(40n) : 0;
  cdb[12] = b(16n);
  cdb[13] = checkUint(cmd, 'device', options.device ?? 0, 0xff) | (ext ? 0 : b(24n) & 0x0f);
  cdb[14] = checkUint(cmd, 'command', options.command, 0xff);
  return cdb;
}

function pt(size: 12 | 16, o: AtaPassThroughOptions): Uint8Array {
  if (size !== 12 && size !== 16) throw badInput(`ATA PASS-THROUGH: size must be 12 or 16; got ${String(size)}`);
  return size === 12 ? ataPassThrough12Cdb(o) : ataPassThrough16Cdb(o);
}

/** IDENTIFY DEVICE (ECh): PIO data-in, one 512-byte block. */
export function ataIdentifyDeviceCdb(size: 12 | 16 = 16): Uint8Array {
  return pt(size, { protocol: AtaProtocol.PIO_DATA_IN, command: AtaCommand.IDENTIFY_DEVICE, count: 1 });
}

function smartDataIn(size: 12 | 16, feature: number): Uint8Array {
  return pt(size, {
    protocol: AtaProtocol.PIO_DATA_IN,
    command: AtaCommand.SMART,
    features: feature,
    count: 1,
    lba: SMART_LBA,
  });
}

/** SMART READ DATA (B0h/D0h): 512 bytes of attribute values. */
export function ataSmartReadDataCdb(size: 12 | 16 = 16): Uint8Array {
  return smartDataIn(size, SmartFeature.READ_DATA);
}

/** SMART READ THRESHOLDS (B0h/D1h, obsolete in ACS but widely implemented). */
export function ataSmartReadThresholdsCdb(size: 12 | 16 = 16): Uint8Array {
  return smartDataIn(size, SmartFeature.READ_THRESHOLDS);
}

/** SMART RETURN STATUS (B0h/DAh): non-data with CK_COND, so the LBA registers come back in sense. */
export function ataSmartReturnStatusCdb(size: 12 | 16 = 16): Uint8Array {
  return pt(size, {
    protocol: AtaProtocol.NON_DATA,
    command: AtaCommand.SMART,
    features: SmartFeature.RETURN_STATUS,
    lba: SMART_LBA,
    checkCondition: true,
  });
}
