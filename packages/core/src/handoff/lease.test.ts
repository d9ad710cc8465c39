import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import { defaultFakeOsState, FakeHandoffPlatform, type FakeStep } from '../testing/fake-platform.js';
import { LeaseJournal } from './journal.js';
import { acquireLease, unmountTargets, type AcquireLeaseOptions, type LeaseState } from './lease.js';
import type { LeaseDevice } from './platform.js';
import { recoverLeases } from './recover.js';
import { LeaseRegistry } from './registry.js';

const device: LeaseDevice = {
  vendorId: 0x46f4,
  productId: 0x0001,
  serialNumber: 'S1',
  busNumber: 1,
  portNumbers: [2],
  interfaceNumber: 0,
};

let dir: string;
let fake: FakeHandoffPlatform;
let journal: LeaseJournal;
let registry: LeaseRegistry;
let states: LeaseState[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'usbscsi-lease-'));
  fake = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
  journal = new LeaseJournal({ path: join(dir, 'leases.json'), warn: () => undefined });
  registry = new LeaseRegistry({
    host: { pid: 1, on: () => undefined, removeListener: () => undefined, kill: () => undefined },
  });
  states = [];
});
afterEach(() => {
  registry.uninstall();
  rmSync(dir, { recursive: true, force: true });
});

function options(extra: Partial<AcquireLeaseOptions> = {}): AcquireLeaseOptions {
  return { platform: fake, journal, registry, onStateChange: (s) => states.push(s), ...extra };
}

async function rejection(promise: Promise<unknown>): Promise<UsbScsiError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UsbScsiError);
    return err as UsbScsiError;
  }
  throw new Error('expected a rejection');
}

