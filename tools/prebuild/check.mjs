// Checks one prebuilt binary: its format and architecture, the libraries it names (system ones
// only: no libusb, no libudev, no Homebrew), the newest glibc symbol version it needs, and that
// libusb's symbols are inside it. Returns facts and a list of failures; never throws for a bad
// binary (a missing tool is a failure too, said by name).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export const GLIBC_FLOOR = '2.31';
const LINUX_LIBS = new Set([
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'librt.so.1',
  'libstdc++.so.6',
  'libgcc_s.so.1',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
]);
const DARWIN_LIBS = [
  '/System/Library/Frameworks/IOKit.framework/',
  '/System/Library/Frameworks/CoreFoundation.framework/',
  '/System/Library/Frameworks/DiskArbitration.framework/',
  '/System/Library/Frameworks/Security.framework/',
  '/usr/lib/libSystem.B.dylib',
  '/usr/lib/libc++.1.dylib',
];
const LINUX_MACHINE = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };
const DARWIN_FILE = { x64: 'Mach-O 64-bit x86_64 bundle', arm64: 'Mach-O 64-bit arm64 bundle' };

function tool(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Compares dotted versions numerically: -1, 0, 1. */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The newest `PREFIX_x.y` among version names (GLIBC_2.30, GLIBCXX_3.4.22), or null. */
export function newestVersion(names, prefix) {
  const re = new RegExp(`^${prefix}_(\\d+(?:\\.\\d+)*)$`);
  return (
    names
      .map((n) => re.exec(n)?.[1])
      .filter(Boolean)
      .sort(compareVersions)
      .at(-1) ?? null
  );
}

/** The install names a macOS binary may not carry: anything but the system frameworks and libraries. */
export function foreignDylibs(names) {
  return names.filter((lib) => !DARWIN_LIBS.some((ok) => lib.startsWith(ok)));
}

function checkLinux(file, arch, facts, failures) {
  const header = tool('readelf', ['-h', '-W', file]);
  const machine = /Machine:\s+(.*)/.exec(header)?.[1]?.trim();
  facts.machine = machine;
  if (machine !== LINUX_MACHINE[arch]) failures.push(`machine is "${machine}", expected "${LINUX_MACHINE[arch]}"`);
  const dyn = tool('readelf', ['-d', '-W', file]);
  facts.needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const foreign = facts.needed.filter((lib) => !LINUX_LIBS.has(lib));
  if (foreign.length) failures.push(`needs libraries outside libc/libstdc++/libgcc_s: ${foreign.join(', ')}`);
  const versions = [...new Set([...tool('readelf', ['-V', '-W', file]).matchAll(/Name: (\S+)/g)].map((m) => m[1]))];
  facts.glibc = newestVersion(versions, 'GLIBC');
  facts.glibcxx = newestVersion(versions, 'GLIBCXX');
  if (!facts.glibc || compareVersions(facts.glibc, GLIBC_FLOOR) > 0) {
    failures.push(`needs GLIBC_${facts.glibc}, newer than ${GLIBC_FLOOR} (Debian 11, Ubuntu 20.04)`);
  }
  const syms = tool('readelf', ['--dyn-syms', '-W', file])
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  const libusbSyms = syms.filter((f) => /^libusb_/.test(f[7] ?? ''));
  if (libusbSyms.length)
    failures.push(
      `libusb symbols in the dynamic table (${libusbSyms.length}; first ${libusbSyms[0][7]}): ` +
        `libusb must be linked in and hidden`,
    );
  if (!syms.some((f) => f[7] === 'napi_register_module_v1' && f[6] !== 'UND'))
    failures.push('napi_register_module_v1 is not exported');
}

function checkDarwin(file, arch, facts, failures) {
  facts.format = tool('file', ['-b', file]).trim();
  if (!facts.format.startsWith(DARWIN_FILE[arch]))
    failures.push(`file says "${facts.format}", expected "${DARWIN_FILE[arch]}"`);
  facts.needed = tool('llvm-objdump', ['--macho', '--dylibs-used', file])
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/ \(compatibility version.*$/, ''))
    .filter(Boolean);
  const foreign = foreignDylibs(facts.needed);
  if (foreign.length) failures.push(`names non-system libraries: ${foreign.join(', ')}`);
  const minos = /minos (\S+)/.exec(tool('llvm-objdump', ['--macho', '--private-headers', file]));
  facts.macosMin = minos?.[1] ?? null;
  // Left to dyld at load time: only Node's own symbols (libusb must be inside).
  const open = [...tool('llvm-nm', ['-m', file]).matchAll(/external (\S+) \(dynamically looked up\)/g)]
    .map((m) => m[1])
    .filter((s) => !/^_(napi_|node_api_|uv_)/.test(s));
  if (open.length)
    failures.push(
      `symbols left for load time outside Node's: ${open.slice(0, 5).join(', ')}${open.length > 5 ? ', …' : ''}`,
    );
}

/** Checks `file` built for `target` ({platform, arch}); returns { facts, failures }. */
export function checkBinary(file, target) {
  const facts = { size: statSync(file).size, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
  const failures = [];
  try {
    if (target.platform === 'linux') checkLinux(file, target.arch, facts, failures);
    else checkDarwin(file, target.arch, facts, failures);
  } catch (err) {
    failures.push(`check tool failed: ${err.message.split('\n')[0]}`);
  }
  return { facts, failures };
}
