/**
 * `@usbscsi/core/testing`: test support, never loaded by the runtime entry (`@usbscsi/core`).
 * The backend contract suite (needs vitest), and fakes of the OS: a handoff platform whose OS is
 * a JSON file, a Linux sysfs tree in a directory, and the native addon's macOS functions.
 */
export { describeBackendContract, type BackendContractOptions, type ContractCase } from './contract.js';
export { FakeHandoffPlatform, createFakeHandoffPlatform, defaultFakeOsState, type FakeFault, type FakeOsState, type FakePlatformOptions, type FakeStep } from './fake-platform.js';
export { FakeSysfs, type FakeUsbDisk, type FakeUsbInterface } from './fake-sysfs.js';
export { FakeMac, nativeFailure, type FakeMacDevice, type FakeVolume } from './fake-darwin-native.js';
