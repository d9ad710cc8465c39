import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonClient, LeaseJournal } from '@usbscsi/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// core's fake OS is test support, not exported from its index
import { defaultFakeOsState, FakeHandoffPlatform } from '../../../packages/core/src/handoff/fake-platform.js';
import { createCoreProvider } from '../src/core-provider.js';
import { recoverWith, withHandoff } from '../src/handoff.js';
import { createSimBackend } from '../src/sim.js';
import { startTestDaemon, until, type TestDaemon } from './helpers.js';

const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);

describe('usbscsid hands simulated devices off through a (fake) OS', () => {
  let dir: string;
  let fake: FakeHandoffPlatform;
  let journal: LeaseJournal;
  let before: ReturnType<FakeHandoffPlatform['snapshot']>;
  let t: TestDaemon;
  let client: DaemonClient;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'usbscsid-handoff-'));
    fake = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
    before = fake.snapshot();
    journal = new LeaseJournal({ path: join(dir, 'leases.json') });
    const handoff = { platform: fake, journal, unmount: true };
    const provider = withHandoff(await createCoreProvider({ backend: createSimBackend(['sim']), transport: 'bot' }), handoff);
    t = await startTestDaemon(provider, { idleCloseMs: 100, recover: recoverWith(handoff) });
    client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the device from the OS on first use and gives it back after the idle period', async () => {
    expect((await client.execute('1-1', INQUIRY, { length: 36 })).status).toBe(0);
    expect(fake.read()).toMatchObject({ driver: null, mounts: [] });
    expect(await journal.list()).toHaveLength(1);
    // the release ends by dropping the journal entry, after re-attaching and re-mounting
    await until(async () => (await journal.list()).length === 0, 3000, 'device given back after idle');
    expect(fake.snapshot()).toEqual(before); // driver back, re-mounted as it was
  });

  it('holds the device for a lease and gives it back on release', async () => {
    const lease = await client.acquireLease('1-1', { idleTimeoutMs: 60_000 });
    expect(fake.read().driver).toBeNull();
    await new Promise((r) => setTimeout(r, 300)); // longer than the idle close: the lease keeps it
    expect(fake.read().driver).toBeNull();
    await client.releaseLease(lease);
    expect(fake.snapshot()).toEqual(before);
    expect(await journal.list()).toEqual([]);
  });

  it('refuses a mounted device with E_MOUNTED when not allowed to unmount, touching nothing', async () => {
    const provider = withHandoff(await createCoreProvider({ backend: createSimBackend(['sim']), transport: 'bot' }), { platform: fake, journal, unmount: false });
    const other = await startTestDaemon(provider);
    const c = new DaemonClient({ kind: 'unix', socketPath: other.socketPath });
    try {
      await expect(c.execute('1-1', INQUIRY, { length: 36 })).rejects.toMatchObject({ code: 'E_MOUNTED', details: { httpStatus: 409 } });
      expect(fake.snapshot()).toEqual(before);
    } finally {
      c.close();
      await other.stop();
    }
  });
});
