/**
 * JMicron JMS583 in front of the simulated controller: the three A1h CDBs of smartmontools'
 * `sntjmicron` (command block out, data phase, 512-byte response in). The hazard: a log-page
 * reply above 0x230 bytes resets the USB port (smartmontools #256), modelled as a disconnect.
 */
import { CheckCondition } from '../scsi/check-condition.js';
import { Sense } from '../scsi/sense.js';
import type { ScsiTarget } from '../scsi/target.js';
import type { DataPlan } from '../scsi/types.js';
import type { NvmeAdminRequest, NvmeAdminResult, SimulatedNvmeController } from './controller.js';
import {
  dataIn,
  logPageBytes,
  type AttachedBridge,
  type BridgeModelHooks,
  type NvmeBridgeModelOptions,
} from './model.js';

const SIGNATURE = [0x4e, 0x56, 0x4d, 0x45]; // "NVME"
const HAZARD_LOG_BYTES = 0x230;

function plan(cdb: Uint8Array): DataPlan {
  const protocol = (cdb[1] ?? 0) & 0x7f;
  const length = ((cdb[3] ?? 0) << 16) | ((cdb[4] ?? 0) << 8) | (cdb[5] ?? 0);
  if (protocol === 0x0 || protocol === 0x3) return { direction: 'out', length };
  if (protocol === 0x2 || protocol === 0xf) return { direction: 'in' };
  return { direction: 'none' };
}

export function attachJmicron(
  target: ScsiTarget,
  controller: SimulatedNvmeController,
  options: NvmeBridgeModelOptions,
  hooks: BridgeModelHooks,
): AttachedBridge {
  const hazards: string[] = [];
  let pending: NvmeAdminRequest | null = null;
  let last: NvmeAdminResult | null = null;
  target.onCommand(
    0xa1,
    (ctx) => {
      const protocol = (ctx.cdb[1] ?? 0) & 0x7f;
      if (((ctx.cdb[1] ?? 0) & 0x80) === 0 || ![0x0, 0x1, 0x2, 0x3, 0xf].includes(protocol))
        throw new CheckCondition(Sense.invalidFieldInCdb());
      if (protocol === 0x0) {
        const block = ctx.dataOut;
        if (block.length < 512 || !SIGNATURE.every((b, i) => block[i] === b))
          throw new CheckCondition(Sense.invalidFieldInParameterList());
        const v = new DataView(block.buffer, block.byteOffset, 512);
        pending = {
          opcode: v.getUint32(8, true) & 0xff,
          nsid: v.getUint32(12, true),
          cdw10: v.getUint32(48, true),
          cdw11: v.getUint32(52, true),
          cdw12: v.getUint32(56, true),
          cdw13: v.getUint32(60, true),
          cdw14: v.getUint32(64, true),
          cdw15: v.getUint32(68, true),
          dataInLength: 0,
        };
        last = null;
        return undefined;
      }
      if (protocol === 0xf) {
        const reply = new Uint8Array(512);
        reply.set(SIGNATURE, 0);
        if (last) {
          const v = new DataView(reply.buffer);
          v.setUint32(8, last.dw0 >>> 0, true);
          v.setUint32(20, ((last.status << 17) | 0x10000) >>> 0, true);
        }
        return reply;
      }
      const req = pending;
      pending = null;
      if (!req) throw new CheckCondition(Sense.invalidFieldInCdb());
      if (protocol === 0x2) {
        const length = ctx.hostLength;
        if (
          options.resetOnLongLog !== false &&
          req.opcode === 0x02 &&
          Math.max(length, logPageBytes(req)) > HAZARD_LOG_BYTES
        ) {
          hazards.push(
            `jms583 port reset: log page 0x${(req.cdw10 & 0xff).toString(16)} reply ` +
              `of ${Math.max(length, logPageBytes(req))} bytes`,
          );
          hooks.disconnect('JMS583 log reply above 0x230 bytes');
          return new Promise<never>(() => undefined); // the bridge never answers: it left the bus
        }
        last = controller.admin({ ...req, dataInLength: length });
        return dataIn(last, length);
      }
      last = controller.admin({ ...req, ...(protocol === 0x3 ? { dataOut: ctx.dataOut } : {}) });
      return undefined;
    },
    { plan },
  );
  return { chip: 'jmicron', controller, hazards };
}