describe('acquireLease', () => {
  it('refuses a mounted device with E_MOUNTED, listing the filesystems, and touches nothing', async () => {
    const before = fake.snapshot();
    const err = await rejection(acquireLease(device, options()));
    expect(err.code).toBe(ErrorCodes.MOUNTED);
    expect(err.message).toContain('/dev/sda1 on /media/stick (vfat)');
    expect(err.message).toContain('/dev/sda2 on /media/stick/data (ext4)');
    expect(err.message).toContain('--unmount');
    expect((err.details.mounts as unknown[]).length).toBe(2);
    expect(fake.snapshot()).toEqual(before);
    expect(fake.read().log).toEqual([]);
    expect(await journal.list()).toEqual([]);
  });

  it(
    'refuses with E_BUSY, touching nothing, when LVM / dm-crypt / md / swap uses the ' + 'disk (unmount cannot help)',
    async () => {
      const before = fake.snapshot();
      const platform = Object.assign(Object.create(fake) as FakeHandoffPlatform, {
        describe: async () => ({
          ...(await fake.describe(device, { signal: new AbortController().signal, timeoutMs: 1000 })),
          otherUsers: [{ device: '/dev/sda2', user: 'dm-0' }],
        }),
      });
      const err = await rejection(acquireLease(device, options({ platform, unmount: true })));
      expect(err.code).toBe(ErrorCodes.BUSY);
      expect(err.message).toContain('dm-0 (on /dev/sda2)');
      expect(fake.snapshot()).toEqual(before);
      expect(fake.read().log).toEqual([]);
    },
  );

  it(
    'refuses with E_PERMISSION before unmounting anything when the platform says the ' + 'driver cannot be detached',
    async () => {
      const before = fake.snapshot();
      fake.fail('checkAccess', { error: new UsbScsiError(ErrorCodes.PERMISSION, 'needs root') });
      const err = await rejection(acquireLease(device, options({ unmount: true })));
      expect(err.code).toBe(ErrorCodes.PERMISSION);
      expect(fake.read().log).toEqual([]);
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
    },
  );

  it(
    'syncs, unmounts (nested first), detaches, journals; release re-attaches, waits and ' + 're-mounts (parent first)',
    async () => {
      const before = fake.snapshot();
      const lease = await acquireLease(device, options({ unmount: true, remount: true }));
      expect(lease.state).toBe('held');
      expect(states).toEqual(['unmounting', 'detaching', 'held']);
      expect(fake.read().log).toEqual([
        'sync',
        'unmount /media/stick/data',
        'unmount /media/stick',
        'sync',
        'detach usb-storage',
      ]);
      expect(fake.read().driver).toBeNull();
      const [entry] = await journal.list();
      expect(entry).toMatchObject({
        id: lease.id,
        status: 'held',
        platform: 'fake',
        device,
        detached: { driver: 'usb-storage' },
        remount: true,
        holder: { pid: process.pid },
      });
      expect(entry!.unmounted.map((t) => t.filesystems[0]!.mountPoint)).toEqual(['/media/stick/data', '/media/stick']);
      expect(registry.size).toBe(1);

      const report = await lease.release();
      expect(states.slice(3)).toEqual(['releasing', 'reattaching', 'remounting', 'released']);
      expect(fake.read().log.slice(5)).toEqual([
        'attach usb-storage',
        'mount /dev/sda1 /media/stick vfat rw,relatime,fmask=0022',
        'mount /dev/sda2 /media/stick/data ext4 rw,noatime',
      ]);
      expect(report.remounted.map((m) => m.mountPoint)).toEqual(['/media/stick', '/media/stick/data']);
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
      expect(registry.size).toBe(0);

      // Idempotent: the same promise, nothing done twice.
      expect(lease.release()).toBe(lease.release());
      await lease.release();
      expect(fake.read().log).toHaveLength(8);
    },
  );

  it('leaves filesystems unmounted on release when remount is false, and says so', async () => {
    const lease = await acquireLease(device, options({ unmount: true, remount: false }));
    const report = await lease.release();
    expect(report.remounted).toEqual([]);
    expect(report.notRemounted.map((m) => m.mountPoint).sort()).toEqual(['/media/stick', '/media/stick/data']);
    expect(fake.read().driver).toBe('usb-storage');
    expect(fake.read().mounts).toEqual([]);
  });

  it(
    'takes an unmounted device without unmount being asked, and an interface with no ' + 'driver without detaching',
    async () => {
      fake.write(defaultFakeOsState({ mounts: [] }));
      const lease = await acquireLease(device, options());
      expect(fake.read().log).toEqual(['sync', 'detach usb-storage']);
      await lease.release();
      fake.write(defaultFakeOsState({ mounts: [], driver: null }));
      const bare = await acquireLease(device, options());
      await bare.release();
      expect(fake.read().log).toEqual([]);
    },
  );

  it('re-mounts under the new name when the disk comes back as another node (sda → sdb)', async () => {
    const lease = await acquireLease(device, options({ unmount: true }));
    const state = fake.read();
    state.renameOnAttach = { '/dev/sda': '/dev/sdb' };
    fake.write(state);
    const report = await lease.release();
    expect(report.remounted.map((m) => m.device)).toEqual(['/dev/sdb1', '/dev/sdb2']);
    expect(fake.read().mounts.map((m) => `${m.device} ${m.mountPoint}`)).toEqual([
      '/dev/sdb1 /media/stick',
      '/dev/sdb2 /media/stick/data',
    ]);
  });

  it('releasing a device unplugged while held resolves with deviceGone and clears the journal', async () => {
    const lease = await acquireLease(device, options({ unmount: true }));
    fake.write({ ...fake.read(), present: false });
    const report = await lease.release();
    expect(report.deviceGone).toBe(true);
    expect(report.notRemounted).toHaveLength(2);
    expect(lease.state).toBe('released');
    expect(await journal.list()).toEqual([]);
  });

  it('runs release hooks (closing the USB handle) before re-attaching, even when a hook fails', async () => {
    const lease = await acquireLease(device, options({ unmount: true }));
    const order: string[] = [];
    lease.onRelease(() => order.push(`first hook, driver ${fake.read().driver}`));
    lease.onRelease(() => {
      order.push('second hook');
      throw new Error('handle already closed');
    });
    await lease.release();
    expect(order).toEqual(['second hook', 'first hook, driver null']);
    expect(fake.read().driver).toBe('usb-storage');
  });

  // Every acquisition step failing in turn: the system ends as it was, the journal empty.
  const failures: { name: string; step: FakeStep; skip?: number; hang?: boolean; code: string }[] = [
    { name: 'first sync', step: 'sync', code: ErrorCodes.IO },
    { name: 'first unmount', step: 'unmount', code: ErrorCodes.BUSY },
    { name: 'second unmount', step: 'unmount', skip: 1, code: ErrorCodes.BUSY },
    { name: 'sync before detach', step: 'sync', skip: 1, code: ErrorCodes.IO },
    { name: 'detach', step: 'detach', code: ErrorCodes.PERMISSION },
    { name: 'detach hanging past its timeout', step: 'detach', hang: true, code: ErrorCodes.TIMEOUT },
    { name: 'unmount hanging past its timeout', step: 'unmount', skip: 1, hang: true, code: ErrorCodes.TIMEOUT },
  ];
  for (const failure of failures) {
    it(`rolls back when the ${failure.name} fails`, async () => {
      const before = fake.snapshot();
      fake.fail(failure.step, {
        error: failure.hang ? 'hang' : new UsbScsiError(failure.code as never, `${failure.name} broke`),
        times: 1,
        ...(failure.skip ? { skip: failure.skip } : {}),
      });
      const err = await rejection(
        acquireLease(device, options({ unmount: true, timeouts: { detach: 50, unmount: 50 } })),
      );
      expect(err.code).toBe(failure.code);
      expect(err.details.rolledBack).toBe(true);
      expect(states.at(-1)).toBe('rolled-back');
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
      expect(registry.size).toBe(0);
    });
  }

  it(
    'rolls back when the journal cannot record a step (disk full): never holds a device ' + 'it could not journal',
    async () => {
      const before = fake.snapshot();
      let puts = 0;
      const failing = new (class extends LeaseJournal {
        override async put(entry: Parameters<LeaseJournal['put']>[0]): Promise<void> {
          if (++puts === 2) throw new UsbScsiError(ErrorCodes.IO, 'Cannot write the lease journal: ENOSPC');
          return super.put(entry);
        }
      })({ path: journal.path, warn: () => undefined });
      const err = await rejection(acquireLease(device, options({ unmount: true, journal: failing })));
      expect(err.message).toContain('ENOSPC');
      expect(err.details.rolledBack).toBe(true);
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
    },
  );

  it('reports a busy mount point with its holders, after re-mounting what it had unmounted', async () => {
    fake.write(defaultFakeOsState({ busyMountPoints: ['/media/stick'] }));
    const err = await rejection(acquireLease(device, options({ unmount: true })));
    expect(err.code).toBe(ErrorCodes.BUSY);
    expect(err.details.holders).toEqual([{ pid: 4242, command: 'bash' }]);
    expect(fake.read().mounts.map((m) => m.mountPoint)).toEqual(['/media/stick', '/media/stick/data']);
  });

  it(
    'when the rollback fails too: state failed, journal entry kept as release-failed, ' +
      'and recovery finishes the job',
    async () => {
      const before = fake.snapshot();
      fake.fail('detach', { error: new UsbScsiError(ErrorCodes.IO, 'detach broke'), times: 1 });
      fake.fail('mount', { error: new UsbScsiError(ErrorCodes.IO, 'mount broke'), times: 2 });
      const err = await rejection(acquireLease(device, options({ unmount: true, remount: false })));
      expect(err.code).toBe(ErrorCodes.IO);
      expect(err.details.rolledBack).toBe(false);
      expect(err.message).toContain('usbscsi recover');
      expect(states.at(-1)).toBe('failed');
      const [entry] = await journal.list();
      expect(entry).toMatchObject({ status: 'release-failed', remount: true });

      const report = await recoverLeases(fake, journal);
      expect(report.recovered).toHaveLength(1);
      expect(report.held).toEqual([]);
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
    },
  );

  it(
    'a failed release rejects (the same rejection every call), keeps the entry, and recovery ' +
      'gives the device back',
    async () => {
      const before = fake.snapshot();
      const lease = await acquireLease(device, options({ unmount: true }));
      fake.fail('attach', { error: new UsbScsiError(ErrorCodes.BUSY, 'still claimed'), times: 1 });
      const first = lease.release();
      const err = await rejection(first);
      expect(err.code).toBe(ErrorCodes.BUSY);
      expect(err.message).toContain('usbscsi recover');
      expect(lease.release()).toBe(first);
      expect(lease.state).toBe('failed');
      expect((await journal.list())[0]!.status).toBe('release-failed');
      expect(registry.size).toBe(0);
      await recoverLeases(fake, journal);
      expect(fake.snapshot()).toEqual(before);
    },
  );

  it('bounds waiting for the disk to come back (E_TIMEOUT), without hanging', async () => {
    const lease = await acquireLease(device, options({ unmount: true, timeouts: { waitForStorage: 80 } }));
    fake.fail('waitForStorage', { error: 'hang' });
    const started = Date.now();
    const err = await rejection(lease.release());
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.details.notRemounted).toHaveLength(2);
  });

  it('refuses a device another process holds (E_BUSY), touching nothing', async () => {
    await journal.put({
      id: 'x',
      platform: 'fake',
      device,
      holder: { pid: process.pid, startTime: 'unknown' },
      status: 'held',
      wholeDisks: ['/dev/sda'],
      unmounted: [],
      detached: { driver: 'usb-storage', target: '1-2:1.0' },
      expected: null,
      remount: false,
      createdAt: '',
      updatedAt: '',
    });
    const busy = await rejection(acquireLease(device, options({ unmount: true })));
    expect(busy.code).toBe(ErrorCodes.BUSY);
    expect(busy.message).toContain(`process ${process.pid}`);
    expect(fake.read().log).toEqual([]);
  });

  it(
    'a lease left by a dead holder is recovered first (device given back, said through ' + 'onNotice), then taken',
    async () => {
      // The dead holder had unmounted both filesystems and detached the driver, then was SIGKILLed.
      const os = fake.read();
      const mounts = os.mounts;
      fake.write({ ...os, driver: null, mounts: [] });
      await journal.put({
        id: 'dead',
        platform: 'fake',
        device,
        holder: { pid: 999_999_999, startTime: 'x' },
        status: 'held',
        wholeDisks: ['/dev/sda'],
        unmounted: unmountTargets(mounts, 'filesystem'),
        detached: { driver: 'usb-storage', target: '1-2:1.0' },
        expected: { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 2 },
        remount: true,
        createdAt: '',
        updatedAt: '',
      });
      const notices: string[] = [];
      const lease = await acquireLease(
        device,
        options({ unmount: true, remount: true, onNotice: (m) => notices.push(m) }),
      );
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(
        new RegExp(
          /leased by process 999999999, which died without giving it back: /.source +
            /recovered it first \(re-attached usb-storage, re-mounted .*\/media\/stick/.source,
        ),
      );
      const log = fake.read().log;
      expect(log.findIndex((l) => l.startsWith('attach'))).toBeLessThan(log.findIndex((l) => l.startsWith('detach')));
      expect((await journal.list()).map((e) => [e.holder.pid, e.status])).toEqual([[process.pid, 'held']]);
      await lease.release();
      expect(fake.read().driver).toBe('usb-storage');
      expect(
        fake
          .read()
          .mounts.map((m) => m.mountPoint)
          .sort(),
      ).toEqual(['/media/stick', '/media/stick/data']);
      expect(await journal.list()).toEqual([]);
    },
  );

  it('two holders racing for one device: exactly one gets it, the other E_BUSY, nothing done twice', async () => {
    const before = fake.snapshot();
    const otherJournal = new LeaseJournal({ path: journal.path, warn: () => undefined }); // another process's view
    const results = await Promise.allSettled([
      acquireLease(device, options({ unmount: true })),
      acquireLease(device, options({ unmount: true, journal: otherJournal })),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]!.reason as UsbScsiError).code).toBe(ErrorCodes.BUSY);
    expect(fake.read().log.filter((l) => l.startsWith('detach'))).toHaveLength(1);
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLease>>>).value.release();
    expect(fake.snapshot()).toEqual(before);
  });

  it('a cancelled acquisition is rolled back', async () => {
    const controller = new AbortController();
    fake.fail('detach', { error: 'hang' });
    setTimeout(() => controller.abort(), 30);
    const before = fake.snapshot();
    const err = await rejection(acquireLease(device, options({ unmount: true, signal: controller.signal })));
    expect(err.code).toBe(ErrorCodes.CANCELLED);
    expect(isUsbScsiError(err)).toBe(true);
    expect(fake.snapshot()).toEqual(before);
  });
});

