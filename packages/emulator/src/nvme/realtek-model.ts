/**
 * Realtek RTL9210/RTL9220 in front of the simulated controller: the basic E4h CDB (Identify
 * and Get Log Page, data-in) and, unless turned off, the full mode (E5h F7h command, E4h/E5h
 * F8h data, E4h F9h completion). Log reads above 200h return stale bytes past 200h (what
 * smartmontools warns of). With a SATA drive behind it every NVMe pass-through answers GOOD
 * with zeros (smartmontools #340) while SAT works.
 */
import { CheckCondition } from '../scsi/check-condition.js';
import { Sense } from '../scsi/sense.js';
import type { ScsiTarget } from '../scsi/target.js';
import type { NvmeAdminResult, SimulatedNvmeController } from './controller.js';
import { completionEntry, dataIn, requestFromSqe, type AttachedBridge, type NvmeBridgeModelOptions } from './model.js';

const PHASE = { COMMAND: 0xf7, DATA: 0xf8, COMPLETION: 0xf9 } as const;
const STALE_AFTER = 0x200;

const le16 = (b: Uint8Array, i: number) => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);
const fullLength = (cdb: Uint8Array) => (le16(cdb, 1) | (le16(cdb, 4) << 16)) >>> 0;

export function attachRealtek(
  target: ScsiTarget,
  controller: SimulatedNvmeController,
  options: NvmeBridgeModelOptions,
): AttachedBridge {
  const sata = options.drive === 'sata';
  const full = options.secondMode !== false;
  let sqe: Uint8Array | null = null;
  let last: NvmeAdminResult | null = null;

  target.onCommand(
    0xe4,
    (ctx) => {
      const c = ctx.cdb;
      const phase = c[3] ?? 0;
      if (full && phase === PHASE.DATA) {
        if (!sqe) throw new CheckCondition(Sense.invalidFieldInCdb());
        const length = fullLength(c);
        if (sata) return new Uint8Array(length);
        last = controller.admin(requestFromSqe(sqe, length));
        sqe = null;
        return dataIn(last, Math.min(length, ctx.hostLength));
      }
      if (full && phase === PHASE.COMPLETION) {
        const entry = sata ? new Uint8Array(16) : last ? completionEntry(last) : new Uint8Array(16);
        last = null;
        return entry;
      }
      const length = le16(c, 1);
      const opcode = phase;
      const cdw10 = c[4] ?? 0;
      if (opcode !== 0x06 && opcode !== 0x02) throw new CheckCondition(Sense.invalidOpcode());
      if (sata) return new Uint8Array(length);
      const numd = opcode === 0x02 ? Math.ceil(length / 4) - 1 : 0;
      const result = controller.admin({
        opcode,
        nsid: opcode === 0x06 && cdw10 === 0 ? 1 : 0xffffffff,
        cdw10: (cdw10 | (numd << 16)) >>> 0,
        cdw11: 0,
        cdw12: 0,
        cdw13: 0,
        cdw14: 0,
        cdw15: 0,
        dataInLength: length,
      });
      if (result.status !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
      const out = dataIn(result, length);
      if (opcode === 0x02 && length > STALE_AFTER) out.fill(0xa5, STALE_AFTER);
      return out;
    },
    { plan: () => ({ direction: 'in' }) },
  );

  if (full) {
    target.onCommand(
      0xe5,
      (ctx) => {
        const c = ctx.cdb;
        if (c[3] === PHASE.COMMAND) {
          sqe = ctx.dataOut.slice(0, 64);
          last = null;
          return undefined;
        }
        if (c[3] === PHASE.DATA) {
          if (!sqe) throw new CheckCondition(Sense.invalidFieldInCdb());
          if (!sata) last = controller.admin(requestFromSqe(sqe, 0, c[6] === 2 ? ctx.dataOut : undefined));
          sqe = null;
          return undefined;
        }
        throw new CheckCondition(Sense.invalidFieldInCdb());
      },
      {
        plan: (cdb) => {
          if (cdb[3] === PHASE.COMMAND) return { direction: 'out', length: le16(cdb, 1) };
          const length = fullLength(cdb);
          return cdb[6] === 2 && length > 0 ? { direction: 'out', length } : { direction: 'none' };
        },
      },
    );
  }
  return { chip: 'realtek', controller, hazards: [] };
}
