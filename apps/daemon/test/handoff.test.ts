import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonClient, LeaseJournal } from '@usbscsi/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// core's fake OS is test support, not exported from its index
import { defaultFakeOsState, FakeHandoffPlatform } from '../../../packages/core/src/testing/fake-platform.js';
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
    const provider = withHandoff(
      await createCoreProvider({ backend: createSimBackend(['sim']), transport: 'bot' }),
      handoff,
    );
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
    const provider = withHandoff(await createCoreProvider({ backend: createSimBackend(['sim']), transport: 'bot' }), {
      platform: fake,
      journal,
      unmount: false,
    });
    const other = await startTestDaemon(provider);
    const c = new DaemonClient({ kind: 'unix', socketPath: other.socketPath });
    try {
      await expect(c.execute('1-1', INQUIRY, { length: 36 })).rejects.toMatchObject({
        code: 'E_MOUNTED',
        details: { httpStatus: 409 },
      });
      expect(fake.snapshot()).toEqual(before);
    } finally {
      c.close();
      await other.stop();
    }
  });

  it(
    'warns in the JSON log at start-up about a corrupt journal, naming the devices it ' +
      'held, and moves it aside then',
    async () => {
      const path = join(dir, 'damaged.json');
      // what a power cut mid-write could leave: a journal cut inside its second entry
      const entries = [
        {
          id: 'a',
          platform: 'linux',
          device: {
            vendorId: 0x1d6b,
            productId: 0x0104,
            serialNumber: 'SIM0001',
            busNumber: 1,
            portNumbers: [1],
            interfaceNumber: 0,
          },
          holder: { pid: 1, startTime: 'x' },
        },
        {
          id: 'b',
          platform: 'linux',
          device: { vendorId: 0x0781, productId: 0x5581, busNumber: 2, portNumbers: [4, 1], interfaceNumber: 0 },
          holder: { pid: 2, startTime: 'y' },
        },
      ];
      const text = JSON.stringify({ version: 1, leases: entries }, null, 2);
      writeFileSync(path, text.slice(0, text.lastIndexOf('"holder"')));
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _e, cb) {
          for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
          cb();
        },
      });
      const damaged = new LeaseJournal({ path });
      const handoff = { platform: fake, journal: damaged, unmount: true };
      const provider = withHandoff(
        await createCoreProvider({ backend: createSimBackend(['sim']), transport: 'bot' }),
        handoff,
      );
      const other = await startTestDaemon(provider, {
        recover: recoverWith(handoff),
        log: pino({ level: 'info' }, sink),
      });
      try {
        const warning = lines.find((l) => l.level === 40 && l.journal === path);
        expect(warning).toMatchObject({
          devices: ['1-1 (1d6b:0104)', '2-4.1 (0781:5581)'],
          movedTo: expect.stringContaining('damaged.json.corrupt-'),
        });
        expect(String(warning!.msg)).toContain('1-1 (1d6b:0104), 2-4.1 (0781:5581)');
        // at start-up, before listening
        expect(lines.indexOf(warning!)).toBeLessThan(lines.findIndex((l) => l.msg === 'listening on unix socket'));
        expect(existsSync(path)).toBe(false);
        const aside = readdirSync(dir).filter((f) => f.startsWith('damaged.json.corrupt-'));
        expect(aside).toHaveLength(1);
        expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(text.slice(0, text.lastIndexOf('"holder"')));
      } finally {
        await other.stop();
      }
    },
  );
});
