#!/usr/bin/env node
// Builds the addon with cmake-js (offline). Install never fails: when libusb-1.0,
// a compiler or cmake is missing, or the build fails, it prints ONE line saying why,
// records the reason in build/skip-reason.txt (index.js and the tests report it) and
// exits 0; core then uses the node-usb fallback.
//   node scripts/install.js            (npm/pnpm install hook)
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

function skip(reason, compileFailed = false) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(reasonFile, reason + '\n');
  fs.rmSync(path.join(buildDir, 'Release', 'usbscsi_native.node'), { force: true }); // never leave a stale binary behind
  console.log(`@usbscsi/native: skipped: ${reason}; core will use the node-usb fallback`);
  process.exit(force && compileFailed ? 1 : 0);
}

function main() {
  if (process.env.USBSCSI_SKIP_NATIVE) return skip('USBSCSI_SKIP_NATIVE is set');
  if (!has('pkg-config')) return skip('pkg-config is not installed (needed to find libusb-1.0)');
  if (!has('pkg-config', ['--exists', 'libusb-1.0'])) {
    return skip('libusb-1.0 development files not found by pkg-config (install libusb-1.0-0-dev, or `brew install libusb`)');
  }
  if (!has('cmake')) return skip('cmake is not installed');
  // libuv's header, for the event pump: beside the running node, as CMakeLists.txt looks for it.
  const uvInclude = process.env.USBSCSI_UV_INCLUDE || path.resolve(process.execPath, '../../include/node');
  if (!fs.existsSync(path.join(uvInclude, 'uv.h'))) {
    return skip(`Node's headers (uv.h) not found in ${uvInclude} (install Node's development headers, or set USBSCSI_UV_INCLUDE)`);
  }
  const cxx = process.env.CXX || ['c++', 'g++', 'clang++'].find((c) => has(c));
  if (!cxx || !has(cxx)) return skip('no C++ compiler found (c++, g++, clang++ or $CXX)');
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return skip('cmake-js is not installed (devDependency of @usbscsi/native)');
  }
  fs.mkdirSync(buildDir, { recursive: true });
  const args = [cmakeJs, 'build', '--directory', root, '--out', buildDir, '--log-level', 'warn'];
  args.push(`--CDUSBSCSI_UV_INCLUDE=${uvInclude}`);
  if (asan) args.push('--CDUSBSCSI_ASAN=ON');
  else args.push('--CDUSBSCSI_ASAN=OFF');
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  fs.writeFileSync(logFile, `${r.stdout ?? ''}${r.stderr ?? ''}`);
  const built = path.join(buildDir, 'Release', 'usbscsi_native.node');
  if (r.status !== 0 || !fs.existsSync(built)) {
    return skip(`the addon build failed (exit ${r.status ?? r.signal}; log: ${path.relative(process.cwd(), logFile)})`, true);
  }
  fs.rmSync(reasonFile, { force: true });
  console.log(`@usbscsi/native: built ${path.relative(process.cwd(), built)}${asan ? ' (AddressSanitizer)' : ''}`);
}

try {
  main();
} catch (err) {
  skip(`unexpected error: ${err && err.message ? err.message : String(err)}`);
}
