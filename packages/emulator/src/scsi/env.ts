import type { LogicalUnit } from './lun.js';
import type { FirmwareModel } from './firmware-model.js';
import type { FirmwareHook } from './types.js';

/** INQUIRY identity of the simulated target. */
export interface TargetIdentity {
  vendor: string;
  product: string;
  revision: string;
  serial: string;
}

/** What the built-in command sets may read of the target that owns them. */
export interface TargetEnv {
  readonly identity: TargetIdentity;
  readonly units: readonly LogicalUnit[];
  firmwareHook(): FirmwareHook | undefined;
  /** The firmware model behind WRITE BUFFER's download modes, or null (then only the hook, if any, takes them). */
  firmwareModel(): FirmwareModel | null;
  /** Whether the target implements `opcode` (REPORT SUPPORTED OPERATION CODES). */
  supportsOpcode(opcode: number): boolean;
  /** Capacity of each READ/WRITE BUFFER buffer, bytes. */
  readonly bufferCapacity: number;
  /** Block limits VPD: maximum transfer length in blocks. */
  readonly maxTransferBlocks: number;
}
