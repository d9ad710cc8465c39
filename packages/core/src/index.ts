export * from './errors.js';
export * from './usb/backend.js';
export { parseLocation, sameLocation, sysfsDeviceName, type UsbPlace } from './usb/location.js';
export * from './transport.js';
export * from './scsi/index.js';
export * from './bot/index.js';
export * from './uas/index.js';
export * from './device.js';
export * from './firmware/index.js';
export * from './select.js';
export * from './open.js';
export * from './topology/index.js';
export * from './handoff/index.js';
export * from './trace/index.js';
export * from './client/index.js';
export {
  NativeBackend,
  NativeHandle,
  loadNativeBackend,
  nativeDeviceId,
  type NativeLoadResult,
} from './backends/native.js';
export {
  loadNativeAddon,
  type NativeAddon,
  type NativeAddonLoad,
  type NativeBinaryAttempt,
} from './backends/native-addon.js';
export { describeEngine, type EngineChoice, type EngineInfo } from './backends/engine-info.js';
export { NodeUsbBackend, NodeUsbHandle, loadNodeUsbBackend, type NodeUsbLoadResult } from './backends/node-usb.js';
export { PassThroughTransport, type SgIoBinding } from './sg/passthrough.js';
export { createDarwinPlatform, DarwinHandoffPlatform, type DarwinPlatformOptions } from './handoff/darwin.js';
export * from './bridges/index.js';
export * from './hex.js';
export * from './wire/index.js';
