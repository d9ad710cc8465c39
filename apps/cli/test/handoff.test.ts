/**
 * handoff status / release / recover on core's fake OS platform: a lease is
 * taken (unmount + detach), its holder "dies" (its pid now names another
 * process start), and the CLI gives the device back.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeaseJournal, acquireLease, type LeaseDevice, type ProcessIdentity } from '@usbscsi/core';
import { FakeHandoffPlatform, defaultFakeOsState } from '../../../packages/core/src/testing/fake-platform.js';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { simWith } from './sim-fixtures.js';

const DEVICE: LeaseDevice = {
  vendorId: 0x1d6b,
  productId: 0x0104,
  serialNumber: 'SIM0001',
  busNumber: 1,
  portNumbers: [1],
  interfaceNumber: 0,
};

async function deadHolderSetup() {
  const dir = mkdtempSync(join(tmpdir(), 'usbscsi-handoff-'));
  let processStart = 'first-start';
  const identity = async (pid: number): Promise<ProcessIdentity> => ({ pid, startTime: processStart });
  const platform = new FakeHandoffPlatform({
    stateFile: join(dir, 'os.json'),
    initial: defaultFakeOsState(),
    processIdentity: identity,
  });
  const journal = new LeaseJournal({ path: join(dir, 'leases.json'), processIdentity: identity });
  await acquireLease(DEVICE, { platform, journal, registry: null, unmount: true, remount: true });
  expect(platform.read()).toMatchObject({ driver: null, mounts: [] });
  // The holder died and its pid was reused: the lease is orphaned.
  processStart = 'second-start';
  return { platform, journal, deps: { handoff: async () => ({ platform, journal }) } };
}

describe('handoff with an orphaned lease', () => {
  it('status shows the lease, its dead holder and what it unmounted', async () => {
    const { deps } = await deadHolderSetup();
    const doc = json(await run(['--json', 'handoff', 'status'], { deps }));
    expect(doc['leases']).toHaveLength(1);
    expect(doc['leases'][0]).toMatchObject({
      holderPid: process.pid,
      holderAlive: false,
      status: 'held',
      detachedDriver: 'usb-storage',
    });
    // In unmount order: the nested mount first.
    expect(doc['leases'][0].unmounted).toEqual(['/dev/sda2 on /media/stick/data', '/dev/sda1 on /media/stick']);
    const human = await run(['handoff', 'status'], { deps });
    expect(human.stdout).toMatch(/^DEVICE\s+HOLDER\s+ALIVE\s+STATE/m);
    expect(human.stdout).toMatch(new RegExp(`\\s${process.pid}\\s+NO\\s+held\\s`));
  });

  it('recover re-attaches the driver and re-mounts; the journal is then empty', async () => {
    const { platform, journal, deps } = await deadHolderSetup();
    const r = await run(['handoff', 'recover'], { deps });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Given back: .*pid \d+\), re-mounted \/media\/stick, \/media\/stick\/data$/m);
    expect(platform.read()).toMatchObject({ driver: 'usb-storage' });
    expect(platform.read().mounts.map((m) => m.mountPoint)).toEqual(['/media/stick', '/media/stick/data']);
    expect(await journal.list()).toEqual([]);
  });

  it('release --device gives back only that device; another selector finds nothing (exit 3)', async () => {
    const { platform, deps } = await deadHolderSetup();
    expect((await run(['--device', '1d6b:9999', 'handoff', 'release'], { deps })).code).toBe(ExitCode.NOT_FOUND);
    expect(platform.read().driver).toBeNull();
    const r = await run(['--device', '1d6b:0104', '--json', 'handoff', 'release'], { deps });
    expect(r.code).toBe(0);
    expect(json(r)['recovered']).toHaveLength(1);
    expect(platform.read().driver).toBe('usb-storage');
  });

  it('a live holder is left alone: release is E_BUSY (exit 5)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usbscsi-handoff-live-'));
    const platform = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
    const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
    const lease = await acquireLease(DEVICE, { platform, journal, registry: null, unmount: true, remount: true });
    try {
      const r = await run(['--device', '1d6b:0104', 'handoff', 'release'], {
        deps: { handoff: async () => ({ platform, journal }) },
      });
      expect(r.code).toBe(ExitCode.BUSY);
      expect(r.stderr).toContain(`held by live process ${process.pid}`);
      expect(platform.read().driver).toBeNull();
    } finally {
      await lease.release();
    }
  });
});

describe('a command on a device whose dead holder left it leased', () => {
  it('recovers that lease first and says so on stderr (also with --json), then runs', async () => {
    const { platform, journal } = await deadHolderSetup();
    // The OS view of the simulated disk: its interface unbound, as the dead holder left it.
    const deps = {
      ...simWith(() => undefined, { storage: { blockDevices: ['/dev/sdzz'] } }),
      handoff: async () => ({ platform, journal, registry: null }),
    };
    const r = await run(['--device', 'sim', '--unmount', '--remount', '--json', 'tur'], { deps });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        /^usbscsi: 1d6b:0104 \(serial SIM0001\) at 1-1 interface 0 was still leased by process \d+, /.source +
          /which died without giving it back: recovered it first \(re-attached usb-storage, re-mounted /.source,
        'm',
      ),
    );
    expect(json(r)).toMatchObject({ ready: true });
    expect(await journal.list()).toEqual([]);
    expect(platform.read()).toMatchObject({ driver: 'usb-storage' });
    expect(platform.read().mounts).toHaveLength(2);
  });
});

describe('handoff with a corrupt journal', () => {
  async function corruptJournal() {
    const setup = await deadHolderSetup();
    const whole = readFileSync(setup.journal.path, 'utf8');
    // Cut inside the entry, after its device: the text still names the device, the JSON does not parse.
    writeFileSync(setup.journal.path, whole.slice(0, whole.lastIndexOf('"holder"')));
    return setup;
  }

  it('recover warns on stderr, names the devices, sets the journal aside and exits 1', async () => {
    const { journal, platform, deps } = await corruptJournal();
    const r = await run(['handoff', 'recover'], { deps });
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.stderr).toMatch(/WARNING: the lease journal .* is not valid JSON; moved it to .*leases\.json\.corrupt-/);
    expect(r.stderr).toContain('1-1 (1d6b:0104)');
    expect(r.stderr).toMatch(/may still be detached from the OS/);
    expect(existsSync(journal.path)).toBe(false);
    // Nothing could be given back from it: the driver is still detached, as the warning says.
    expect(platform.read().driver).toBeNull();
  });

  it('status and --json recover say so too (the JSON names what was set aside)', async () => {
    const { deps } = await corruptJournal();
    const status = await run(['--json', 'handoff', 'status'], { deps });
    expect(status.code).toBe(ExitCode.FAILURE);
    expect(json(status)).toMatchObject({
      leases: [],
      setAside: { movedTo: expect.stringMatching(/corrupt-/), devices: ['1-1 (1d6b:0104)'] },
    });
    expect(status.stderr).toContain('is not valid JSON');
    const again = await corruptJournal();
    const recover = await run(['--json', 'handoff', 'recover'], { deps: again.deps });
    expect(recover.code).toBe(ExitCode.FAILURE);
    expect(json(recover)).toMatchObject({ recovered: [], setAside: { devices: ['1-1 (1d6b:0104)'] } });
    const release = await run(['--device', '1d6b:0104', 'handoff', 'release'], { deps: (await corruptJournal()).deps });
    expect(release.code).toBe(ExitCode.FAILURE);
    expect(release.stderr).toContain('may still be detached');
  });
});
