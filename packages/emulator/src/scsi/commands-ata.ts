import type { SimulatedAtaDisk } from './ata-disk.js';
import { CheckCondition } from './check-condition.js';
import type { FirmwareModel } from './firmware-model.js';
import { SenseKey, type SenseSpec } from './sense.js';
import type { BuiltinCommand, DataPlan } from './types.js';

/** ATA taskfile as carried in an ATA PASS-THROUGH(12/16) CDB (SAT-4 §12.2). */
interface PassThrough {
  protocol: number;
  extend: boolean;
  ckCond: boolean;
  tDirIn: boolean;
  byteBlock: boolean;
  tLength: number;
  features: number;
  count: number;
  lbaLow: number;
  lbaMid: number;
  lbaHigh: number;
  device: number;
  command: number;
}

function decode(cdb: Uint8Array): PassThrough {
  const b = (i: number) => cdb[i] ?? 0;
  const sixteen = b(0) === 0x85;
  const common = {
    protocol: (b(1) >> 1) & 0x0f,
    extend: sixteen && (b(1) & 0x01) !== 0,
    ckCond: (b(2) & 0x20) !== 0,
    tDirIn: (b(2) & 0x08) !== 0,
    byteBlock: (b(2) & 0x04) !== 0,
    tLength: b(2) & 0x03,
  };
  if (sixteen) {
    // Without EXTEND the SATL ignores the high bytes (SAT-4 §12.2.2): COUNT is 8 bits.
    const high = (i: number) => (common.extend ? b(i) << 8 : 0);
    return {
      ...common,
      features: high(3) | b(4),
      count: high(5) | b(6),
      lbaLow: b(8),
      lbaMid: b(10),
      lbaHigh: b(12),
      device: b(13),
      command: b(14),
    };
  }
  return {
    ...common,
    features: b(3),
    count: b(4),
    lbaLow: b(5),
    lbaMid: b(6),
    lbaHigh: b(7),
    device: b(8),
    command: b(9),
  };
}

/**
 * Bytes the CDB says will move (T_LENGTH / BYTE_BLOCK; 512-byte blocks as T_TYPE 0 means).
 * T_LENGTH 11b (TPSIU): the transport carries the length, here what the host offers.
 */
function transferBytes(pt: PassThrough, hostLength = 0): number {
  if (pt.tLength === 3) return hostLength;
  const units = pt.tLength === 1 ? pt.features : pt.tLength === 2 ? pt.count : 0;
  return pt.byteBlock ? units * 512 : units;
}

const ATA_GOOD = 0x50; // DRDY | DSC
const ATA_ERR = 0x51; // ... | ERR
const ABRT = 0x04;

/** ATA Status Return sense descriptor (type 09h, SAT) with the registers after the command. */
function statusReturn(
  key: number,
  asc: number,
  ascq: number,
  regs: {
    error: number;
    count: number;
    lbaLow: number;
    lbaMid: number;
    lbaHigh: number;
    device: number;
    status: number;
  },
): SenseSpec {
  const body = Uint8Array.of(
    0,
    regs.error,
    0,
    regs.count & 0xff,
    0,
    regs.lbaLow,
    0,
    regs.lbaMid,
    0,
    regs.lbaHigh,
    regs.device,
    regs.status,
  );
  return { key, asc, ascq, descriptors: [{ type: 0x09, body }], forceDescriptor: true };
}

function aborted(pt: PassThrough): CheckCondition {
  return new CheckCondition(
    statusReturn(SenseKey.ABORTED_COMMAND, 0x00, 0x00, {
      error: ABRT,
      count: pt.count,
      lbaLow: pt.lbaLow,
      lbaMid: pt.lbaMid,
      lbaHigh: pt.lbaHigh,
      device: pt.device,
      status: ATA_ERR,
    }),
  );
}

