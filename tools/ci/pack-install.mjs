#!/usr/bin/env node
// The packaging stage: packs every publishable package (`pnpm pack`), installs the tarballs
// into an empty directory outside the repository, offline (from the pnpm store that
// `pnpm install --frozen-lockfile` filled), and runs the installed `usbscsi` and `usbscsid`.
// Offline: the install directory gets a lockfile made from the workspace's (offline-lockfile.mjs),
// so pnpm takes every third-party package from its store and asks no registry.
// Needs `pnpm build` and `pnpm prebuild` first (the native tarball carries the prebuilds).
// The installed tree stays in <dir>/install for the VM stage (tools/vm shares it into the guest).
//   node tools/ci/pack-install.mjs [--report FILE]      dir: $USBSCSI_PACK_DIR or <tmp>/usbscsi-pack-<checkout hash>
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { offlineLockfile } from './offline-lockfile.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// One directory per checkout, so that two checkouts on one machine do not share it.
const dir = resolve(
  process.env.USBSCSI_PACK_DIR ??
    join(tmpdir(), `usbscsi-pack-${createHash('sha256').update(repo).digest('hex').slice(0, 8)}`),
);
const argv = process.argv.slice(2);
const reportAt = argv.includes('--report') ? resolve(argv[argv.indexOf('--report') + 1]) : null;
const PACKAGES = {
  '@usbscsi/native': 'native',
  '@usbscsi/core': 'packages/core',
  '@usbscsi/emulator': 'packages/emulator',
  '@usbscsi/cli': 'apps/cli',
  '@usbscsi/daemon': 'apps/daemon',
};
// The environment of the installed commands: nothing that points back into the repository.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^USBSCSI_NATIVE_BINARY$|^NODE_PATH$/.test(k)),
);
const checks = [];
const t0 = Date.now();

function check(name, fn) {
  const start = Date.now();
  try {
    const detail = fn();
    checks.push({ name, ok: true, seconds: (Date.now() - start) / 1000, ...(detail ? { detail } : {}) });
    console.log(`pack: ok: ${name}${detail ? ` (${detail})` : ''}`);
  } catch (err) {
    checks.push({ name, ok: false, seconds: (Date.now() - start) / 1000, error: err.message });
    console.log(`pack: FAIL: ${name}: ${err.message}`);
  }
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ` +
        `${(r.stderr || r.stdout || '').trim().split('\n').slice(-6).join(' | ')}`,
    );
  return r.stdout;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'tarballs'), { recursive: true });
const tarballs = {};

for (const [name, rel] of Object.entries(PACKAGES)) {
  check(`pnpm pack ${name}`, () => {
    const out = sh('pnpm', ['pack', '--pack-destination', join(dir, 'tarballs')], { cwd: join(repo, rel) });
    const file = out
      .trim()
      .split('\n')
      .filter((l) => l.endsWith('.tgz'))
      .at(-1);
    assert(file && existsSync(file), `pnpm pack printed no tarball (${out.trim().split('\n').at(-1)})`);
    const list = sh('tar', ['-tzf', file]).split('\n').filter(Boolean);
    const manifest = JSON.parse(sh('tar', ['-xzOf', file, 'package/package.json']));
    tarballs[name] = { name, dir: rel, file, rel: `../tarballs/${basename(file)}`, manifest };
    const text = JSON.stringify(manifest);
    assert(!text.includes('workspace:'), 'package.json still has workspace: versions');
    assert(manifest.license, 'no license field');
    assert(manifest.engines?.node, 'no engines.node');
    assert(list.includes('package/README.md'), 'no README.md');
    const bad = list.filter((f) => /\.test\.|\/test\/|\/build\/|\.tsbuildinfo$|\/node_modules\//.test(f));
    assert(!bad.length, `ships test or build files: ${bad.slice(0, 4).join(', ')}`);
    const wanted = [manifest.types, manifest.main, ...Object.values(manifest.bin ?? {})]
      .filter(Boolean)
      .concat(Object.values(manifest.exports ?? {}).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))));
    const missing = wanted.map((f) => `package/${f.replace(/^\.\//, '')}`).filter((f) => !list.includes(f));
    assert(!missing.length, `package.json names files the tarball lacks: ${missing.join(', ')}`);
    if (name === '@usbscsi/native') {
      const here = `package/prebuilds/linux-${process.arch}-glibc/usbscsi_native.node`;
      assert(list.includes(here), `no ${here}: run \`pnpm prebuild\` before packing`);
      assert(
        list.includes('package/prebuilds/LIBUSB-COPYING'),
        'no prebuilds/LIBUSB-COPYING: libusb (LGPL-2.1) is linked into the prebuilds and ' +
          'its licence must travel with them',
      );
      const binaries = list.filter((f) => f.endsWith('.node'));
      return `${list.length} files; prebuilds: ${binaries.map((f) => f.split('/')[2]).join(', ')}`;
    }
    return `${list.length} files`;
  });
}

