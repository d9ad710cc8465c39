#!/usr/bin/env node
// Builds the addon from source with cmake-js (offline), where no prebuilt binary serves.
// Install never fails: when libusb-1.0, a compiler or cmake is missing, or the build fails,
// it prints ONE line saying why, records the reason in build/skip-reason.txt (index.js and
// `usbscsi doctor` report it) and exits 0; the prebuild, if any, or node-usb is used instead.
//   node scripts/install.js            (npm/pnpm install hook: nothing to do when the prebuild
//                                        for this platform loads)
//   node scripts/install.js --force    (pnpm run build: exits 1 if the compile itself fails with every
//                                        prerequisite present; a missing prerequisite is still a skip)
//   node scripts/install.js --asan     (AddressSanitizer build, -DUSBSCSI_ASAN=ON)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const reasonFile = path.join(buildDir, 'skip-reason.txt');
const logFile = path.join(buildDir, 'build.log');
const force = process.argv.includes('--force');
const asan = process.argv.includes('--asan');

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** USBSCSI_ASAN of the configured build directory, or null when it is not configured. */
function cachedAsan() {
  try {
    const m = /^USBSCSI_ASAN:BOOL=(\w+)$/m.exec(fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8'));
    return m ? m[1] === 'ON' : null;
  } catch {
    return null;
  }
}

let prebuildWhy = null; // why no prebuild serves (install hook only; --force does not look)

function skip(reason, compileFailed = false) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(reasonFile, reason + '\n');
  // never leave a stale binary behind
  fs.rmSync(path.join(buildDir, 'Release', 'usbscsi_native.node'), { force: true });
  const then = prebuildWhy
    ? `no usable prebuild either (${prebuildWhy}); core will use the node-usb fallback`
    : force
      ? 'core will use the prebuild if one loads, else the node-usb fallback'
      : 'core will use the node-usb fallback';
  console.log(`@usbscsi/native: skipped: ${reason}; ${then}`);
  process.exit(force && compileFailed ? 1 : 0);
}

// The prebuild for this platform, loaded in a child process (a binary that crashes on load must
// not take the install down): null when it loads, else why not.
function prebuildProblem() {
  const probe = `const c = require('./loader.js').candidates(process.cwd(), {})
      .order.find((x) => x.kind === 'prebuild');
    if (c.skip) { console.log(c.skip); process.exit(1); }
    try { require(c.path); } catch (e) {
      console.log('the prebuild ' + c.path + ' failed to load: ' + String(e.message).split('\\n')[0]);
      process.exit(1);
    }
    console.log(c.target);`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' });
  return r.status === 0
    ? { target: r.stdout.trim() }
    : { problem: r.stdout.trim() || r.stderr.trim().split('\n')[0] || `exit ${r.status}` };
}

function main() {
  if (!force && !asan) {
    const prebuild = prebuildProblem();
    if (prebuild.target) {
      console.log(
        `@usbscsi/native: using the prebuilt binary for ${prebuild.target} (libusb inside); no source build needed`,
      );
      return;
    }
    prebuildWhy = prebuild.problem;
  }
  if (process.env.USBSCSI_SKIP_NATIVE) return skip('USBSCSI_SKIP_NATIVE is set');
  if (!has('pkg-config')) return skip('pkg-config is not installed (needed to find libusb-1.0)');
  if (!has('pkg-config', ['--exists', 'libusb-1.0'])) {
    return skip(
      'libusb-1.0 development files not found by pkg-config (install libusb-1.0-0-dev, or `brew install libusb`)',
    );
  }
  if (!has('cmake')) return skip('cmake is not installed');
  // libuv's header, for the event pump: beside the running node, as CMakeLists.txt looks for it.
  const uvInclude = process.env.USBSCSI_UV_INCLUDE || path.resolve(process.execPath, '../../include/node');
  if (!fs.existsSync(path.join(uvInclude, 'uv.h'))) {
    return skip(
      `Node's headers (uv.h) not found in ${uvInclude} (install Node's development headers, or set USBSCSI_UV_INCLUDE)`,
    );
  }
  const cxx = process.env.CXX || ['c++', 'g++', 'clang++'].find((c) => has(c));
  if (!cxx || !has(cxx)) return skip('no C++ compiler found (c++, g++, clang++ or $CXX)');
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return skip('cmake-js is not installed (a dependency of @usbscsi/native: reinstall the package)');
  }
  fs.mkdirSync(buildDir, { recursive: true });
  // `cmake-js build` configures only a fresh directory: switching ASan on or off must reconfigure,
  // or the -D below is ignored and the other kind of binary stays ("ninja: no work to do").
  const action = cachedAsan() === null || cachedAsan() === asan ? 'build' : 'rebuild';
  const args = [cmakeJs, action, '--directory', root, '--out', buildDir, '--log-level', 'warn'];
  args.push(`--CDUSBSCSI_UV_INCLUDE=${uvInclude}`);
  if (asan) args.push('--CDUSBSCSI_ASAN=ON');
  else args.push('--CDUSBSCSI_ASAN=OFF');
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  fs.writeFileSync(logFile, `${r.stdout ?? ''}${r.stderr ?? ''}`);
  const built = path.join(buildDir, 'Release', 'usbscsi_native.node');
  if (r.status !== 0 || !fs.existsSync(built)) {
    return skip(
      `the addon build failed (exit ${r.status ?? r.signal}; log: ${path.relative(process.cwd(), logFile)})`,
      true,
    );
  }
  fs.rmSync(reasonFile, { force: true });
  console.log(
    `@usbscsi/native: built ${path.relative(process.cwd(), built)}${asan ? ' (AddressSanitizer)' : ''}` +
      `${prebuildWhy ? ` (no usable prebuild: ${prebuildWhy})` : ''}`,
  );
}

try {
  main();
} catch (err) {
  skip(`unexpected error: ${err && err.message ? err.message : String(err)}`);
}
