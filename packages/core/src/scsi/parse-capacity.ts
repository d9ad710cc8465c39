/** READ CAPACITY(10) and (16) parameter data, SBC-4 §5.20.2 and §5.21.2. */
import { be32, beBig, requireLength, u8 } from './bytes.js';

export interface Capacity {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. */
  lastLba: bigint;
  blockSize: number;
  /** lastLba + 1. */
  blocks: bigint;
  /** blocks × blockSize. */
  bytes: bigint;
}

export interface Capacity10 extends Capacity {
  /** The device reported FFFFFFFFh: the capacity does not fit; issue READ CAPACITY(16). */
  needsReadCapacity16: boolean;
}

export interface Capacity16 extends Capacity {
  protectionEnabled: boolean;
  /** P_TYPE: protection type − 1 when enabled. */
  protectionType?: number;
  protectionIntervalExponent: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT. */
  logicalPerPhysicalExponent: number;
  physicalBlockSize: number;
  lowestAlignedLba: number;
  /** Logical block provisioning management enabled (thin provisioning). */
  lbpme: boolean;
  /** Unmapped blocks read as zeros. */
  lbprz: boolean;
}

function capacity(lastLba: bigint, blockSize: number): Capacity {
  const blocks = lastLba + 1n;
  return { lastLba, blockSize, blocks, bytes: blocks * BigInt(blockSize) };
}

export function parseReadCapacity10(data: Uint8Array): Capacity10 {
  requireLength('READ CAPACITY(10)', data, 8);
  const last = be32(data, 0);
  return { ...capacity(BigInt(last), be32(data, 4)), needsReadCapacity16: last === 0xffffffff };
}

/** Needs the first 12 bytes (LBA and block length); later fields read as 0 when absent. */
export function parseReadCapacity16(data: Uint8Array): Capacity16 {
  requireLength('READ CAPACITY(16)', data, 12);
  const base = capacity(beBig(data, 0, 8), be32(data, 8));
  const protectionEnabled = (u8(data, 12) & 0x01) !== 0;
  const exponent = u8(data, 13) & 0x0f;
  return {
    ...base,
    protectionEnabled,
    ...(protectionEnabled ? { protectionType: (u8(data, 12) >> 1) & 7 } : {}),
    protectionIntervalExponent: u8(data, 13) >> 4,
    logicalPerPhysicalExponent: exponent,
    physicalBlockSize: base.blockSize * 2 ** exponent,
    lowestAlignedLba: ((u8(data, 14) & 0x3f) << 8) | u8(data, 15),
    lbpme: (u8(data, 14) & 0x80) !== 0,
    lbprz: (u8(data, 14) & 0x40) !== 0,
  };
}