/**
 * A SAT layer in front of {@link SimulatedAtaDisk}: IDENTIFY DEVICE, SMART
 * READ DATA / READ THRESHOLDS / RETURN STATUS / ENABLE, CHECK POWER MODE.
 * CK_COND returns the registers as RECOVERED ERROR, ASC/ASCQ 00h/1Dh (ATA PASS
 * THROUGH INFORMATION AVAILABLE) with an ATA Status Return descriptor.
 */
export function ataCommands(
  disk: () => SimulatedAtaDisk,
  firmware: () => FirmwareModel | null = () => null,
): Map<number, BuiltinCommand> {
  const command: BuiltinCommand = {
    name: 'ATA PASS-THROUGH',
    plan: (cdb, _unit, hostLength): DataPlan => {
      const pt = decode(cdb);
      if (pt.tLength === 0) return { direction: 'none' };
      return pt.tDirIn ? { direction: 'in' } : { direction: 'out', length: transferBytes(pt, hostLength) };
    },
    run: ({ cdb, dataOut }) => {
      const pt = decode(cdb);
      const ata = disk();
      let data: Uint8Array | undefined;
      const regs = {
        error: 0,
        count: pt.count,
        lbaLow: pt.lbaLow,
        lbaMid: pt.lbaMid,
        lbaHigh: pt.lbaHigh,
        device: pt.device,
        status: ATA_GOOD,
      };
      const needsIn = () => {
        if (pt.tLength === 0 || !pt.tDirIn || transferBytes(pt) < 512)
          throw new CheckCondition({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0x00 });
      };
      switch (pt.command) {
        case 0xec: // IDENTIFY DEVICE
          needsIn();
          data = ata.identify();
          break;
        case 0xe5: // CHECK POWER MODE: count FFh = active or idle
          regs.count = 0xff;
          break;
        case 0xb0: {
          // SMART: the key in LBA mid/high must be 4Fh/C2h
          if (pt.lbaMid !== 0x4f || pt.lbaHigh !== 0xc2) throw aborted(pt);
          switch (pt.features & 0xff) {
            case 0xd0:
              needsIn();
              data = ata.smartData();
              break;
            case 0xd1:
              needsIn();
              data = ata.smartThresholds();
              break;
            case 0xda: // RETURN STATUS
              if (ata.smartFailing) {
                regs.lbaMid = 0xf4;
                regs.lbaHigh = 0x2c;
              }
              break;
            case 0xd8: // ENABLE OPERATIONS
            case 0xd9: // DISABLE OPERATIONS
              break;
            default:
              throw aborted(pt);
          }
          break;
        }
        case 0x92: // DOWNLOAD MICROCODE (PIO data-out)
        case 0x93: {
          // DOWNLOAD MICROCODE DMA. ACS-4 §7.7: subcommand in FEATURE, block count in COUNT (low)
          // and LBA 7:0 (high), buffer offset in 512-byte blocks in LBA 23:8. The model refuses a
          // count that differs from the bytes the SATL moved (T_LENGTH), as a drive would abort.
          const model = firmware();
          if (!model) throw aborted(pt);
          const subcommand = pt.features & 0xff;
          const blocks = (pt.count & 0xff) | (pt.lbaLow << 8);
          const blockOffset = pt.lbaMid | (pt.lbaHigh << 8);
          const expectDma = pt.command === 0x93;
          if (subcommand !== 0x0f && ((expectDma ? pt.protocol !== 6 : pt.protocol !== 5) || pt.tDirIn))
            throw aborted(pt);
          try {
            regs.count = model.ataDownload(subcommand, blocks, blockOffset, dataOut);
          } catch (err) {
            if (err instanceof CheckCondition) throw aborted(pt);
            throw err;
          }
          break;
        }
        default:
          throw aborted(pt);
      }
      if (pt.ckCond) {
        throw new CheckCondition(statusReturn(SenseKey.RECOVERED_ERROR, 0x00, 0x1d, regs), data);
      }
      return data;
    },
  };
  return new Map([
    [0xa1, command],
    [0x85, command],
  ]);
}
