/**
 * A real child process takes a lease on the file-backed fake platform, then
 * dies in each way a process can: SIGTERM, SIGINT, an uncaught exception, a
 * normal exit (release must run), SIGKILL (it cannot: recovery from this
 * process must give the device back).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultFakeOsState, FakeHandoffPlatform } from '../testing/fake-platform.js';
import { LeaseJournal } from './journal.js';
import { recoverLeases } from './recover.js';

const here = dirname(fileURLToPath(import.meta.url));
const coreSrc = join(here, '..');
let build: string;
let work: string;
let fake: FakeHandoffPlatform;
let journal: LeaseJournal;

/**
 * Transpile core's errors, handoff and topology modules and the fake OS to plain ESM the child can import (no type
 * checking needed here).
 */
beforeAll(() => {
  build = mkdtempSync(join(tmpdir(), 'usbscsi-handoff-build-'));
  writeFileSync(join(build, 'package.json'), '{"type":"module"}');
  const sources = (dir: string) =>
    readdirSync(join(coreSrc, dir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => `${dir}/${f}`);
  const files = [
    'errors.ts',
    'hex.ts',
    'usb/location.ts',
    'usb/backend.ts',
    'testing/fake-platform.ts',
    ...sources('handoff'),
    ...sources('topology'),
  ];
  for (const dir of ['handoff', 'topology', 'testing', 'usb']) mkdirSync(join(build, dir));
  for (const file of files) {
    const out = ts.transpileModule(readFileSync(join(coreSrc, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    writeFileSync(join(build, file.replace(/\.ts$/, '.js')), out.outputText);
  }
  writeFileSync(
    join(build, 'child.mjs'),
    `
import { acquireLease } from './handoff/lease.js';
import { FakeHandoffPlatform } from './testing/fake-platform.js';
import { LeaseJournal } from './handoff/journal.js';
const [stateFile, journalPath, mode] = process.argv.slice(2);
const platform = new FakeHandoffPlatform({ stateFile });
const journal = new LeaseJournal({ path: journalPath });
const device = { vendorId: 0x46f4, productId: 1, busNumber: 1, portNumbers: [2], interfaceNumber: 0 };
const lease = await acquireLease(device, { platform, journal, unmount: true, remount: true });
lease.onRelease(() => console.log('hook'));
console.log('held');
if (mode === 'throw') setTimeout(() => { throw new Error('child blew up'); }, 20);
else if (mode === 'exit') setTimeout(() => process.exit(3), 20);
else if (mode === 'wait') setInterval(() => {}, 1000);
// mode 'drain': nothing keeps the event loop alive: a normal exit
`,
  );
});
afterAll(() => rmSync(build, { recursive: true, force: true }));

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'usbscsi-handoff-proc-'));
  fake = new FakeHandoffPlatform({ stateFile: join(work, 'os.json'), initial: defaultFakeOsState() });
  journal = new LeaseJournal({ path: join(work, 'leases.json') });
  return () => rmSync(work, { recursive: true, force: true });
});

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(mode: 'wait' | 'throw' | 'drain' | 'exit'): {
  child: ChildProcess;
  held: Promise<void>;
  ended: Promise<Ended>;
} {
  const child = spawn(process.execPath, [join(build, 'child.mjs'), fake.stateFile, journal.path, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onHeld!: () => void;
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('held')) onHeld();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<Ended>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  void ended.then(onHeld); // never wait forever for "held" if the child died first
  return { child, held, ended };
}

const isRoot = process.getuid?.() === 0;
describe('an unprivileged user on Linux', () => {
  it.skipIf(!isRoot)(
    'is refused up front with E_PERMISSION naming the fix (SKIPPED unless root: needs to start a child as uid 65534)',
    async () => {
      const sys = join(work, 'sys', 'bus/usb/drivers/usb-storage');
      mkdirSync(sys, { recursive: true });
      for (const file of ['bind', 'unbind']) writeFileSync(join(sys, file), '', { mode: 0o200 });
      chmodSync(build, 0o755);
      chmodSync(work, 0o755);
      const script = `
      import { createLinuxPlatform } from '${join(build, 'handoff/linux.js')}';
      const platform = createLinuxPlatform({ sysfsRoot: '${join(work, 'sys')}' });
      const storage = { driver: 'usb-storage', wholeDisks: [], partitions: [], mounts: [] };
      try { await platform.checkAccess({}, storage); console.log('ALLOWED'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`;
      const run = (uid: number) =>
        spawnSync(process.execPath, ['--input-type=module', '-e', script], {
          uid,
          gid: uid,
          encoding: 'utf8',
        }).stdout.trim();
      expect(run(0)).toBe('ALLOWED');
      const refused = run(65534);
      expect(refused).toMatch(/^E_PERMISSION /);
      expect(refused).toContain('sudo');
    },
  );
});

describe('a lease holder process', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`gives the device back on ${signal} and still dies of ${signal}`, async () => {
      const before = fake.snapshot();
      const { child, held, ended } = start('wait');
      await held;
      expect(fake.read().driver).toBeNull();
      expect(fake.read().mounts).toEqual([]);
      child.kill(signal);
      const end = await ended;
      expect(end.signal).toBe(signal);
      expect(end.stdout).toContain('hook');
      expect(fake.snapshot()).toEqual(before);
      expect(await journal.list()).toEqual([]);
    });
  }

  it('gives the device back on an uncaught exception, then fails with it (exit 1)', async () => {
    const before = fake.snapshot();
    const { ended } = start('throw');
    const end = await ended;
    expect(end.code).toBe(1);
    expect(end.stderr).toContain('child blew up');
    expect(fake.snapshot()).toEqual(before);
    expect(await journal.list()).toEqual([]);
  });

  it('gives the device back when its event loop drains (normal exit, code 0)', async () => {
    const before = fake.snapshot();
    const end = await start('drain').ended;
    expect(end.code).toBe(0);
    expect(end.stdout).toContain('hook');
    expect(fake.snapshot()).toEqual(before);
  });

  it(
    'exiting through process.exit() (no async code runs), a detached helper gives the ' + 'device back once it is gone',
    async () => {
      const before = fake.snapshot();
      const end = await start('exit').ended;
      expect(end.code).toBe(3);
      expect(end.stderr).toContain('given back as soon as this process is gone');
      for (let i = 0; i < 200 && JSON.stringify(fake.snapshot()) !== JSON.stringify(before); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(fake.snapshot()).toEqual(before);
      for (let i = 0; i < 50 && (await journal.list()).length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await journal.list()).toEqual([]);
    },
  );

  it('SIGKILLed, it cannot; recoverLeases from another process gives the device back', async () => {
    const before = fake.snapshot();
    const { child, held, ended } = start('wait');
    await held;
    // While it lives, recovery leaves it alone.
    const whileAlive = await recoverLeases(fake, journal);
    expect(whileAlive.held).toHaveLength(1);
    expect(whileAlive.recovered).toEqual([]);
    expect(fake.read().driver).toBeNull();

    child.kill('SIGKILL');
    expect((await ended).signal).toBe('SIGKILL');
    expect(fake.read().driver).toBeNull();
    const [entry] = await journal.list();
    expect(entry!.holder.pid).toBe(child.pid);

    const report = await recoverLeases(fake, journal);
    expect(report.recovered).toHaveLength(1);
    expect(report.recovered[0]!.remounted.map((m) => m.mountPoint)).toEqual(['/media/stick', '/media/stick/data']);
    expect(fake.snapshot()).toEqual(before);
    expect(await journal.list()).toEqual([]);
  });
});
