/** USB-NVMe bridge models (JMicron, ASMedia, Realtek) in front of a simulated NVMe controller. */
import { badInput } from '@usbscsi/core/errors';
import { ScsiTarget } from '../scsi/target.js';
import { NVME_BRIDGE_PRESETS, nvmeBridgePreset } from './presets.js';
import { attachAsmedia } from './asmedia-model.js';
import { SimulatedNvmeController } from './controller.js';
import { attachJmicron } from './jmicron-model.js';
import type { AttachedBridge, BridgeModelHooks, NvmeBridgeModelOptions } from './model.js';
import { attachRealtek } from './realtek-model.js';

export {
  SimulatedNvmeController,
  NvmeStatus,
  type NvmeAdminRequest,
  type NvmeAdminResult,
  type NvmeControllerOptions,
  type NvmeHealthCounters,
} from './controller.js';
export type { AttachedBridge, BridgeModelHooks, NvmeBridgeChip, NvmeBridgeModelOptions } from './model.js';
export { NVME_BRIDGE_PRESETS, nvmeBridgePreset, type NvmeBridgePresetName } from './presets.js';

/** Registers the bridge's CDB handlers on `target` (they override the built-in SAT A1h where they share it). */
export function attachNvmeBridge(
  target: ScsiTarget,
  options: NvmeBridgeModelOptions,
  hooks: BridgeModelHooks,
): AttachedBridge {
  const controller = new SimulatedNvmeController(options.controller);
  switch (options.chip) {
    case 'jmicron':
      if (options.drive === 'sata') return { chip: 'jmicron', controller, hazards: [] }; // A1h stays SAT
      return attachJmicron(target, controller, options, hooks);
    case 'asmedia':
      return attachAsmedia(target, controller, options, hooks);
    case 'realtek':
      return attachRealtek(target, controller, options);
  }
}

/**
 * A SCSI target with a preset bridge attached, for device programs that build their own BOT
 * device (the FunctionFS gadget): `hooks.disconnect` is how that program drops off the bus.
 */
export function bridgeTargetFromPreset(
  name: string,
  hooks: BridgeModelHooks,
): { target: ScsiTarget; bridge: AttachedBridge; vendorId: number; productId: number } {
  const preset = nvmeBridgePreset(name);
  if (!preset?.nvmeBridge)
    throw badInput(`${name} is not a bridge model; known: ${Object.keys(NVME_BRIDGE_PRESETS).join(', ')}`);
  const target = new ScsiTarget({ ...preset, luns: [{ blockSize: 512, blockCount: 32768 }] });
  return {
    target,
    bridge: attachNvmeBridge(target, preset.nvmeBridge, hooks),
    vendorId: preset.vendorId!,
    productId: preset.productId!,
  };
}
