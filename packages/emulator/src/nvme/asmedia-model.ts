/**
 * ASMedia ASM2362 in front of the simulated controller: the E6h CDB (Identify and Get Log
 * Page, data-in, no completion) and, unless turned off, the EAh/EBh packet mode (64-byte
 * command out, data phase, 16-byte completion in). Its standard INQUIRY carries 60h 23h in
 * bytes 36-37 (opensea-transport `asmedia_nvme_helper.h`). The EX400U hazard: E6h drops the
 * device (its UAS mode broke, smartmontools #490).
 */
import { CheckCondition } from '../scsi/check-condition.js';
import { Sense } from '../scsi/sense.js';
import type { ScsiTarget } from '../scsi/target.js';
import type { NvmeAdminRequest, NvmeAdminResult, SimulatedNvmeController } from './controller.js';
import {
  completionEntry,
  dataIn,
  requestFromSqe,
  type AttachedBridge,
  type BridgeModelHooks,
  type NvmeBridgeModelOptions,
} from './model.js';

const be32 = (b: Uint8Array, i: number) =>
  (((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0)) >>> 0;

export function attachAsmedia(
  target: ScsiTarget,
  controller: SimulatedNvmeController,
  options: NvmeBridgeModelOptions,
  hooks: BridgeModelHooks,
): AttachedBridge {
  const hazards: string[] = [];
  const nvme = options.drive !== 'sata';

  target.onCommand(0x12, async (ctx) => {
    const base = await ctx.builtin();
    if (((ctx.cdb[1] ?? 0) & 1) !== 0 || base.status !== 0) return base;
    const alloc = ((ctx.cdb[3] ?? 0) << 8) | (ctx.cdb[4] ?? 0);
    const full = new Uint8Array(38);
    full.set(base.data.subarray(0, 36));
    full[4] = 33;
    full[36] = 0x60;
    full[37] = 0x23;
    return { data: full.subarray(0, Math.min(alloc, 38)) };
  });

  if (nvme) {
    target.onCommand(
      0xe6,
      (ctx) => {
        if (options.e6Disconnects) {
          hazards.push('ex400u: E6h dropped the device');
          hooks.disconnect('E6h on a device whose UAS mode it breaks');
          return new Promise<never>(() => undefined);
        }
        const c = ctx.cdb;
        const opcode = c[1] ?? 0;
        const cdw10 = ((c[3] ?? 0) | ((((c[6] ?? 0) << 8) | (c[7] ?? 0)) << 16)) >>> 0;
        if (opcode !== 0x06 && opcode !== 0x02) throw new CheckCondition(Sense.invalidFieldInCdb());
        const req: NvmeAdminRequest = {
          opcode,
          nsid: opcode === 0x06 && cdw10 === 0 ? 1 : 0xffffffff,
          cdw10,
          cdw11: 0,
          cdw12: be32(c, 12),
          cdw13: be32(c, 8),
          cdw14: 0,
          cdw15: 0,
          dataInLength: ctx.hostLength,
        };
        const result = controller.admin(req);
        if (result.status !== 0) throw new CheckCondition(Sense.invalidFieldInCdb());
        return dataIn(result, ctx.hostLength);
      },
      { plan: () => ({ direction: 'in' }) },
    );
  }

  if (nvme && options.secondMode !== false) {
    let sqe: Uint8Array | null = null;
    let last: NvmeAdminResult | null = null;
    const packet = (write: boolean) => (ctx: { cdb: Uint8Array; dataOut: Uint8Array; hostLength: number }) => {
      const c = ctx.cdb;
      if (c[1] !== 0x5a) throw new CheckCondition(Sense.invalidFieldInCdb());
      const operation = c[2];
      if (write && operation === 0x80) {
        sqe = ctx.dataOut.slice(0, 64);
        last = null;
        return undefined;
      }
      if (operation === 0x81) {
        if (!sqe) throw new CheckCondition(Sense.invalidFieldInCdb());
        const req = requestFromSqe(sqe, write ? 0 : ctx.hostLength, write ? ctx.dataOut : undefined);
        sqe = null;
        last = controller.admin(req);
        return write || ctx.hostLength === 0 ? undefined : dataIn(last, ctx.hostLength);
      }
      if (!write && operation === 0x82) {
        const entry = last ? completionEntry(last) : new Uint8Array(16).fill(0xff);
        last = null;
        return entry;
      }
      throw new CheckCondition(Sense.invalidFieldInCdb());
    };
    const plan = (write: boolean) => (cdb: Uint8Array) => {
      const length = be32(cdb, 10);
      if (length === 0) return { direction: 'none' as const };
      return write ? { direction: 'out' as const, length } : { direction: 'in' as const };
    };
    target.onCommand(0xea, packet(true), { plan: plan(true) });
    target.onCommand(0xeb, packet(false), { plan: plan(false) });
  }
  return { chip: 'asmedia', controller, hazards };
}