describe('cancelled between two steps', () => {
  it('the next step does not run at all, so the rollback undoes everything that was done', async () => {
    const controller = new AbortController();
    // Abort right after the first unmount is journaled, before the second unmount starts.
    class AbortAfterFirstUnmount extends LeaseJournal {
      override async put(entry: Parameters<LeaseJournal['put']>[0]): Promise<void> {
        await super.put(entry);
        if (entry.unmounted.length === 1) controller.abort();
      }
    }
    const before = fake.snapshot();
    const err = await rejection(
      acquireLease(
        device,
        options({
          unmount: true,
          signal: controller.signal,
          journal: new AbortAfterFirstUnmount({ path: journal.path, warn: () => undefined }),
        }),
      ),
    );
    expect(err.code).toBe(ErrorCodes.CANCELLED);
    expect(fake.read().log.filter((l) => l.startsWith('unmount'))).toEqual(['unmount /media/stick/data']);
    expect(fake.snapshot()).toEqual(before);
  });

  it("runStep at its deadline reports the step's own timeout error, which says what it saw last", async () => {
    const { runStep } = await import('./steps.js');
    const err = await rejection(
      runStep(
        'wait for storage',
        30,
        undefined,
        ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () =>
              setTimeout(
                () =>
                  reject(new UsbScsiError(ErrorCodes.TIMEOUT, 'expected uas with 1 disk(s), saw uas with no disks')),
                20,
              ),
            ),
          ),
      ),
    );
    expect([err.code, err.message, err.details.step]).toEqual([
      ErrorCodes.TIMEOUT,
      'expected uas with 1 disk(s), saw uas with no disks',
      'wait for storage',
    ]);
  });

  it("runStep at its deadline: a step that ignores the signal, or fails another way, gets runStep's", async () => {
    const { runStep, STEP_TIMEOUT_GRACE_MS } = await import('./steps.js');
    const t0 = Date.now();
    const hung = await rejection(runStep('attach', 30, undefined, () => new Promise(() => undefined)));
    expect(hung.message).toBe('Handoff step "attach" did not finish within 30 ms.');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(30 + STEP_TIMEOUT_GRACE_MS - 5);
    const aborted = await rejection(
      runStep(
        'mount',
        30,
        undefined,
        ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error('The operation was aborted'))),
          ),
      ),
    );
    expect([aborted.code, aborted.message]).toEqual([
      ErrorCodes.TIMEOUT,
      'Handoff step "mount" did not finish within 30 ms.',
    ]);
  });

  it('runStep never calls a step whose signal aborted before it started', async () => {
    const { runStep } = await import('./steps.js');
    const controller = new AbortController();
    controller.abort();
    let called = false;
    const err = await rejection(runStep('unmount', 1000, controller.signal, async () => void (called = true)));
    expect(err.code).toBe(ErrorCodes.CANCELLED);
    await new Promise((r) => setTimeout(r, 10));
    expect(called).toBe(false);
  });
});

