import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { defaultJournalPath, LeaseJournal, type LeaseJournalEntry } from './journal.js';
import { isProcessAlive, linuxProcessIdentity, localProcessIdentity } from './process-identity.js';

let dir: string;
let path: string;
let warnings: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'usbscsi-journal-'));
  path = join(dir, 'state', 'leases.json');
  warnings = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const journalAt = (extra: Partial<ConstructorParameters<typeof LeaseJournal>[0]> = {}) =>
  new LeaseJournal({ path, warn: (m) => warnings.push(m), ...extra });

function entry(id: string, pid = process.pid): LeaseJournalEntry {
  return {
    id,
    platform: 'linux',
    device: {
      vendorId: 0x46f4,
      productId: 1,
      serialNumber: 'S',
      busNumber: 1,
      portNumbers: [2, 3],
      configurationValue: 1,
      interfaceNumber: 0,
    },
    holder: { pid, startTime: 'b:123' },
    status: 'held',
    wholeDisks: ['/dev/sda'],
    unmounted: [
      {
        wholeDisk: '/dev/sda',
        filesystems: [
          { device: '/dev/sda1', mountPoint: '/media/a b', fsType: 'vfat', options: 'rw', wholeDisk: '/dev/sda' },
        ],
      },
    ],
    detached: { driver: 'usb-storage', target: '1-2.3:1.0' },
    expected: { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 1 },
    remount: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('defaultJournalPath', () => {
  it('uses /var/lib for root, XDG_STATE_HOME when absolute, else ~/.local/state', () => {
    expect(defaultJournalPath({ HOME: '/root' }, 0)).toBe('/var/lib/usbscsi/leases.json');
    expect(defaultJournalPath({ HOME: '/home/me', XDG_STATE_HOME: '/xdg/state' }, 1000)).toBe(
      '/xdg/state/usbscsi/leases.json',
    );
    expect(defaultJournalPath({ HOME: '/home/me', XDG_STATE_HOME: 'relative/ignored' }, 1000)).toBe(
      '/home/me/.local/state/usbscsi/leases.json',
    );
    expect(defaultJournalPath({ HOME: '/home/me' }, 1000)).toBe('/home/me/.local/state/usbscsi/leases.json');
  });
});

describe('LeaseJournal', () => {
  it('creates its directory, stores, replaces and removes entries, leaving no temp or lock files', async () => {
    const journal = journalAt();
    expect(await journal.list()).toEqual([]);
    await journal.put(entry('a'));
    await journal.put(entry('b'));
    await journal.put({ ...entry('a'), status: 'releasing' });
    const listed = await journal.list();
    expect(listed.map((e) => `${e.id}:${e.status}`)).toEqual(['b:held', 'a:releasing']);
    expect(listed[1]!.unmounted[0]!.filesystems[0]!.mountPoint).toBe('/media/a b');
    await journal.remove('b');
    expect((await journal.list()).map((e) => e.id)).toEqual(['a']);
    expect(readdirSync(join(dir, 'state'))).toEqual(['leases.json']);
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });

  it(
    'two writers at once lose nothing (the lock serialises them), and a reader never ' + 'sees a half-written file',
    async () => {
      const one = journalAt();
      const two = journalAt();
      let readerFailures = 0;
      let reading = true;
      const reader = (async () => {
        while (reading) {
          const text = await readFile(path, 'utf8').catch(() => null);
          if (text !== null) {
            try {
              JSON.parse(text);
            } catch {
              readerFailures++;
            }
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      await Promise.all(
        Array.from({ length: 15 }, (_, i) => [one.put(entry(`one-${i}`)), two.put(entry(`two-${i}`))]).flat(),
      );
      reading = false;
      await reader;
      expect((await one.list()).length).toBe(30);
      expect(readerFailures).toBe(0);
      expect(warnings).toEqual([]);
    },
  );

  it('breaks a lock left by a dead process, with a warning', async () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 999_999_999, startTime: 'x' }));
    await journalAt().put(entry('a'));
    expect((await journalAt().list()).map((e) => e.id)).toEqual(['a']);
    expect(warnings.join('\n')).toMatch(/stale lease journal lock .* dead process 999999999/);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('waits for a live lock holder and gives up with E_BUSY', async () => {
    mkdirSync(join(dir, 'state'));
    const me = await localProcessIdentity(process.pid);
    writeFileSync(`${path}.lock`, JSON.stringify(me));
    const started = Date.now();
    const err = await journalAt({ lockTimeoutMs: 150 })
      .put(entry('a'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsbScsiError);
    expect((err as UsbScsiError).code).toBe(ErrorCodes.BUSY);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(existsSync(`${path}.lock`)).toBe(true);
  });

  it('treats an unreadable lock as stale only once it is old (its writer died between create and write)', async () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(`${path}.lock`, '');
    const fresh = await journalAt({ lockTimeoutMs: 100 })
      .put(entry('a'))
      .catch((e: UsbScsiError) => e.code);
    expect(fresh).toBe(ErrorCodes.BUSY);
    const old = new Date(Date.now() - 10_000);
    utimesSync(`${path}.lock`, old, old);
    await journalAt().put(entry('a'));
    expect((await journalAt().list()).length).toBe(1);
  });

  for (const [name, content] of [
    ['not JSON', '{"version":1,"leases":[{"id":'],
    ['the wrong shape', '{"version":1,"leases":[{"id":"x"}]}'],
    ['not an object', '42'],
  ] as const) {
    it(`moves a journal that is ${name} aside with a warning instead of crashing`, async () => {
      mkdirSync(join(dir, 'state'));
      writeFileSync(path, content);
      const journal = journalAt();
      expect(await journal.list()).toEqual([]); // a reader does not move it
      expect(warnings).toEqual([]);
      await journal.put(entry('fresh'));
      expect((await journal.list()).map((e) => e.id)).toEqual(['fresh']);
      const aside = readdirSync(join(dir, 'state')).filter((f) => f.startsWith('leases.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, 'state', aside[0]!), 'utf8')).toBe(content);
      expect(warnings[0]).toContain('moved it aside');
    });
  }
});

describe('LeaseJournal.setAsideIfCorrupt', () => {
  it(
    'moves a damaged journal aside at once, naming the devices its text still shows; ' +
      'leaves a valid or absent one alone',
    async () => {
      const journal = journalAt();
      expect(await journal.setAsideIfCorrupt()).toBeNull(); // absent
      await journal.put(entry('a'));
      await journal.put({
        ...entry('b'),
        device: { ...entry('b').device, vendorId: 0x1d6b, productId: 0x0104, busNumber: 3, portNumbers: [1] },
      });
      expect(await journal.setAsideIfCorrupt()).toBeNull(); // valid
      const whole = readFileSync(path, 'utf8');
      const truncated = whole.slice(0, whole.lastIndexOf('"holder"')); // cut inside the second entry, after its device
      writeFileSync(path, truncated);
      const aside = await journal.setAsideIfCorrupt();
      expect(aside).toMatchObject({
        path,
        movedTo: expect.stringMatching(/leases\.json\.corrupt-/),
        devices: ['1-2.3 (46f4:0001)', '3-1 (1d6b:0104)'],
      });
      expect(existsSync(path)).toBe(false);
      expect(readFileSync(aside!.movedTo, 'utf8')).toBe(truncated);
      expect(await journal.list()).toEqual([]);
      expect(readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.lock'))).toEqual([]);
    },
  );
});

describe('process identity', () => {
  it(
    'identifies this process by boot id and start ticks, and a different start time as ' +
      'another process (pid reuse)',
    async () => {
      const me = await linuxProcessIdentity(process.pid);
      expect(me?.startTime).toMatch(/^[0-9a-f-]+:\d+$/);
      expect(await isProcessAlive(linuxProcessIdentity, me!)).toBe(true);
      expect(await isProcessAlive(linuxProcessIdentity, { pid: process.pid, startTime: `${me!.startTime}0` })).toBe(
        false,
      );
      expect(await linuxProcessIdentity(999_999_999)).toBeNull();
      expect(await linuxProcessIdentity(-1)).toBeNull();
    },
  );

  it('parses a command name containing ") " and treats zombies as dead', async () => {
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, '77'), { recursive: true });
    mkdirSync(join(proc, '78'), { recursive: true });
    mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
    writeFileSync(join(proc, 'sys/kernel/random/boot_id'), 'boot-1\n');
    const rest = (state: string) =>
      `${state} 1 77 77 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615`;
    writeFileSync(join(proc, '77', 'stat'), `77 (evil) name) ${rest('S')}\n`);
    writeFileSync(join(proc, '78', 'stat'), `78 (dead) ${rest('Z')}\n`);
    expect(await linuxProcessIdentity(77, proc)).toEqual({ pid: 77, startTime: 'boot-1:98765' });
    expect(await linuxProcessIdentity(78, proc)).toBeNull();
  });
});