const install = join(dir, 'install');
let installSeconds = 0;
check('install the tarballs offline into an empty directory', () => {
  assert(Object.keys(tarballs).length === Object.keys(PACKAGES).length, 'a package did not pack');
  mkdirSync(install, { recursive: true });
  const spec = Object.fromEntries(Object.values(tarballs).map((t) => [t.name, `file:${t.file}`]));
  // overrides: the packages' dependencies on each other resolve to these tarballs, not a registry.
  writeFileSync(
    join(install, 'package.json'),
    JSON.stringify(
      {
        name: 'usbscsi-install-check',
        private: true,
        dependencies: spec,
        pnpm: { overrides: spec },
      },
      null,
      2,
    ),
  );
  writeFileSync(
    join(install, 'pnpm-lock.yaml'),
    offlineLockfile(readFileSync(join(repo, 'pnpm-lock.yaml'), 'utf8'), Object.values(tarballs)),
  );
  const start = Date.now();
  const out = sh('pnpm', ['install', '--offline', '--frozen-lockfile', '--ignore-workspace'], {
    cwd: install,
    env: cleanEnv,
  });
  // pnpm 10 runs no dependency's install script unless approved (the prebuild needs none);
  // npm does run it: run it as npm would, to see it take the prebuild and build nothing.
  const native = join(install, 'node_modules/@usbscsi/native');
  const script = sh(process.execPath, ['scripts/install.js'], { cwd: native, env: cleanEnv });
  installSeconds = (Date.now() - start) / 1000;
  writeFileSync(join(dir, 'install.log'), out + script);
  assert(
    /using the prebuilt binary/.test(script),
    `the native install script did not take the prebuild: ${script.trim()}`,
  );
  assert(
    !existsSync(join(native, 'build')),
    `the install script built from source (${native}/build exists): the prebuild was not used`,
  );
  return `${installSeconds.toFixed(1)} s; ${script.trim()}`;
});

const bin = (name) => join(install, 'node_modules/.bin', name);
check('installed `usbscsi --device sim inquiry`', () => {
  const doc = JSON.parse(sh(bin('usbscsi'), ['--device', 'sim', 'inquiry', '--json'], { cwd: dir, env: cleanEnv }));
  assert(
    doc.vendor === 'USBSCSI' && doc.product === 'SIMULATED DISK',
    `unexpected INQUIRY: ${doc.vendor}/${doc.product}`,
  );
  return `${doc.vendor} ${doc.product}`;
});
check('installed `usbscsi doctor --json` reports the prebuilt native engine', () => {
  const doc = JSON.parse(sh(bin('usbscsi'), ['doctor', '--json'], { cwd: dir, env: cleanEnv }));
  assert(doc.engine === 'native', `engine is ${doc.engine}: ${JSON.stringify(doc.choices)}`);
  assert(doc.from === 'prebuild', `loaded from the ${doc.from}, not the prebuild`);
  assert(
    doc.path.startsWith(install + '/') && doc.path.includes(`/prebuilds/linux-${process.arch}-glibc/`),
    `loaded from ${doc.path}, not the installed prebuild`,
  );
  assert(doc.libusbVersion === '1.0.26', `libusb ${doc.libusbVersion}`);
  return `${doc.path.slice(install.length + 1)}, libusb ${doc.libusbVersion}`;
});
check('installed `usbscsi doctor` (text) names the engine and every choice', () => {
  const text = sh(bin('usbscsi'), ['doctor'], { cwd: dir, env: cleanEnv });
  assert(
    /^engine: native \(prebuilt native engine\)/m.test(text) &&
      /choices, in order:/.test(text) &&
      /node-usb/.test(text),
    text,
  );
});
check('the installed engine lists devices (none on a machine without USB) instead of failing', () => {
  const code =
    "require('@usbscsi/native').load().addon.list().then((l) => console.log(l.length), " +
    '(e) => { console.error(e.message); process.exit(1); })';
  const n = sh(process.execPath, ['-e', code], { cwd: install, env: cleanEnv }).trim();
  return `${n} device(s)`;
});
check('installed `usbscsid --help` runs', () => {
  const text = sh(bin('usbscsid'), ['--help'], { cwd: dir, env: cleanEnv });
  assert(/usbscsid/.test(text), text.slice(0, 200));
});
check('installed packages import by name (core, emulator, daemon)', () => {
  const code =
    "const c = await import('@usbscsi/core'); const e = await import('@usbscsi/emulator'); " +
    "const d = await import('@usbscsi/daemon');" +
    ("if (typeof c.openDevice !== 'function' || !Object.keys(e).length || !Object.keys(d).length) " +
      "throw new Error('missing exports');");
  writeFileSync(join(install, 'import-check.mjs'), code);
  sh(process.execPath, ['import-check.mjs'], { cwd: install, env: cleanEnv });
});

const seconds = (Date.now() - t0) / 1000;
const failed = checks.filter((c) => !c.ok).length;
console.log(
  `pack: ${checks.length - failed} passed, ${failed} failed in ${seconds.toFixed(1)} ` +
    `s (install ${installSeconds.toFixed(1)} s); installed tree: ${install}`,
);
if (reportAt) {
  mkdirSync(dirname(reportAt), { recursive: true });
  writeFileSync(reportAt, JSON.stringify({ seconds, installDir: install, checks }, null, 2) + '\n');
}
process.exit(failed ? 1 : 0);
