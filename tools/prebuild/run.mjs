#!/usr/bin/env node
// `pnpm prebuild`: the four prebuilt binaries of @usbscsi/native, libusb linked in statically,
// into native/prebuilds/<target>/ with a manifest.json each; then every binary is checked
// (check.mjs) and the one for this machine is loaded. Says which targets were skipped and why.
//   node tools/prebuild/run.mjs [linux-x64 linux-arm64 darwin-arm64 darwin-x64] [--report FILE]
// Exit 1 when a build or a check failed; a skipped target (no macOS SDK; not root) is not a failure.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBinary, GLIBC_FLOOR } from './check.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const prebuilds = join(repo, 'native/prebuilds');
const TARGETS = {
  'linux-x64': { platform: 'linux', arch: 'x64', libc: 'glibc', dir: 'linux-x64-glibc' },
  'linux-arm64': { platform: 'linux', arch: 'arm64', libc: 'glibc', dir: 'linux-arm64-glibc' },
  'darwin-arm64': { platform: 'darwin', arch: 'arm64', dir: 'darwin-arm64' },
  'darwin-x64': { platform: 'darwin', arch: 'x64', dir: 'darwin-x64' },
};

const argv = process.argv.slice(2);
const reportAt = argv.includes('--report') ? resolve(argv[argv.indexOf('--report') + 1]) : null;
const wanted = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--report');
for (const t of wanted)
  if (!TARGETS[t]) {
    console.error(`prebuild: unknown target ${t} (${Object.keys(TARGETS).join(', ')})`);
    process.exit(2);
  }
const targets = wanted.length ? wanted : Object.keys(TARGETS);

const pinned = Object.fromEntries(
  readFileSync(join(here, 'common.sh'), 'utf8')
    .split('\n')
    .map((l) => /^([A-Z_]+)='([^']*)'$/.exec(l))
    .filter(Boolean)
    .map((m) => [m[1], m[2]]),
);
const results = {};
const t0 = Date.now();

function runStep(script, args) {
  const start = Date.now();
  const r = spawnSync('bash', [join(here, script), ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout ?? '');
  return { ok: r.status === 0, out: r.stdout ?? '', seconds: (Date.now() - start) / 1000 };
}

// A binary left from an earlier run must never pass for this one.
for (const t of targets) rmSync(join(prebuilds, TARGETS[t].dir), { recursive: true, force: true });

const linux = targets.filter((t) => TARGETS[t].platform === 'linux').map((t) => TARGETS[t].arch);
if (linux.length) {
  const why =
    process.getuid?.() !== 0
      ? 'needs root (debootstrap and chroot make the Debian 11 build environment)'
      : process.platform !== 'linux'
        ? 'needs a Linux machine'
        : null;
  if (why) for (const a of linux) results[`linux-${a}`] = { status: 'skipped', reason: why };
  else {
    const step = runStep('build-linux.sh', linux);
    for (const a of linux) if (!step.ok) results[`linux-${a}`] = { status: 'failed', reason: 'build failed (above)' };
  }
}
const darwin = targets.filter((t) => TARGETS[t].platform === 'darwin').map((t) => TARGETS[t].arch);
if (darwin.length) {
  const step = runStep('build-darwin.sh', darwin);
  for (const a of darwin) {
    if (/skipped: no macOS SDK/.test(step.out)) results[`darwin-${a}`] = { status: 'skipped', reason: 'no macOS SDK' };
    else if (!step.ok) results[`darwin-${a}`] = { status: 'failed', reason: 'build failed (above)' };
  }
}

const libusbVersion = pinned.LIBUSB_VERSION;
// libusb is LGPL-2.1+: its licence travels with the binaries that link it (the addon's source,
// shipped in the package, lets a user relink against another libusb).
const cache =
  process.env.USBSCSI_PREBUILD_CACHE ??
  (process.getuid?.() === 0
    ? '/var/cache/usbscsi-prebuild'
    : join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'), 'usbscsi-prebuild'));
const copying = join(cache, 'src', `libusb-${libusbVersion}`, 'COPYING');
if (Object.values(results).length < targets.length && existsSync(copying))
  copyFileSync(copying, join(prebuilds, 'LIBUSB-COPYING'));
for (const name of targets) {
  if (results[name]) continue;
  const target = TARGETS[name];
  const file = join(prebuilds, target.dir, 'usbscsi_native.node');
  if (!existsSync(file)) {
    results[name] = { status: 'failed', reason: `the build left no ${file}` };
    continue;
  }
  const { facts, failures } = checkBinary(file, target);
  if (target.platform === process.platform && target.arch === process.arch) {
    // The one binary this machine can run: load it in a fresh Node and ask libusb its version.
    try {
      const v = execFileSync(process.execPath, ['-p', `require(${JSON.stringify(file)}).libusbVersion().text`], {
        encoding: 'utf8',
      }).trim();
      facts.loaded = `loaded in Node ${process.version}: libusb ${v}`;
      if (v !== libusbVersion) failures.push(`libusbVersion() says ${v}, expected ${libusbVersion}`);
    } catch (err) {
      failures.push(`Node ${process.version} could not load it: ${String(err.stderr || err.message).split('\n')[0]}`);
    }
  }
  const manifest = {
    target: target.dir,
    platform: target.platform,
    arch: target.arch,
    ...(target.libc ? { libc: target.libc } : {}),
    file: 'usbscsi_native.node',
    size: facts.size,
    sha256: facts.sha256,
    napiVersion: 8,
    libusb: {
      version: libusbVersion,
      source: `Debian source package libusb-1.0 ${pinned.LIBUSB_DEB_VERSION}`,
      linked: 'static',
      udev: false,
    },
    ...(target.platform === 'linux'
      ? {
          glibcFloor: GLIBC_FLOOR,
          glibcNeeded: facts.glibc,
          glibcxxNeeded: facts.glibcxx,
          builtIn: `Debian ${pinned.BUILD_SUITE}`,
        }
      : { macosMin: facts.macosMin }),
    needs: facts.needed,
  };
  writeFileSync(join(prebuilds, target.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  results[name] = failures.length ? { status: 'failed', reason: failures.join('; '), facts } : { status: 'ok', facts };
}

console.log('\nprebuild: summary');
for (const name of targets) {
  const r = results[name];
  const f = r.facts;
  const detail =
    r.status === 'ok'
      ? `${f.size} bytes, needs ${f.needed.join(' ')}` +
        (f.glibc ? `; GLIBC_${f.glibc} at most (floor ${GLIBC_FLOOR})` : '') +
        (f.macosMin ? `; macOS ${f.macosMin}+` : '') +
        (f.loaded ? `; ${f.loaded}` : '')
      : r.reason;
  console.log(`  ${name.padEnd(13)} ${r.status.padEnd(8)} ${detail}`);
}
const seconds = (Date.now() - t0) / 1000;
console.log(
  `prebuild: ${Object.values(results).filter((r) => r.status === 'ok').length} built, ` +
    `${Object.values(results).filter((r) => r.status === 'skipped').length} skipped, ` +
    `${Object.values(results).filter((r) => r.status === 'failed').length} failed in ${seconds.toFixed(0)} s`,
);
if (reportAt) {
  mkdirSync(dirname(reportAt), { recursive: true });
  writeFileSync(reportAt, JSON.stringify({ seconds, results }, null, 2) + '\n');
}
process.exit(Object.values(results).some((r) => r.status === 'failed') ? 1 : 0);
