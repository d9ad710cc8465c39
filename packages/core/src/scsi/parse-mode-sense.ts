/** MODE SENSE(6)/(10) parameter data, SPC-5 §7.5 (headers, block descriptors, pages). */
import { be16, be24, be32, beBig, requireLength, u8 } from './bytes.js';

export interface ModePage {
  page: number;
  /** 0 for page_0 format pages (SPF clear). */
  subpage: number;
  /** PS: the page can be saved. */
  parametersSaveable: boolean;
  /** The whole page including its 2- or 4-byte header. */
  bytes: Uint8Array;
}

export interface BlockDescriptor {
  /** SBC short descriptor: NUMBER OF LOGICAL BLOCKS (bytes 0-3); long (LONGLBA): bytes 0-7. */
  blocks: bigint;
  blockLength: number;
  /** Byte 0 of a short descriptor, which SPC's general form calls DENSITY CODE (0 for disks). */
  densityCode?: number;
}

export interface ModeSense {
  modeDataLength: number;
  mediumType: number;
  deviceSpecific: number;
  /** Direct access devices: WP bit of the device-specific parameter. */
  writeProtected: boolean;
  longLba: boolean;
  blockDescriptors: BlockDescriptor[];
  pages: ModePage[];
}

function parseBody(
  data: Uint8Array,
  headerLen: number,
  total: number,
  bdLen: number,
  longLba: boolean,
  h: Omit<ModeSense, 'blockDescriptors' | 'pages' | 'longLba'>,
): ModeSense {
  const end = Math.min(data.length, total);
  const blockDescriptors: BlockDescriptor[] = [];
  const bdEnd = Math.min(end, headerLen + bdLen);
  const size = longLba ? 16 : 8;
  for (let i = headerLen; i + size <= bdEnd; i += size) {
    blockDescriptors.push(
      longLba
        ? { blocks: beBig(data, i, 8), blockLength: be32(data, i + 12) }
        : { blocks: BigInt(be32(data, i)), blockLength: be24(data, i + 5), densityCode: u8(data, i) },
    );
  }
  const pages: ModePage[] = [];
  for (let i = headerLen + bdLen; i + 2 <= end;) {
    const b0 = u8(data, i);
    const spf = (b0 & 0x40) !== 0;
    if (spf && i + 4 > end) break;
    const len = spf ? 4 + be16(data, i + 2) : 2 + u8(data, i + 1);
    pages.push({
      page: b0 & 0x3f,
      subpage: spf ? u8(data, i + 1) : 0,
      parametersSaveable: (b0 & 0x80) !== 0,
      bytes: data.subarray(i, Math.min(end, i + len)),
    });
    i += len;
  }
  return { ...h, longLba, blockDescriptors, pages };
}

export function parseModeSense6(data: Uint8Array): ModeSense {
  requireLength('MODE SENSE(6)', data, 4);
  const ds = u8(data, 2);
  const h = {
    modeDataLength: u8(data, 0),
    mediumType: u8(data, 1),
    deviceSpecific: ds,
    writeProtected: (ds & 0x80) !== 0,
  };
  return parseBody(data, 4, u8(data, 0) + 1, u8(data, 3), false, h);
}

export function parseModeSense10(data: Uint8Array): ModeSense {
  requireLength('MODE SENSE(10)', data, 8);
  const ds = u8(data, 3);
  const h = {
    modeDataLength: be16(data, 0),
    mediumType: u8(data, 2),
    deviceSpecific: ds,
    writeProtected: (ds & 0x80) !== 0,
  };
  return parseBody(data, 8, be16(data, 0) + 2, be16(data, 6), (u8(data, 4) & 0x01) !== 0, h);
}
