export { BotDevice, type BotDeviceOptions } from './bot/bot-device.js';
export type { BotDeviceStats, BulkInOutcome, BulkOutOutcome, CommandRecord, ControlOutcome } from './bot/types.js';
export {
  CBW_LENGTH,
  CSW_LENGTH,
  CBW_SIGNATURE,
  CSW_SIGNATURE,
  CswStatus,
  encodeCsw,
  isMeaningfulCbw,
  isValidCbw,
  parseCbw,
  type ReceivedCbw,
} from './bot/wrappers.js';
export {
  FAULT_KINDS,
  FaultInjector,
  type ActiveFault,
  type FaultContext,
  type FaultKind,
  type FaultSpec,
} from './faults.js';
export {
  DEFAULT_SMART_ATTRIBUTES,
  SimulatedAtaDisk,
  type AtaDiskOptions,
  type SmartAttribute,
} from './scsi/ata-disk.js';
export { CheckCondition } from './scsi/check-condition.js';
export {
  SIM_FIRMWARE_HEADER_BYTES,
  buildSimFirmwareImage,
  isWholeSimFirmware,
  parseSimFirmwareHeader,
  type SimFirmwareHeader,
} from './scsi/firmware-image.js';
export {
  AtaMicrocodeStatus,
  DEFAULT_FIRMWARE_MODES,
  FirmwareModel,
  microcodeChanged,
  type FirmwareModelHost,
  type FirmwareModelOptions,
} from './scsi/firmware-model.js';
export type { TargetIdentity } from './scsi/env.js';
export { LogicalUnit, type LunOptions } from './scsi/lun.js';
export { Sense, SenseKey, encodeDescriptorSense, encodeFixedSense, encodeSense, type SenseSpec } from './scsi/sense.js';
export { FileBlockStore, RamBlockStore, type BlockStore, type FileStoreOptions } from './scsi/store.js';
export {
  ScsiTarget,
  type ExecuteOverrides,
  type TargetOptions,
  type VendorCommandContext,
  type VendorCommandHandler,
  type VendorCommandOptions,
  type VendorCommandResult,
  type VendorSense,
} from './scsi/target.js';
export type {
  DataPlan,
  FirmwareDownload,
  FirmwareHook,
  HostDirection,
  TargetCommand,
  TargetResult,
} from './scsi/types.js';
export {
  BOT_IN,
  BOT_OUT,
  bulkMaxPacket,
  configurationDescriptorBytes,
  configurationFor,
  deviceDescriptorBytes,
  stringDescriptorBytes,
  type InterfaceLayout,
} from './usb/descriptors.js';
export { EmulatorBackend, type EmulatorBackendOptions } from './usb/emulator-backend.js';
export { EmulatorDeviceHandle } from './usb/emulator-handle.js';
export { UasDevice, UAS_PIPES, type UasDeviceOptions, type UasDeviceStats } from './uas/uas-device.js';
export { SimulatedDevice, type SimulatedDeviceOptions, type SimulatedStorageOptions } from './usb/simulated-device.js';
export { DEFAULT_SIM_DEVICE, createSimulatedBackend, parseSimOptions } from './sim-options.js';
export * from './ffs/index.js';
export * from './nvme/index.js';
