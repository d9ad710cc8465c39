import { be16, be24, be32, be64, cut, put32, put64 } from './bytes.js';
import { CheckCondition } from './check-condition.js';
import type { LogicalUnit } from './lun.js';
import { Sense } from './sense.js';
import type { BuiltinCommand, DataPlan } from './types.js';

interface Extent {
  lba: bigint;
  blocks: number;
}

/** LBA and transfer length of READ/WRITE(6/10/16); READ(6)/WRITE(6) length 0 means 256 (SBC-3). */
function extentOf(cdb: Uint8Array): Extent {
  switch (cdb[0]) {
    case 0x08:
    case 0x0a:
      return { lba: BigInt(be24(cdb, 1) & 0x1fffff), blocks: (cdb[4] ?? 0) === 0 ? 256 : (cdb[4] ?? 0) };
    case 0x28:
    case 0x2a:
      return { lba: BigInt(be32(cdb, 2)), blocks: be16(cdb, 7) };
    default: // 0x88 / 0x8a
      return { lba: be64(cdb, 2), blocks: be32(cdb, 10) };
  }
}

function checkRange(unit: LogicalUnit, { lba, blocks }: Extent): void {
  if (lba + BigInt(blocks) > unit.blockCount || lba >= unit.blockCount)
    throw new CheckCondition(Sense.lbaOutOfRange(lba));
}

/** SBC commands: capacity, block I/O, power and removal control, cache. */
export function sbcCommands(): Map<number, BuiltinCommand> {
  const commands = new Map<number, BuiltinCommand>();

  commands.set(0x25, {
    name: 'READ CAPACITY(10)',
    media: true,
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      const pmi = ((cdb[8] ?? 0) & 0x01) !== 0;
      if (!pmi && be32(cdb, 2) !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
      const out = new Uint8Array(8);
      const last = unit.blockCount - 1n;
      put32(out, 0, last > 0xffffffffn ? 0xffffffff : Number(last)); // 0xFFFFFFFF: ask READ CAPACITY(16)
      put32(out, 4, unit.blockSize);
      return out;
    },
  });

  commands.set(0x9e, {
    name: 'SERVICE ACTION IN(16)',
    media: true,
    plan: () => ({ direction: 'in' }),
    run: ({ cdb, unit }) => {
      // only READ CAPACITY(16)
      if (((cdb[1] ?? 0) & 0x1f) !== 0x10) throw new CheckCondition(Sense.invalidFieldInCdb());
      const out = new Uint8Array(32);
      put64(out, 0, unit.blockCount - 1n);
      put32(out, 8, unit.blockSize);
      return cut(out, be32(cdb, 10));
    },
  });

  const rw = (write: boolean, name: string): BuiltinCommand => ({
    name,
    media: true,
    plan: (cdb, unit): DataPlan => {
      const { blocks } = extentOf(cdb);
      if (blocks === 0) return { direction: 'none' };
      return write ? { direction: 'out', length: blocks * unit.blockSize } : { direction: 'in' };
    },
    run: async ({ cdb, unit, dataOut }) => {
      const extent = extentOf(cdb);
      if (extent.blocks === 0) {
        if (extent.lba > unit.blockCount) throw new CheckCondition(Sense.lbaOutOfRange(extent.lba));
        return undefined;
      }
      checkRange(unit, extent);
      if (!write) return unit.store.read(extent.lba, extent.blocks);
      if (unit.readOnly) throw new CheckCondition(Sense.writeProtected());
      await unit.store.write(extent.lba, dataOut);
      if (!unit.writeCacheEnabled || ((cdb[1] ?? 0) & 0x08) !== 0) await unit.store.flush(); // FUA or WCE=0
      return undefined;
    },
  });
  commands.set(0x08, rw(false, 'READ(6)'));
  commands.set(0x28, rw(false, 'READ(10)'));
  commands.set(0x88, rw(false, 'READ(16)'));
  commands.set(0x0a, rw(true, 'WRITE(6)'));
  commands.set(0x2a, rw(true, 'WRITE(10)'));
  commands.set(0x8a, rw(true, 'WRITE(16)'));

  commands.set(0x1b, {
    name: 'START STOP UNIT',
    run: ({ cdb, unit }) => {
      const powerCondition = (cdb[4] ?? 0) >> 4;
      const loej = ((cdb[4] ?? 0) & 0x02) !== 0;
      const start = ((cdb[4] ?? 0) & 0x01) !== 0;
      if (powerCondition !== 0) return undefined; // power conditions accepted, nothing to simulate
      if (loej && unit.removable) {
        if (!start) {
          if (unit.preventRemoval) throw new CheckCondition(Sense.mediumRemovalPrevented());
          unit.mediumPresent = false;
        } else unit.mediumPresent = true;
      }
      unit.started = start;
      return undefined;
    },
  });

  commands.set(0x1e, {
    name: 'PREVENT ALLOW MEDIUM REMOVAL',
    run: ({ cdb, unit }) => {
      unit.preventRemoval = ((cdb[4] ?? 0) & 0x03) !== 0;
      return undefined;
    },
  });

  const sync = (sixteen: boolean): BuiltinCommand => ({
    name: sixteen ? 'SYNCHRONIZE CACHE(16)' : 'SYNCHRONIZE CACHE(10)',
    media: true,
    run: async ({ cdb, unit }) => {
      const lba = sixteen ? be64(cdb, 2) : BigInt(be32(cdb, 2));
      const blocks = sixteen ? be32(cdb, 10) : be16(cdb, 7);
      if (lba + BigInt(blocks) > unit.blockCount) throw new CheckCondition(Sense.lbaOutOfRange(lba));
      await unit.store.flush();
      return undefined;
    },
  });
  commands.set(0x35, sync(false));
  commands.set(0x91, sync(true));

  return commands;
}
