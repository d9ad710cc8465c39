/**
 * `@usbscsi/core/testing`: test support, never loaded by the runtime entry (`@usbscsi/core`).
 * The contract suite every backend runs (the cases need no framework; `describeContract` is the
 * vitest adapter), and fakes of the OS: a handoff platform whose OS is a JSON file, a Linux sysfs
 * tree in a directory, and the native addon's macOS functions.
 */
export { describeContract, type DescribeContractOptions } from './contract.js';
export * from './contract/index.js';
export {
  FakeHandoffPlatform,
  createFakeHandoffPlatform,
  defaultFakeOsState,
  type FakeFault,
  type FakeOsState,
  type FakePlatformOptions,
  type FakeStep,
} from './fake-platform.js';
export { FakeSysfs, type FakeUsbDisk, type FakeUsbInterface } from './fake-sysfs.js';
export { FakeMac, nativeFailure, type FakeMacDevice, type FakeVolume } from './fake-darwin-native.js';
