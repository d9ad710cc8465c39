'use strict';
// Which binary of the addon to load, in one order:
//   1. USBSCSI_NATIVE_BINARY, when set: that file and nothing else (the AddressSanitizer build, say),
//      a `.node` file only; when it is missing or fails to load, the native engine is unavailable;
//   2. the prebuild for this platform, architecture and libc (prebuilds/<platform>-<arch>[-glibc]/);
//   3. a source build (build/Release/, made by scripts/install.js where a compiler, cmake and
//      libusb's headers exist);
//   (4. node-usb, chosen by core when none of these loads.)
// One exception, for development checkouts: a source build newer than the prebuild goes first,
// so that a fresh compile is what runs; `usbscsi doctor` says when that happened.
const fs = require('node:fs');
const path = require('node:path');

/** `linux-x64-glibc`, `linux-arm64-musl`, `darwin-arm64`, …; `libc` is read from the process report. */
function prebuildTarget(platform = process.platform, arch = process.arch, libc = runtimeLibc()) {
  return platform === 'linux' ? `${platform}-${arch}-${libc.name}` : `${platform}-${arch}`;
}

/** glibc (with its version) or musl, for Linux; `{ name: 'none' }` elsewhere. */
function runtimeLibc() {
  if (process.platform !== 'linux') return { name: 'none' };
  const excluded = process.report.excludeNetwork;
  try {
    process.report.excludeNetwork = true; // the report's network part can take seconds
    const version = process.report.getReport().header.glibcVersionRuntime;
    return version ? { name: 'glibc', version } : { name: 'musl' };
  } catch {
    return { name: 'glibc' };
  } finally {
    process.report.excludeNetwork = excluded;
  }
}

function newer(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}

function readManifest(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * The binaries to try, in order, each `{ kind, path, target?, manifest?, skip? }`; `skip` is why
 * a candidate is not even tried (missing, or a glibc older than it needs), and `note` why the
 * order was changed.
 */
function candidates(root, env = process.env, libc = runtimeLibc()) {
  if (env.USBSCSI_NATIVE_BINARY) {
    const file = path.resolve(env.USBSCSI_NATIVE_BINARY);
    return { order: [{ kind: 'override', path: file, skip: overrideSkipReason(file) }] };
  }
  const target = prebuildTarget(process.platform, process.arch, libc);
  const dir = path.join(root, 'prebuilds', target);
  const prebuild = {
    kind: 'prebuild',
    target,
    path: path.join(dir, 'usbscsi_native.node'),
    manifest: readManifest(dir),
  };
  if (!fs.existsSync(prebuild.path)) {
    const shipped = fs.existsSync(path.join(root, 'prebuilds'))
      ? fs.readdirSync(path.join(root, 'prebuilds')).sort().join(', ')
      : '';
    prebuild.skip = shipped
      ? `no prebuild for ${target} (this package has: ${shipped})`
      : `no prebuilds in this package (${path.join(root, 'prebuilds')} does not exist; \`pnpm prebuild\` makes them)`;
  } else if (
    libc.name === 'glibc' &&
    libc.version &&
    prebuild.manifest?.glibcNeeded &&
    newer(prebuild.manifest.glibcNeeded, libc.version)
  ) {
    prebuild.skip = `the prebuild needs glibc ${prebuild.manifest.glibcNeeded}; this system has ${libc.version}`;
  }
  const source = { kind: 'source', path: path.join(root, 'build', 'Release', 'usbscsi_native.node') };
  if (!fs.existsSync(source.path)) {
    const why = sourceSkipReason(root);
    source.skip = why ? `the source build was skipped: ${why}` : `not built (no ${source.path})`;
  }
  const p = mtime(prebuild.path);
  const s = mtime(source.path);
  if (!prebuild.skip && !source.skip && s > p) {
    return {
      order: [source, prebuild],
      note: 'the source build is newer than the prebuild (a development checkout): it goes first',
    };
  }
  return { order: [prebuild, source] };
}

/**
 * Why the USBSCSI_NATIVE_BINARY file is not even tried. Only a compiled addon (`.node`) is
 * loaded: the variable must never become a way to run a script.
 */
function overrideSkipReason(file) {
  if (path.extname(file) !== '.node')
    return `USBSCSI_NATIVE_BINARY names ${file}, which is not a .node file (only a compiled addon is loaded)`;
  let info;
  try {
    info = fs.statSync(file);
  } catch {
    return `USBSCSI_NATIVE_BINARY names ${file}, which does not exist`;
  }
  return info.isFile() ? undefined : `USBSCSI_NATIVE_BINARY names ${file}, which is not a file`;
}

/**
 * Loads a compiled addon with process.dlopen rather than require(): require() picks its loader by
 * the resolved file's extension, so a `.node` symlink to a script would run the script.
 */
function dlopenAddon(file) {
  const mod = { exports: {} };
  process.dlopen(mod, file);
  return mod.exports;
}

/** Why scripts/install.js did not build from source, if it recorded a reason. */
function sourceSkipReason(root) {
  try {
    const reason = fs.readFileSync(path.join(root, 'build', 'skip-reason.txt'), 'utf8').trim();
    return reason || null;
  } catch {
    return null;
  }
}

const NAMES = { override: 'USBSCSI_NATIVE_BINARY binary', prebuild: 'prebuild', source: 'source build' };

/** Tries each candidate; returns the addon and every attempt with its outcome. */
function loadFirst(root, env = process.env) {
  const { order, note } = candidates(root, env);
  const tried = [];
  for (const c of order) {
    const entry = { kind: c.kind, path: c.path, ...(c.target ? { target: c.target } : {}) };
    if (c.skip) {
      tried.push({ ...entry, status: 'unavailable', reason: c.skip });
      continue;
    }
    try {
      const addon = dlopenAddon(c.path);
      tried.push({ ...entry, status: 'loaded' });
      for (const rest of order.slice(order.indexOf(c) + 1)) {
        tried.push({
          kind: rest.kind,
          path: rest.path,
          ...(rest.target ? { target: rest.target } : {}),
          status: 'not-tried',
          reason: `the ${NAMES[c.kind]} loaded first`,
        });
      }
      return { ok: true, addon, from: entry, tried, ...(note ? { note } : {}) };
    } catch (err) {
      const why = `failed to load: ${err && err.message ? err.message.split('\n')[0] : String(err)}`;
      tried.push({
        ...entry,
        status: 'failed',
        reason: c.kind === 'override' ? `USBSCSI_NATIVE_BINARY names ${c.path}, which ${why}` : why,
      });
    }
  }
  const reason = tried.map((t) => `${t.kind}: ${t.reason}`).join('; ');
  return { ok: false, reason, tried, ...(note ? { note } : {}) };
}

module.exports = { candidates, loadFirst, prebuildTarget, runtimeLibc, sourceSkipReason };
