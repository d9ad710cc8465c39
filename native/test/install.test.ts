// The install script never fails an install: a missing tool gives one line, a recorded
// reason and exit 0 (run on a copy, so the real build is untouched).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/install.js', import.meta.url));
const loader = fileURLToPath(new URL('../loader.js', import.meta.url));
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function sandbox(): string {
  const root = mkdtempSync(join(tmpdir(), 'usbscsi-install-'));
  dirs.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(script, join(root, 'scripts', 'install.js'));
  copyFileSync(loader, join(root, 'loader.js'));
  return root;
}

function run(root: string, env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'scripts', 'install.js'), ...args], {
    env: { ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('native/scripts/install.js', () => {
  it('without pkg-config: one skip line naming the fallback, exit 0, reason recorded, stale binary removed', () => {
    const root = sandbox();
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    writeFileSync(join(root, 'build', 'Release', 'usbscsi_native.node'), 'stale');
    const r = run(root, { PATH: '/nonexistent' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '@usbscsi/native: skipped: pkg-config is not installed (needed to find libusb-1.0); ' +
        `no usable prebuild either (no prebuilds in this package (${join(root, 'prebuilds')} does not exist; ` +
        '`pnpm prebuild` makes them)); core will use the node-usb fallback',
    ]);
    expect(readFileSync(join(root, 'build', 'skip-reason.txt'), 'utf8')).toMatch(/pkg-config is not installed/);
    expect(existsSync(join(root, 'build', 'Release', 'usbscsi_native.node'))).toBe(false);
  });

  it('USBSCSI_SKIP_NATIVE skips with exit 0, with --force too (a missing prerequisite never fails a build)', () => {
    const root = sandbox();
    const env = { PATH: process.env.PATH ?? '', USBSCSI_SKIP_NATIVE: '1' };
    expect(run(root, env).status).toBe(0);
    const forced = run(root, env, '--force');
    expect(forced.status).toBe(0);
    expect(forced.stdout).toMatch(/skipped: USBSCSI_SKIP_NATIVE is set/);
  });

  it("without Node's uv.h (the event pump's header): a skip naming it, exit 0 with --force too", () => {
    const root = sandbox();
    const ok = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      USBSCSI_UV_INCLUDE: join(root, 'no-node-headers'),
    };
    const forced = run(root, env, '--force');
    expect(forced.status).toBe(0);
    // Stops earlier, at the first missing tool, on a machine without libusb or cmake.
    if (ok('pkg-config', '--exists', 'libusb-1.0') && ok('cmake', '--version')) {
      expect(forced.stdout).toMatch(/skipped: Node's headers \(uv\.h\) not found in .*no-node-headers/);
      expect(readFileSync(join(root, 'build', 'skip-reason.txt'), 'utf8')).toMatch(/uv\.h/);
    }
  });

  it(
    'with every prerequisite present, a compile that fails is exit 1 under --force (pnpm build) and ' +
      'a skip otherwise',
    () => {
      const root = sandbox();
      // cmake-js resolvable from the sandbox, but no CMakeLists.txt there: the compile itself fails.
      symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(root, 'node_modules'));
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
      const ok = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
      const uvHeader = existsSync(join(process.execPath, '../../include/node/uv.h'));
      const prerequisites =
        ok('pkg-config', '--exists', 'libusb-1.0') &&
        ok('cmake', '--version') &&
        (ok('c++', '--version') || ok('g++', '--version')) &&
        uvHeader;
      const probe = run(root, env);
      expect(probe.status).toBe(0);
      if (!prerequisites) return; // this machine stops before compiling: the missing tool is what it reports
      expect(probe.stdout).toMatch(/the addon build failed/);
      const forced = run(root, env, '--force');
      expect(forced.status).toBe(1);
      expect(forced.stdout).toMatch(/the addon build failed/);
    },
  );

  it('a failing build (no CMakeLists.txt here) is a skip with the log path, exit 0', () => {
    const r = run(sandbox(), { PATH: process.env.PATH ?? '' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        String.raw`^@usbscsi\/native: skipped: (the addon build failed \(exit .*; log: .*build\.log\)|` +
          String.raw`cmake-js is not installed.*|cmake is not installed|no C\+\+ compiler found.*|` +
          String.raw`libusb-1\.0 development files not found.*|pkg-config is not installed.*); ` +
          String.raw`no usable prebuild either \(no prebuilds in this package .*\); ` +
          String.raw`core will use the node-usb fallback\n$`,
      ),
    );
  });

  const builtAddon = fileURLToPath(new URL('../build/Release/usbscsi_native.node', import.meta.url));
  const target = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-glibc' : ''}`;

  it.runIf(existsSync(builtAddon))(
    'a prebuild for this platform that loads: the install hook builds nothing and says so',
    () => {
      const root = sandbox();
      mkdirSync(join(root, 'prebuilds', target), { recursive: true });
      copyFileSync(builtAddon, join(root, 'prebuilds', target, 'usbscsi_native.node'));
      const r = run(root, { PATH: process.env.PATH ?? '' });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(
        `@usbscsi/native: using the prebuilt binary for ${target} (libusb inside); no source build needed\n`,
      );
      expect(existsSync(join(root, 'build'))).toBe(false);
    },
  );

  it('a prebuild that does not load is named in the skip line, and the install still exits 0', () => {
    const root = sandbox();
    mkdirSync(join(root, 'prebuilds', target), { recursive: true });
    writeFileSync(join(root, 'prebuilds', target, 'usbscsi_native.node'), 'not a binary');
    const r = run(root, { PATH: '/nonexistent' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        String.raw`^@usbscsi\/native: skipped: pkg-config is not installed .*; ` +
          String.raw`no usable prebuild either \(.*usbscsi_native\.node.*\); core will use the node-usb fallback\n$`,
      ),
    );
  });

  // The prerequisites the script checks before it calls cmake-js (here a stand-in that records how
  // it was called): without them it stops earlier, which the cases above cover.
  const canReachCmakeJs = (() => {
    const ok = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
    return (
      ok('pkg-config', '--exists', 'libusb-1.0') &&
      ok('cmake', '--version') &&
      (ok('c++', '--version') || ok('g++', '--version')) &&
      existsSync(join(process.execPath, '../../include/node/uv.h'))
    );
  })();

  it.runIf(canReachCmakeJs)(
    'switching ASan on or off reconfigures (cmake-js rebuild); the same kind again only builds',
    () => {
      const root = sandbox();
      const bin = join(root, 'node_modules', 'cmake-js', 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(root, 'node_modules', 'cmake-js', 'package.json'), '{"name":"cmake-js"}');
      // Records its action and leaves a binary where a build puts it.
      writeFileSync(
        join(bin, 'cmake-js'),
        "const fs = require('fs'), path = require('path');\n" +
          "const out = process.argv[process.argv.indexOf('--out') + 1];\n" +
          "fs.appendFileSync(path.join(out, 'actions.txt'), process.argv[2] + '\\n');\n" +
          "fs.mkdirSync(path.join(out, 'Release'), { recursive: true });\n" +
          "fs.writeFileSync(path.join(out, 'Release', 'usbscsi_native.node'), '');\n",
      );
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
      const cache = (asan: boolean) => {
        mkdirSync(join(root, 'build'), { recursive: true });
        writeFileSync(join(root, 'build', 'CMakeCache.txt'), `USBSCSI_ASAN:BOOL=${asan ? 'ON' : 'OFF'}\n`);
      };
      const actions = () =>
        readFileSync(join(root, 'build', 'actions.txt'), 'utf8')
          .trim()
          .split('\n');
      expect(run(root, env, '--force').status).toBe(0); // not configured yet: build
      cache(false);
      expect(run(root, env, '--asan').status).toBe(0); // OFF -> ON
      cache(true);
      expect(run(root, env, '--asan').status).toBe(0); // ON again
      expect(run(root, env, '--force').status).toBe(0); // ON -> OFF
      expect(actions()).toEqual(['build', 'rebuild', 'build', 'rebuild']);
    },
  );
});
