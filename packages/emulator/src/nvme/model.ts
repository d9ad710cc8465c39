/**
 * What the bridge models share: the options, the controller behind them, the record of what
 * the bridge received, and the hook a hazard uses to drop the device off the bus.
 */
import { CheckCondition } from '../scsi/check-condition.js';
import { Sense } from '../scsi/sense.js';
import type {
  NvmeAdminRequest,
  NvmeAdminResult,
  NvmeControllerOptions,
  SimulatedNvmeController,
} from './controller.js';

export type NvmeBridgeChip = 'jmicron' | 'asmedia' | 'realtek';

export interface NvmeBridgeModelOptions {
  chip: NvmeBridgeChip;
  /** ASMedia packet mode (EAh/EBh) / Realtek full mode (E5h + E4h phases); default true. */
  secondMode?: boolean;
  /** The drive in the enclosure: `sata` answers SAT, and a Realtek then returns zeros for NVMe Identify. */
  drive?: 'nvme' | 'sata';
  /** JMS583: a log-page reply above 0x230 bytes resets the USB port (smartmontools #256). */
  resetOnLongLog?: boolean;
  /** Corsair EX400U: an E6h CDB drops the device (its UAS mode broke, smartmontools #490). */
  e6Disconnects?: boolean;
  controller?: NvmeControllerOptions;
}

/** How a hazard takes the device off the bus (in process: unplug; as a gadget: unbind the UDC). */
export interface BridgeModelHooks {
  disconnect(reason: string): void;
}

export interface AttachedBridge {
  readonly chip: NvmeBridgeChip;
  readonly controller: SimulatedNvmeController;
  /** Hazards that fired, e.g. `jms583 port reset: log reply of 564 bytes`. */
  readonly hazards: string[];
}

/** A 64-byte submission queue entry (little-endian dwords) as the packet modes carry it. */
export function requestFromSqe(sqe: Uint8Array, dataInLength: number, dataOut?: Uint8Array): NvmeAdminRequest {
  if (sqe.length < 64) throw new CheckCondition(Sense.invalidFieldInParameterList());
  const v = new DataView(sqe.buffer, sqe.byteOffset, 64);
  return {
    opcode: sqe[0]!,
    nsid: v.getUint32(4, true),
    cdw10: v.getUint32(40, true),
    cdw11: v.getUint32(44, true),
    cdw12: v.getUint32(48, true),
    cdw13: v.getUint32(52, true),
    cdw14: v.getUint32(56, true),
    cdw15: v.getUint32(60, true),
    dataInLength,
    ...(dataOut ? { dataOut } : {}),
  };
}

/** The 16-byte completion queue entry: DW0 and DW3 (status in bits 31:17, phase bit set). */
export function completionEntry(result: NvmeAdminResult): Uint8Array {
  const c = new Uint8Array(16);
  const v = new DataView(c.buffer);
  v.setUint32(0, result.dw0 >>> 0, true);
  v.setUint32(12, ((result.status << 17) | 0x10000) >>> 0, true);
  return c;
}

/** The data-in bytes of a result, sized to what the host asked (zero-filled past the data). */
export function dataIn(result: NvmeAdminResult, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (result.data) out.set(result.data.subarray(0, length));
  return out;
}

/** Bytes a Get Log Page asks for (NUMD, 0-based dwords). */
export function logPageBytes(req: Pick<NvmeAdminRequest, 'cdw10' | 'cdw11'>): number {
  return (((req.cdw10 >>> 16) | ((req.cdw11 & 0xffff) << 16)) + 1) * 4;
}
