/**
 * The built `usbscsi` as a user runs it: real exit statuses, the pcapng
 * trace decoded by tshark, and the progress bar seen through a pseudo-
 * terminal (`script` from util-linux).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../src/exit-codes.js';
import { cliMain, hasScript, hasTshark, repoRoot, tsharkFields } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'usbscsi-spawn-'));

function usbscsi(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cliMain, ...args], {
    encoding: 'utf8',
    cwd: tmp,
    ...(input !== undefined ? { input } : {}),
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Newest modification time of the .ts sources under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether `output` (under the repository) is older than the newest source of any of `packages`. */
function stale(output: string, packages: readonly string[]): boolean {
  const built = existsSync(join(repoRoot, output)) ? statSync(join(repoRoot, output)).mtimeMs : 0;
  return packages.some((pkg) => newestSource(join(repoRoot, pkg, 'src')) > built);
}

beforeAll(() => {
  // The binary is apps/cli/dist: one bundle of the CLI with core's and the emulator's dist. Build
  // what is stale (after `pnpm build` nothing is, so this never races the workspace build).
  for (const pkg of ['packages/core', 'packages/emulator']) {
    if (!stale(`${pkg}/dist/index.js`, [pkg])) continue;
    try {
      execFileSync(
        process.execPath,
        [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, pkg, 'tsconfig.json')],
        { cwd: repoRoot, stdio: 'pipe' },
      );
    } catch (err) {
      // tsc still emits on type errors; the typecheck is the build's job, running the binary is ours.
      if (!existsSync(join(repoRoot, pkg, 'dist/index.js'))) throw err;
      console.warn(
        `tsc reported errors in ${pkg}; testing its emitted output anyway:\n` +
          String((err as { stdout?: Buffer }).stdout ?? '').slice(0, 2000),
      );
    }
  }
  if (stale('apps/cli/dist/main.js', ['packages/core', 'packages/emulator', 'apps/cli']))
    execFileSync(process.execPath, [join(repoRoot, 'apps/cli/node_modules/rolldown/bin/cli.mjs'), '-c'], {
      cwd: join(repoRoot, 'apps/cli'),
      stdio: 'pipe',
    });
}, 240_000);

describe('the built binary', () => {
  it('usbscsi --device sim inquiry prints the INQUIRY summary, exit 0', () => {
    const r = usbscsi(['--device', 'sim', 'inquiry']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Vendor:\s+USBSCSI\nProduct:\s+SIMULATED DISK\nRevision:\s+0\.1\n/m);
  });

  it('exit statuses reach the shell: ILLEGAL REQUEST 24, usage 2, help 0', () => {
    expect(usbscsi(['--device', 'sim', 'raw', 'ff', '00', '00', '00', '00', '00', '--yes']).code).toBe(
      ExitCode.SENSE_ILLEGAL_REQUEST,
    );
    const bad = usbscsi(['--device', 'sim', 'raw', 'xyz']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('"xyz" is not hexadecimal')]);
    const help = usbscsi(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit status:');
    expect(usbscsi([]).code).toBe(ExitCode.USAGE);
  });

  it('read into a pipe gives raw bytes; --json errors are one document', () => {
    const r = spawnSync(process.execPath, [cliMain, '--device', 'sim', 'read', '--lba', '0', '--blocks', '4'], {
      cwd: tmp,
    });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(2048);
    const j = usbscsi(['--device', 'sim', '--json', 'read', '--lba', '99999999', '--blocks', '1', '-o', 'x.bin']);
    expect(j.code).toBe(ExitCode.USAGE);
    expect(JSON.parse(j.stdout)).toMatchObject({
      error: { code: 'E_BAD_INPUT', message: expect.stringContaining('past the end') },
    });
  });
});

