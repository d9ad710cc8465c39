// The packages as a user installs them, on a machine with no compiler, cmake or libusb headers
// (this guest): the tree the packaging stage installed from the tarballs (tools/ci/pack-install.mjs),
// shared at /installed, runs `usbscsi` through the prebuilt native engine against QEMU's
// usb-storage and hands the disk back. Nothing here may come from /repo or the guest's libusb.so.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { assert, assertBytesEqual, assertEqual, sdDisks, waitFor } from '../util.mjs';

const ROOT = '/installed';
const BIN = `${ROOT}/node_modules/.bin/usbscsi`;
const MIB4 = 4 << 20;
const LBA = 16384; // 8 MiB into the 64 MiB disk, 512-byte blocks

function usbscsi(args) {
  const env = { PATH: process.env.PATH, HOME: '/tmp' }; // no USBSCSI_NATIVE_BINARY, no NODE_PATH
  return execFileSync(BIN, args, { cwd: '/tmp', env, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 120_000 });
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(`${d}/${cmd}`));
}

function kernelIo(disk, fn) {
  const fd = openSync(`/dev/${disk}`, 'r+');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

export function registerInstalledCases(scenario) {
  const t = (title, fn) =>
    existsSync(BIN)
      ? test(`[${scenario}/installed] ${title}`, fn, { timeoutMs: 180_000 })
      : skip(
          `[${scenario}/installed] ${title}`,
          `no installed tree at ${ROOT} (the packaging stage, tools/ci/pack-install.mjs, makes it)`,
        );

  t(
    'this guest has no compiler, cmake or libusb headers; doctor --json reports the installed prebuild, libusb inside',
    () => {
      const tools = ['cc', 'gcc', 'g++', 'c++', 'clang', 'cmake', 'make', 'pkg-config'].filter(onPath);
      assertEqual(tools, [], 'build tools on PATH');
      assert(!existsSync('/usr/include/libusb-1.0/libusb.h'), 'no libusb headers');
      const doc = JSON.parse(usbscsi(['doctor', '--json']));
      assertEqual(doc.engine, 'native', `engine (choices: ${JSON.stringify(doc.choices)})`);
      assertEqual(doc.from, 'prebuild', 'loaded from');
      assert(
        doc.path.startsWith(`${ROOT}/`) && doc.path.includes('/prebuilds/linux-x64-glibc/'),
        `the installed prebuild, not ${doc.path}`,
      );
      assertEqual(doc.libusbVersion, '1.0.26', 'libusb inside');
      // The prebuild links libusb in: the guest's libusb-1.0.so.0 must not be mapped.
      const native = doc.path.replace(/\/prebuilds\/.*$/, '');
      const maps = execFileSync(
        process.execPath,
        [
          '-e',
          `require(${JSON.stringify(native)}).load(); ` +
            "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))",
        ],
        { cwd: '/tmp', env: { PATH: process.env.PATH }, encoding: 'utf8' },
      );
      assert(maps.includes('usbscsi_native.node'), 'the addon is mapped');
      assert(!/libusb-1\.0\.so/.test(maps), 'libusb-1.0.so is mapped: the addon is not the static prebuild');
    },
  );

  t(
    "INQUIRY and a 4 MiB read through the prebuilt engine (BOT) equal the kernel's bytes; " +
      'usb-storage has the disk back',
    async () => {
      const [disk] = sdDisks();
      assert(disk, 'an sd disk before the test');
      const pattern = randomBytes(MIB4);
      kernelIo(disk, (fd) => {
        writeSync(fd, pattern, 0, MIB4, LBA * 512);
        fsyncSync(fd);
      });
      const inquiry = JSON.parse(usbscsi(['--backend', 'native', '--device', '46f4:0001', '--json', 'inquiry']));
      assertEqual(`${inquiry.vendor}/${inquiry.product}`, 'QEMU/QEMU HARDDISK', 'INQUIRY through BOT');
      await waitFor(() => sdDisks().length === 1, 'usb-storage to bring the disk back after INQUIRY', 20_000);
      usbscsi([
        '--backend',
        'native',
        '--device',
        '46f4:0001',
        'read',
        '--lba',
        String(LBA),
        '--blocks',
        String(MIB4 / 512),
        '-o',
        '/tmp/installed-read.bin',
      ]);
      const bot = readFileSync('/tmp/installed-read.bin');
      assertBytesEqual(bot, pattern, 'BOT read vs the bytes written through the kernel');
      await waitFor(() => sdDisks().length === 1, 'usb-storage to bring the disk back after the read', 20_000);
      // The disk is the kernel's again, and reads the same bytes (a new sd device: no stale page cache).
      const [again] = sdDisks();
      const back = Buffer.alloc(MIB4);
      kernelIo(again, (fd) => readSync(fd, back, 0, MIB4, LBA * 512));
      assertBytesEqual(back, pattern, `kernel read of /dev/${again} after the handoff`);
    },
  );
}
