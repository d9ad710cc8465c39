/** usbscsid as a library: start the daemon in-process (tests, embedding) with any device provider. */
export { startDaemon, type DaemonOptions, type RunningDaemon } from './daemon.js';
export { createCoreProvider, type CoreProviderOptions } from './core-provider.js';
export { createSimBackend } from './sim.js';
export { withHandoff, recoverWith, type DaemonHandoff } from './handoff.js';
export { defaultSocketPath } from './socket.js';
export type { DeviceProvider, DeviceSummary, OpenedDevice, ExecuteOptions, DeviceChange } from './provider.js';
export type { DaemonEvent, DaemonLease, LeaseEndReason } from '@usbscsi/core';