describe('a signal while acquiring', () => {
  it('stops the acquisition, rolls it back, then re-raises the signal', async () => {
    const { EventEmitter } = await import('node:events');
    const host = Object.assign(new EventEmitter(), {
      pid: 7,
      kills: [] as unknown[],
      kill(pid: number, sig?: string | number) {
        this.kills.push([pid, sig]);
      },
    });
    const signalled = new LeaseRegistry({ host, log: () => undefined });
    const before = fake.snapshot();
    fake.fail('detach', { error: 'hang' });
    const acquiring = acquireLease(device, options({ unmount: true, registry: signalled }));
    while (!states.includes('detaching')) await new Promise((r) => setTimeout(r, 5));
    expect(fake.read().mounts).toEqual([]); // unmounted, now stuck detaching
    host.emit('SIGINT', 'SIGINT');
    const err = await rejection(acquiring);
    expect(err.code).toBe(ErrorCodes.CANCELLED);
    expect(err.details.rolledBack).toBe(true);
    for (let i = 0; i < 200 && !host.kills.length; i++) await new Promise((r) => setTimeout(r, 5));
    expect(host.kills).toEqual([[7, 'SIGINT']]);
    expect(fake.snapshot()).toEqual(before);
    expect(host.listenerCount('SIGINT')).toBe(0);
  });
});

describe('unmountTargets', () => {
  const mounts = defaultFakeOsState().mounts;
  it('Linux: one filesystem at a time, nested mount points first', () => {
    expect(unmountTargets(mounts, 'filesystem').map((t) => t.filesystems.map((f) => f.mountPoint))).toEqual([
      ['/media/stick/data'],
      ['/media/stick'],
    ]);
  });
  it('macOS: one target per whole disk with all its volumes', () => {
    const other = { ...mounts[0]!, device: '/dev/sdb1', wholeDisk: '/dev/sdb', mountPoint: '/media/b' };
    expect(unmountTargets([...mounts, other], 'whole-disk')).toEqual([
      { wholeDisk: '/dev/sda', filesystems: mounts },
      { wholeDisk: '/dev/sdb', filesystems: [other] },
    ]);
  });
});
