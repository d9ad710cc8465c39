import {
  acquireLease,
  badInput,
  leaseDeviceOf,
  LeaseJournal,
  parseLocation,
  recoverLeases,
  type HandoffPlatform,
  type LeaseDevice,
} from '@usbscsi/core';
import type { Logger } from 'pino';
import type { DeviceProvider, DeviceSummary, OpenedDevice } from './provider.js';

export interface DaemonHandoff {
  platform: HandoffPlatform;
  journal: LeaseJournal;
  /** Unmount (and re-mount on release) instead of refusing a mounted device with E_MOUNTED. */
  unmount: boolean;
}

/** The lease device of a served device: its place parsed back from its location, interface 0. */
function leaseDeviceOfSummary(summary: DeviceSummary): LeaseDevice {
  const place = parseLocation(summary.location);
  if (!place) throw badInput(`cannot hand off ${summary.id}: its location ${summary.location} is not a bus-port path`);
  return leaseDeviceOf({ ...summary, ...place }, 0);
}

/**
 * Wraps a provider whose devices the OS would otherwise own (simulated ones
 * here; core's openDevice does the same for real ones): opening takes a
 * handoff lease (journaled, so a SIGKILLed daemon's device is given back by
 * the next start's recovery), closing gives the device back. The daemon
 * releases its leases itself on SIGTERM, so none is put in core's
 * process-wide signal registry.
 */
export function withHandoff(inner: DeviceProvider, handoff: DaemonHandoff): DeviceProvider {
  const summaries = new Map<string, DeviceSummary>();
  return {
    ...inner,
    name: inner.name,
    async list() {
      const list = await inner.list();
      for (const s of list) summaries.set(s.id, s);
      return list;
    },
    async open(id: string): Promise<OpenedDevice> {
      const summary = summaries.get(id) ?? (await inner.list()).find((s) => s.id === id);
      if (!summary) return inner.open(id); // the inner provider reports it gone
      const lease = await acquireLease(leaseDeviceOfSummary(summary), {
        platform: handoff.platform,
        journal: handoff.journal,
        registry: null,
        unmount: handoff.unmount,
        remount: handoff.unmount,
      });
      let device: OpenedDevice;
      try {
        device = await inner.open(id);
      } catch (err) {
        await lease.release().catch(() => undefined);
        throw err;
      }
      return {
        execute: (cdb, options) => device.execute(cdb, options),
        reset: () => device.reset(),
        async close() {
          try {
            await device.close();
          } finally {
            await lease.release();
          }
        },
      };
    },
  };
}

/**
 * Start-up recovery: first a journal that does not parse is moved aside and
 * said so in the log (a reader would see it as empty and pass over its
 * devices in silence), then every dead holder's device is given back.
 */
export function recoverWith(handoff: Pick<DaemonHandoff, 'platform' | 'journal'>): (log: Logger) => Promise<unknown> {
  return async (log) => {
    const aside = await handoff.journal.setAsideIfCorrupt();
    if (aside) {
      log.warn(
        { journal: aside.path, movedTo: aside.movedTo, devices: aside.devices },
        `the lease journal was not valid JSON; moved it aside. Devices it named ` +
          `(${aside.devices.join(', ') || 'none readable'}) may still be detached ` +
          `from the OS: replug them`,
      );
    }
    const report = await recoverLeases(handoff.platform, handoff.journal);
    return {
      recovered: report.recovered.map((r) => ({
        lease: r.entry.id,
        holderPid: r.entry.holder.pid,
        reattached: r.reattached,
      })),
      held: report.held.length,
      ...(aside ? { setAside: aside.movedTo } : {}),
      gone: report.gone.length,
      failed: report.failed.map((f) => f.error.message),
    };
  };
}
