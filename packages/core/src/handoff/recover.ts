/**
 * Recovery: give back every device whose lease holder died (SIGKILL, power
 * cut, crash) or whose release failed. What `usbscsi recover` and the
 * daemon's start-up call.
 */
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import type { LeaseJournal, LeaseJournalEntry } from './journal.js';
import { describeLeaseDevice, sameLeaseDevice } from './lease.js';
import type { HandoffPlatform, LeaseDevice, MountedFilesystem } from './platform.js';
import { isProcessAlive } from './process-identity.js';
import { DEFAULT_LEASE_TIMEOUTS, giveBack, type LeaseTimeouts } from './steps.js';

export interface RecoveredLease {
  entry: LeaseJournalEntry;
  /** The driver is bound again (or none had been taken). */
  reattached: boolean;
  remounted: MountedFilesystem[];
  /** Unmounted by the dead holder and not mounted again (its lease did not ask for a re-mount). */
  notRemounted: MountedFilesystem[];
}

export interface RecoveryReport {
  recovered: RecoveredLease[];
  /** Holder alive: left alone (`E_BUSY` semantics). */
  held: LeaseJournalEntry[];
  /**
   * The device is no longer at that port (unplugged or replaced): entry dropped; the OS takes it when plugged in again.
   */
  gone: LeaseJournalEntry[];
  /** Could not be given back; the entry stays for the next attempt. */
  failed: { entry: LeaseJournalEntry; error: UsbScsiError }[];
  /** Entries written by another platform (a journal shared between OSes): not touched. */
  skipped: LeaseJournalEntry[];
}

export interface RecoverOptions {
  timeouts?: Partial<LeaseTimeouts>;
  signal?: AbortSignal;
  /** Only this device. */
  device?: LeaseDevice;
}

/**
 * For each journal entry of this platform: holder alive and lease fine →
 * `held`; otherwise re-attach the driver, wait for the disks, re-mount what
 * the holder unmounted (when its lease asked for a re-mount, or it died while
 * still acquiring, since then nothing was handed over yet), and drop the entry.
 */
export async function recoverLeases(
  platform: HandoffPlatform,
  journal: LeaseJournal,
  options: RecoverOptions = {},
): Promise<RecoveryReport> {
  const timeouts = { ...DEFAULT_LEASE_TIMEOUTS, ...options.timeouts };
  const report: RecoveryReport = { recovered: [], held: [], gone: [], failed: [], skipped: [] };
  for (const entry of await journal.list()) {
    if (options.device && !sameLeaseDevice(entry.device, options.device)) continue;
    if (entry.platform !== platform.name) {
      report.skipped.push(entry);
      continue;
    }
    const alive = await isProcessAlive((pid) => platform.processIdentity(pid), entry.holder);
    if (alive && entry.status !== 'release-failed') {
      report.held.push(entry);
      continue;
    }
    const result = await giveBack(
      platform,
      {
        device: entry.device,
        detached: entry.detached,
        expected: entry.expected,
        wholeDisks: entry.wholeDisks,
        unmounted: entry.unmounted,
        remount: entry.remount || entry.status === 'acquiring',
      },
      timeouts,
      options.signal ? { signal: options.signal } : {},
    );
    const gone = result.errors.find((error) => isUsbScsiError(error, ErrorCodes.DEVICE_GONE));
    if (gone) {
      await journal.remove(entry.id);
      report.gone.push(entry);
    } else if (result.errors.length) {
      const first = result.errors[0]!;
      report.failed.push({
        entry,
        error: new UsbScsiError(
          first.code,
          `Could not give back ${describeLeaseDevice(entry.device)} (lease of process ` +
            `${entry.holder.pid}): ${result.errors.map((e) => e.message).join('; ')}`,
          {
            cause: first,
            details: { errors: result.errors.map((e) => e.toJSON()) },
          },
        ),
      });
    } else {
      await journal.remove(entry.id);
      report.recovered.push({
        entry,
        reattached: result.reattached,
        remounted: result.remounted,
        notRemounted: result.notRemounted,
      });
    }
  }
  return report;
}
