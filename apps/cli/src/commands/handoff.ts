/**
 * handoff status | release | recover: the lease journal (who holds which
 * device) and giving devices back to the OS. The work is core's
 * (LeaseJournal, recoverLeases); this file selects and prints.
 */
import type { Command } from 'commander';
import {
  ErrorCodes,
  LeaseJournal,
  UsbScsiError,
  badInput,
  defaultHandoffPlatform,
  describeLeaseDevice,
  isProcessAlive,
  parseSelector,
  recoverLeases,
  sameLocation,
  type HandoffPlatform,
  type LeaseJournalEntry,
  type RecoveryReport,
  type SetAsideJournal,
} from '@usbscsi/core';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { isSimSelector } from '../sim.js';
import { table } from '../format/table.js';
import type { Wrap } from './index.js';

async function handoffDeps(ctx: CliContext): Promise<{ journal: LeaseJournal; platform: HandoffPlatform }> {
  if (ctx.deps.handoff) return ctx.deps.handoff();
  const path = ctx.io.env['USBSCSI_LEASE_JOURNAL'];
  return { journal: new LeaseJournal(path ? { path } : {}), platform: await defaultHandoffPlatform() };
}

/**
 * A journal that does not parse reads as empty, and its devices would be passed over in
 * silence: move it aside (as the daemon does at start) and say, whatever the output mode,
 * which devices it named, since they may still be detached from the OS.
 */
async function setAsideIfCorrupt(ctx: CliContext, journal: LeaseJournal): Promise<SetAsideJournal | null> {
  const aside = await journal.setAsideIfCorrupt();
  if (aside) {
    const devices = aside.devices.length ? aside.devices.join(', ') : 'none readable';
    ctx.io.stderr.write(
      `usbscsi: WARNING: the lease journal ${aside.path} is not valid JSON; moved it to ${aside.movedTo}.\n` +
        `usbscsi: devices it named (${devices}) may still be detached from the OS: unplug and replug them.\n`,
    );
  }
  return aside;
}

function setAsideJson(aside: SetAsideJournal | null): Record<string, unknown> | null {
  return aside ? { journal: aside.path, movedTo: aside.movedTo, devices: aside.devices } : null;
}

function entryJson(e: LeaseJournalEntry, alive?: boolean): Record<string, unknown> {
  return {
    id: e.id,
    device: describeLeaseDevice(e.device),
    holderPid: e.holder.pid,
    ...(alive !== undefined ? { holderAlive: alive } : {}),
    status: e.status,
    unmounted: e.unmounted.flatMap((u) => u.filesystems.map((f) => `${f.device} on ${f.mountPoint}`)),
    detachedDriver: e.detached?.driver ?? null,
    createdAt: e.createdAt,
  };
}

/** Journal entries for --device (vid:pid[:serial] or bus-port); all when no --device. */
function entriesFor(ctx: CliContext, entries: LeaseJournalEntry[]): LeaseJournalEntry[] {
  const spec = ctx.opts.device;
  if (spec === undefined) return entries;
  if (isSimSelector(spec)) {
    throw badInput(
      '--device sim is the built-in emulator: it takes no lease, so the journal never names ' +
        'it. Give a VID:PID[:SERIAL] or bus-port path.',
    );
  }
  const s = parseSelector(spec);
  return entries.filter((e) => {
    const d = e.device;
    if (s.kind === 'ids')
      return (
        d.vendorId === s.vendorId &&
        d.productId === s.productId &&
        (s.serialNumber === undefined || d.serialNumber === s.serialNumber)
      );
    if (s.kind === 'location') return sameLocation(d, s);
    if (s.kind === 'any') return true;
    throw badInput(
      `handoff needs --device as VID:PID[:SERIAL] or a bus-port path (the journal records ` +
        `USB identities); got ${spec}.`,
    );
  });
}

function reportJson(r: RecoveryReport, aside: SetAsideJournal | null): Record<string, unknown> {
  return {
    setAside: setAsideJson(aside),
    recovered: r.recovered.map((x) => ({
      ...entryJson(x.entry),
      reattached: x.reattached,
      remounted: x.remounted.map((m) => m.mountPoint),
      notRemounted: x.notRemounted.map((m) => m.mountPoint),
    })),
    held: r.held.map((e) => entryJson(e, true)),
    gone: r.gone.map((e) => entryJson(e)),
    failed: r.failed.map((f) => ({ ...entryJson(f.entry), error: f.error.toJSON() })),
    skipped: r.skipped.map((e) => entryJson(e)),
  };
}

