import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { defaultFakeOsState, FakeHandoffPlatform } from '../testing/fake-platform.js';
import { LeaseJournal, type LeaseJournalEntry } from './journal.js';
import { recoverLeases } from './recover.js';

let dir: string;
let fake: FakeHandoffPlatform;
let journal: LeaseJournal;
const DEAD = { pid: 999_999_999, startTime: 'gone' };
const [sda1, sda2] = defaultFakeOsState().mounts;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'usbscsi-recover-'));
  // The OS as a dead holder left it: driver detached, both filesystems unmounted.
  fake = new FakeHandoffPlatform({
    stateFile: join(dir, 'os.json'),
    initial: defaultFakeOsState({ driver: null, mounts: [] }),
  });
  journal = new LeaseJournal({ path: join(dir, 'leases.json') });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function entry(overrides: Partial<LeaseJournalEntry> = {}): LeaseJournalEntry {
  return {
    id: 'e1',
    platform: 'fake',
    device: { vendorId: 0x46f4, productId: 1, busNumber: 1, portNumbers: [2], interfaceNumber: 0 },
    holder: DEAD,
    status: 'held',
    wholeDisks: ['/dev/sda'],
    unmounted: [
      { wholeDisk: '/dev/sda', filesystems: [sda2!] },
      { wholeDisk: '/dev/sda', filesystems: [sda1!] },
    ],
    detached: { driver: 'usb-storage', target: '1-2:1.0' },
    expected: { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 2 },
    remount: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('recoverLeases', () => {
  it('gives back a dead holder’s device: re-attach, re-mount parent first, entry removed', async () => {
    await journal.put(entry());
    const report = await recoverLeases(fake, journal);
    expect(report.recovered).toHaveLength(1);
    expect(report.recovered[0]!.remounted.map((m) => m.mountPoint)).toEqual(['/media/stick', '/media/stick/data']);
    expect(fake.read().log).toEqual([
      'attach usb-storage',
      `mount /dev/sda1 /media/stick vfat ${sda1!.options}`,
      `mount /dev/sda2 /media/stick/data ext4 ${sda2!.options}`,
    ]);
    expect(await journal.list()).toEqual([]);
  });

  it(
    're-attaches but leaves filesystems unmounted when the lease had not asked for a ' + 're-mount, and says so',
    async () => {
      await journal.put(entry({ remount: false }));
      const report = await recoverLeases(fake, journal);
      expect(report.recovered[0]!.notRemounted).toHaveLength(2);
      expect(fake.read().driver).toBe('usb-storage');
      expect(fake.read().mounts).toEqual([]);
    },
  );

  it('re-mounts what a holder killed mid-acquisition had unmounted (nothing was handed over yet)', async () => {
    fake.write(defaultFakeOsState({ mounts: [sda1!] })); // killed after the first unmount, before detaching
    await journal.put(
      entry({
        status: 'acquiring',
        remount: false,
        unmounted: [{ wholeDisk: '/dev/sda', filesystems: [sda2!] }],
        detached: null,
        expected: null,
      }),
    );
    const report = await recoverLeases(fake, journal);
    expect(report.recovered).toHaveLength(1);
    expect(
      fake
        .read()
        .mounts.map((m) => m.mountPoint)
        .sort(),
    ).toEqual(['/media/stick', '/media/stick/data']);
  });

  it('leaves a live holder alone (held), skips other platforms, filters by device', async () => {
    await journal.put(entry({ id: 'live', holder: { pid: process.pid, startTime: 'unknown' } }));
    await journal.put(entry({ id: 'mac', platform: 'darwin' }));
    await journal.put(
      entry({
        id: 'elsewhere',
        device: { vendorId: 1, productId: 2, busNumber: 3, portNumbers: [4], interfaceNumber: 0 },
      }),
    );
    const report = await recoverLeases(fake, journal, { device: entry().device });
    expect(report.held.map((e) => e.id)).toEqual(['live']);
    expect(report.skipped.map((e) => e.id)).toEqual(['mac']);
    expect(report.recovered).toEqual([]);
    expect(fake.read().log).toEqual([]);
    expect((await journal.list()).length).toBe(3);
  });

  it('drops the entry of an unplugged device (gone) and keeps one that failed for the next attempt', async () => {
    await journal.put(entry());
    fake.fail('attach', { error: new UsbScsiError(ErrorCodes.PERMISSION, 'need root'), times: 1 });
    const failed = await recoverLeases(fake, journal);
    expect(failed.failed).toHaveLength(1);
    expect(failed.failed[0]!.error.code).toBe(ErrorCodes.PERMISSION);
    expect(failed.failed[0]!.error.message).toContain('process 999999999');
    expect((await journal.list()).length).toBe(1);

    fake.write({ ...fake.read(), present: false });
    const gone = await recoverLeases(fake, journal);
    expect(gone.gone).toHaveLength(1);
    expect(await journal.list()).toEqual([]);
  });
});
