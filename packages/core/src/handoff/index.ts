/**
 * The handoff lease: the public surface (core's index re-exports it). What the OS made of the disk is in ../topology.
 */
export type {
  DetachedDriver,
  HandoffPlatform,
  LeaseDevice,
  PlatformRecoverySpec,
  ProcessIdentity,
  StepOptions,
  StorageExpectation,
  UnmountTarget,
} from './platform.js';
export {
  acquireLease,
  Lease,
  leaseDeviceOf,
  type LeaseDeviceSource,
  describeLeaseDevice,
  sameLeaseDevice,
  unmountTargets,
  type AcquireLeaseOptions,
  type LeaseState,
  type ReleaseReport,
} from './lease.js';
export { DEFAULT_LEASE_TIMEOUTS, type LeaseTimeouts } from './steps.js';
export {
  LeaseJournal,
  defaultJournalPath,
  type LeaseJournalEntry,
  type LeaseJournalOptions,
  type LeaseEntryStatus,
  type SetAsideJournal,
} from './journal.js';
export { recoverLeases, type RecoverOptions, type RecoveryReport, type RecoveredLease } from './recover.js';
export { LeaseRegistry, processLeaseRegistry, type LeaseRegistryOptions, type RegisteredLease } from './registry.js';
export { defaultHandoffPlatform } from './default-platform.js';
export { createLinuxPlatform, type LinuxPlatformOptions, type CommandRunner, type CommandResult } from './linux.js';
export {
  linuxProcessIdentity,
  localProcessIdentity,
  isProcessAlive,
  type ProcessIdentityLookup,
} from './process-identity.js';