function reportHuman(r: RecoveryReport): string {
  const lines: string[] = [];
  for (const x of r.recovered) {
    lines.push(
      `Given back: ${describeLeaseDevice(x.entry.device)} (lease of ` +
        `pid ${x.entry.holder.pid})` +
        (x.remounted.length ? `, re-mounted ${x.remounted.map((m) => m.mountPoint).join(', ')}` : ''),
    );
    if (x.notRemounted.length)
      lines.push(
        `  not re-mounted (the lease did not ask): ` +
          x.notRemounted.map((m) => `${m.device} was on ${m.mountPoint}`).join(', '),
      );
  }
  for (const e of r.held)
    lines.push(`Still held: ${describeLeaseDevice(e.device)} by live pid ${e.holder.pid} (stop that process first)`);
  for (const e of r.gone) lines.push(`Gone: ${describeLeaseDevice(e.device)} is no longer plugged in; entry dropped`);
  for (const f of r.failed) lines.push(`FAILED: ${f.error.message}`);
  for (const e of r.skipped)
    lines.push(`Skipped: ${describeLeaseDevice(e.device)} (journal entry of platform ${e.platform})`);
  return (lines.length ? lines.join('\n') : 'Nothing to give back: no leases in the journal.') + '\n';
}

async function giveBack(ctx: CliContext, onlyDevice: boolean): Promise<number | void> {
  const { journal, platform } = await handoffDeps(ctx);
  if (onlyDevice && ctx.opts.device === undefined)
    throw badInput(
      'handoff release needs --device VID:PID[:SERIAL] or a bus-port path; use handoff recover for every dead lease.',
    );
  const aside = await setAsideIfCorrupt(ctx, journal);
  const targets = entriesFor(ctx, await journal.list());
  if (onlyDevice && targets.length === 0 && !aside) {
    throw new UsbScsiError(
      ErrorCodes.NOT_FOUND,
      `no lease in the journal for ${ctx.opts.device} (see usbscsi handoff status).`,
    );
  }
  const report: RecoveryReport = { recovered: [], held: [], gone: [], failed: [], skipped: [] };
  const runs = ctx.opts.device === undefined ? [undefined] : targets.map((t) => t.device);
  for (const device of runs) {
    const r = await recoverLeases(platform, journal, {
      ...(device ? { device } : {}),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    report.recovered.push(...r.recovered);
    report.held.push(...r.held);
    report.gone.push(...r.gone);
    report.failed.push(...r.failed);
    report.skipped.push(...r.skipped);
  }
  ctx.emit(reportJson(report, aside), () => reportHuman(report));
  if (report.failed.length) throw report.failed[0]!.error;
  if (onlyDevice && report.held.length) {
    throw new UsbScsiError(
      ErrorCodes.BUSY,
      `${describeLeaseDevice(report.held[0]!.device)} is held by live process ${report.held[0]!.holder.pid}; ` +
        `stop it (it releases on exit) and retry.`,
    );
  }
  // Nothing failed here, but the devices of the corrupt journal were not given back.
  if (aside) return ExitCode.FAILURE;
}

export function registerHandoff(program: Command, wrap: Wrap): void {
  const handoff = program
    .command('handoff')
    .description('device leases: status, release one device, recover every dead lease');
  handoff
    .command('status')
    .description('list the lease journal: device, holder pid (alive?), state, what was unmounted')
    .action(
      wrap(async (ctx) => {
        const { journal, platform } = await handoffDeps(ctx);
        const aside = await setAsideIfCorrupt(ctx, journal);
        const entries = entriesFor(ctx, await journal.list());
        const alive = await Promise.all(
          entries.map((e) => isProcessAlive((pid) => platform.processIdentity(pid), e.holder)),
        );
        const docs = entries.map((e, i) => entryJson(e, alive[i]));
        ctx.emit({ journal: journal.path, leases: docs, setAside: setAsideJson(aside) }, () => {
          if (docs.length === 0)
            return `No leases (journal ${journal.path}${aside ? ', just set aside as corrupt' : ''}).\n`;
          return table([
            ['DEVICE', 'HOLDER', 'ALIVE', 'STATE', 'UNMOUNTED', 'SINCE'],
            ...docs.map((d) => [
              String(d['device']),
              String(d['holderPid']),
              d['holderAlive'] ? 'yes' : 'NO',
              String(d['status']),
              (d['unmounted'] as string[]).join(',') || '-',
              String(d['createdAt']),
            ]),
          ]);
        });
        if (aside) return ExitCode.FAILURE;
      }),
    );
  handoff
    .command('release')
    .description(
      'give the --device back to the OS (re-attach the driver, re-mount) when its holder is dead or its release failed',
    )
    .action(wrap((ctx) => giveBack(ctx, true)));
  handoff
    .command('recover')
    .description('give back every device whose lease holder died or whose release failed')
    .action(wrap((ctx) => giveBack(ctx, false)));
}