describe('Ctrl-C', () => {
  it('SIGINT stops a long transfer, releases the device and exits 130', async () => {
    const child = spawn(
      process.execPath,
      [cliMain, '--verbose', '--device', 'sim:blocks=200000000', 'bench', '--size', '90G', '--tur', '5'],
      { cwd: tmp },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Signal once the device is being opened (--verbose reports the open's reset recovery), not
    // after a fixed wait: on a loaded CI machine node had not started within 1.5 s, and the default
    // SIGINT action killed it (exit null) before its handler existed.
    const started = Date.now();
    while (child.exitCode === null && !stderr.includes('reset recovery (open') && Date.now() - started < 15_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(stderr, 'the device open was reported before the signal').toContain('reset recovery (open');
    expect(child.exitCode, `exited before the signal: ${stderr}`).toBeNull();
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(ExitCode.INTERRUPTED);
    expect(stderr).toContain('SIGINT: stopping and releasing the device');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!hasTshark)(
  `--trace decoded by tshark${hasTshark ? '' : ' (SKIPPED LOUDLY: tshark is not installed; apt-get install tshark)'}`,
  () => {
    it('INQUIRY: the CBW opcode 0x12, its tag, and the vendor id in the data', () => {
      const file = join(tmp, 'inquiry.pcapng');
      expect(usbscsi(['--device', 'sim', '--trace', file, 'raw', '12 00 00 00 24 00', '--in', '36']).code).toBe(0);
      const rows = tsharkFields(file, ['usbms.dCBWTag', 'scsi_sbc.opcode', 'scsi.inquiry.vendor_id']);
      expect(rows.some((r) => r[1] === '0x12')).toBe(true);
      expect(rows.some((r) => r[2]?.trim() === 'USBSCSI')).toBe(true);
      expect(rows.filter((r) => r[0]).length).toBeGreaterThanOrEqual(2); // CBW and CSW carry the tag
    });

    it('read: READ CAPACITY(10) then READ(10)', () => {
      const file = join(tmp, 'read.pcapng');
      expect(
        usbscsi(['--device', 'sim', '--trace', file, 'read', '--lba', '8', '--blocks', '2', '-o', join(tmp, 'r.bin')])
          .code,
      ).toBe(0);
      const opcodes = tsharkFields(file, ['scsi_sbc.opcode'])
        .map((r) => r[0])
        .filter(Boolean);
      expect(opcodes).toContain('0x25');
      expect(opcodes).toContain('0x28');
      expect(opcodes.indexOf('0x25')).toBeLessThan(opcodes.lastIndexOf('0x28'));
    });

    it('a failing command: REQUEST SENSE follows and the sense key decodes as ILLEGAL REQUEST', () => {
      const file = join(tmp, 'sense.pcapng');
      expect(usbscsi(['--device', 'sim', '--trace', file, 'raw', 'ff 00 00 00 00 00', '--yes']).code).toBe(
        ExitCode.SENSE_ILLEGAL_REQUEST,
      );
      const rows = tsharkFields(file, ['scsi_sbc.opcode', 'scsi.sns.key', 'scsi.sns.ascascq']);
      expect(rows.some((r) => r[0] === '0x03')).toBe(true);
      expect(rows.some((r) => r[1] === '0x05')).toBe(true);
      expect(rows.some((r) => r[2] === '0x2000')).toBe(true);
    });

    it('an unwritable trace path is exit 2 before anything is sent', () => {
      const r = usbscsi(['--device', 'sim', '--trace', '/nonexistent-dir/t.pcapng', 'tur']);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toContain('Choose a writable path for --trace');
    });
  },
);

describe.skipIf(!hasScript)(
  `progress bar${hasScript ? '' : ' (SKIPPED LOUDLY: `script` from util-linux is not installed)'}`,
  () => {
    const args = ['--device', 'sim:blocks=65536', 'read', '--lba', '0', '--bytes', '24M', '-o'];

    it('is drawn (bytes, MB/s, ETA) when stderr is a terminal', () => {
      const out = join(tmp, 'tty.bin');
      const command = [process.execPath, cliMain, ...args, out].map((a) => `'${a}'`).join(' ');
      // script gives the child a pseudo-terminal; -e passes its exit status through.
      const r = spawnSync('script', ['-qefc', command, '/dev/null'], { encoding: 'utf8', cwd: tmp, timeout: 60_000 });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/read \[[█░]+\] 100% \| 24\.0 MiB \/ 24\.0 MiB \| [\d.]+ MB\/s \| ETA \d+s/);
      expect(statSync(out).size).toBe(24 * 1024 * 1024);
    });

    it('stays quiet when stderr is a pipe', () => {
      const out = join(tmp, 'pipe.bin');
      const r = usbscsi([...args, out]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(readFileSync(out).length).toBe(24 * 1024 * 1024);
    });
  },
);

/**
 * What a run of the built binary loads, recorded by a module loader hook: the files (bundle chunks,
 * and anything outside the bundle such as the native addon) and, through dist/chunks.json, the
 * source modules those chunks hold. A command loads its own module and what it uses, not every
 * command, core's package root or the emulator.
 */
function loadedBy(args: string[]): { files: string[]; modules: string[] } {
  const hook = join(tmp, 'record-loads.mjs');
  const register = join(tmp, 'register-record-loads.mjs');
  writeFileSync(
    hook,
    "import { writeSync } from 'node:fs';\n" +
      'export async function load(url, context, next) {\n' +
      "  if (url.startsWith('file:')) writeSync(2, `LOADED ${url}\\n`);\n" +
      '  return next(url, context);\n}\n',
  );
  // CommonJS and native addons (.node) go through require: listed from its cache at exit.
  writeFileSync(
    register,
    "import { createRequire, register } from 'node:module';\n" +
      `register(${JSON.stringify(pathToFileURL(hook).href)});\n` +
      'const { cache } = createRequire(import.meta.url);\n' +
      "process.on('exit', () => {\n" +
      '  for (const f of Object.keys(cache)) process.stderr.write(`LOADED file://${f}\\n`);\n});\n',
  );
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, cliMain, ...args], {
    encoding: 'utf8',
    cwd: tmp,
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const files = [...r.stderr.matchAll(/^LOADED (.*)$/gm)].map((m) => fileURLToPath(m[1]!).slice(repoRoot.length));
  const chunks = JSON.parse(readFileSync(join(repoRoot, 'apps/cli/dist/chunks.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const modules = files.flatMap((f) => (f.startsWith('apps/cli/dist/') ? (chunks[f.slice(14)] ?? [f]) : [f]));
  return { files, modules };
}

describe('what a run loads (lazy loading)', () => {
  // Not loaded by inquiry: core's root, bridges, firmware, handoff, daemon client, trace, backends.
  it('--device sim inquiry: its command module and the device path of core only', () => {
    const { files, modules } = loadedBy(['--device', 'sim', 'inquiry']);
    expect(modules).toContain('apps/cli/src/commands/info.ts');
    expect(modules).toContain('packages/emulator/dist/index.js');
    const commands = modules.filter((f) => f.startsWith('apps/cli/src/commands/'));
    expect(commands.sort()).toEqual(
      ['apps/cli/src/commands/describe.ts', 'apps/cli/src/commands/index.ts', 'apps/cli/src/commands/info.ts'].sort(),
    );
    const core = modules.filter((f) => f.startsWith('packages/core/dist/'));
    expect(core).toContain('packages/core/dist/open.js');
    expect(core).not.toContain('packages/core/dist/index.js');
    const heavy = /^packages\/core\/dist\/(bridges|firmware|handoff|client|trace|backends|sg|topology)\//;
    expect(core.filter((f) => heavy.test(f))).toEqual([]);
    expect(modules.some((f) => f.includes('cli-progress'))).toBe(false);
    // Start-up is paid per file Node loads: the bundle's chunks, not a hundred modules.
    expect(files.every((f) => f.startsWith('apps/cli/dist/'))).toBe(true);
    expect(files.length).toBeLessThan(20);
  });

  it('--version: the launcher and the program chunk (commander, the program), no command module', () => {
    const { files, modules } = loadedBy(['--version']);
    expect(files[0]).toBe('apps/cli/dist/main.js');
    expect(files.length).toBeLessThanOrEqual(4); // main, the program, rolldown's runtime, core's errors
    expect(modules).toContain('apps/cli/src/program.ts');
    expect(modules.filter((f) => f.startsWith('apps/cli/src/commands/'))).toEqual(['apps/cli/src/commands/index.ts']);
    expect(modules.filter((f) => f.startsWith('packages/'))).toEqual(['packages/core/dist/errors.js']);
  });

  it('--help: no emulator, no device session, no native addon, no node-usb', () => {
    const { modules } = loadedBy(['--help']);
    expect(modules.length).toBeGreaterThan(10); // the recording works: commander, program, commands...
    expect(modules.filter((f) => f.startsWith('packages/emulator/'))).toEqual([]);
    expect(modules).not.toContain('apps/cli/src/context.ts');
    // The addon package (native/index.js loads the .node binary) and node-usb's `usb` package.
    expect(modules.filter((f) => f.startsWith('native/') || /\/node_modules\/usb\//.test(f))).toEqual([]);
  });
});

/** The export of the bundle chunk holding `source` whose function or class is called `name`. */
function bundleExport(source: string, name: string): string {
  const chunks = JSON.parse(readFileSync(join(repoRoot, 'apps/cli/dist/chunks.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const chunk = Object.keys(chunks).find((file) => chunks[file]!.includes(source));
  if (chunk === undefined) throw new Error(`no chunk holds ${source}`);
  const file = JSON.stringify(join(repoRoot, 'apps/cli/dist', chunk));
  return `Object.values(require(${file})).find((v) => v?.name === ${JSON.stringify(name)})`;
}

describe("the bundle's after-exit helper", () => {
  // Regression: the bundled helper imported recover.js and journal.js next to the chunk holding
  // exit-helper.js, files a bundle does not have: a lease held at process.exit() stayed detached.
  it('a lease still held at process.exit() is given back by the helper the bundle starts', async () => {
    const work = mkdtempSync(join(tmp, 'exit-helper-'));
    const stateFile = join(work, 'os.json');
    const journalPath = join(work, 'leases.json');
    const fakePlatform = pathToFileURL(join(repoRoot, 'packages/core/dist/testing/fake-platform.js')).href;
    const { FakeHandoffPlatform, defaultFakeOsState } = (await import(
      fakePlatform
    )) as typeof import('@usbscsi/core/testing');
    const fake = new FakeHandoffPlatform({ stateFile, initial: defaultFakeOsState() });
    const before = fake.snapshot();
    const child = join(work, 'child.cjs');
    writeFileSync(
      child,
      `const acquireLease = ${bundleExport('packages/core/dist/handoff/lease.js', 'acquireLease')};\n` +
        `const LeaseJournal = ${bundleExport('packages/core/dist/handoff/journal.js', 'LeaseJournal')};\n` +
        `import(${JSON.stringify(fakePlatform)}).then(async ({ FakeHandoffPlatform }) => {\n` +
        `  const platform = new FakeHandoffPlatform({ stateFile: ${JSON.stringify(stateFile)} });\n` +
        `  const journal = new LeaseJournal({ path: ${JSON.stringify(journalPath)} });\n` +
        '  const device = { vendorId: 0x46f4, productId: 1, busNumber: 1, portNumbers: [2], interfaceNumber: 0 };\n' +
        '  await acquireLease(device, { platform, journal, unmount: true, remount: true });\n' +
        '  process.exit(3);\n' +
        '});\n',
    );
    const r = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('given back as soon as this process is gone');
    expect(fake.read().driver).toBeNull(); // the child left it detached
    for (let i = 0; i < 200 && JSON.stringify(fake.snapshot()) !== JSON.stringify(before); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fake.snapshot()).toEqual(before);
  }, 30_000);
});

// Node 22.1+ has its own compile cache, which the launcher switches on instead of this one.
const nodeModule = (await import('node:module')).default as { enableCompileCache?: unknown };
const ownCompileCache = typeof nodeModule.enableCompileCache !== 'function';

describe.skipIf(!ownCompileCache)('compile cache (Node 20: the launcher keeps V8 code caches of the chunks)', () => {
  const cacheOf = (xdg: string) => join(xdg, 'usbscsi', `v8-${process.version}-${process.arch}`);
  const inquiry = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [cliMain, '--device', 'sim', 'inquiry'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '', ...env },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Vendor:\s+USBSCSI$/m);
  };

  it('writes one private cache per hashed chunk a run loads, then reads them back unchanged', () => {
    const xdg = mkdtempSync(join(tmp, 'xdg-'));
    inquiry({ XDG_CACHE_HOME: xdg });
    const dir = cacheOf(xdg);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(5);
    expect(files.every((f) => /^[\w-]+\.[\w-]{8}\.js\.cache$/.test(f))).toBe(true); // not main.js: unhashed
    expect(files.some((f) => f.startsWith('cli.'))).toBe(true);
    const written = files.map((f) => statSync(join(dir, f)));
    expect(written.every((s) => (s.mode & 0o777) === 0o600)).toBe(true);
    inquiry({ XDG_CACHE_HOME: xdg });
    // Accepted by V8, so not written again.
    expect(files.map((f) => statSync(join(dir, f)).mtimeMs)).toEqual(written.map((s) => s.mtimeMs));
  });

  it('a cache V8 rejects (garbage) or one others may write is not used, and is replaced', () => {
    const xdg = mkdtempSync(join(tmp, 'xdg-'));
    inquiry({ XDG_CACHE_HOME: xdg });
    const dir = cacheOf(xdg);
    const [first, second] = readdirSync(dir).filter((f) => f.startsWith('cli.') || f.startsWith('open.'));
    writeFileSync(join(dir, first!), Buffer.alloc(4096, 0x5a));
    writeFileSync(join(dir, second!), readFileSync(join(dir, second!)), { mode: 0o666 });
    chmodSync(join(dir, second!), 0o666);
    inquiry({ XDG_CACHE_HOME: xdg });
    expect(readFileSync(join(dir, first!)).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
    expect(statSync(join(dir, second!)).mode & 0o777).toBe(0o600);
  });

  it.skipIf(process.getuid?.() !== 0)(
    `as root under another user's cache home (sudo keeping HOME): nothing written there${
      process.getuid?.() === 0 ? '' : ' (SKIPPED LOUDLY: needs root to own a directory as another user)'
    }`,
    () => {
      const xdg = mkdtempSync(join(tmp, 'xdg-'));
      chownSync(xdg, 65534, 65534);
      inquiry({ XDG_CACHE_HOME: xdg });
      expect(readdirSync(xdg)).toEqual([]);
    },
  );

  it('a cache directory others may write, or NODE_DISABLE_COMPILE_CACHE, turns it off', () => {
    const xdg = mkdtempSync(join(tmp, 'xdg-'));
    mkdirSync(cacheOf(xdg), { recursive: true });
    chmodSync(cacheOf(xdg), 0o777);
    inquiry({ XDG_CACHE_HOME: xdg });
    expect(readdirSync(cacheOf(xdg))).toEqual([]);
    const off = mkdtempSync(join(tmp, 'xdg-'));
    inquiry({ XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(readdirSync(off)).toEqual([]);
  });
});
