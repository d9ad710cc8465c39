// The addon without a device: it builds, enumerates, rejects bad input with typed
// errors, maps every libusb error in one table, and its event handling never keeps
// a process (or a worker thread) alive.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const pkg = require('../index.js') as typeof import('../index.js');
const loaded = pkg.load();
const indexPath = fileURLToPath(new URL('../index.js', import.meta.url));
const SKIP = loaded.ok ? '' : ` [SKIPPED: ${loaded.reason}]`;

describe('@usbscsi/native build', () => {
  it('built the addon, or recorded why the install script skipped it', () => {
    if (loaded.ok) expect(typeof loaded.addon.list).toBe('function');
    else
      expect(pkg.skipReason(), `the addon is missing and no skip reason was recorded: ${loaded.reason}`).toBeTruthy();
  });
});

describe.skipIf(!loaded.ok)(`@usbscsi/native addon without a device${SKIP}`, () => {
  const addon = loaded.ok ? loaded.addon : (undefined as never);

  it('lists devices as a well-formed (possibly empty) array', async () => {
    const devices = await addon.list();
    expect(Array.isArray(devices)).toBe(true);
    for (const d of devices) {
      expect(d.vendorId).toBeGreaterThanOrEqual(0);
      expect(d.vendorId).toBeLessThanOrEqual(0xffff);
      expect(Number.isInteger(d.busNumber) && Number.isInteger(d.deviceAddress)).toBe(true);
      expect(Array.isArray(d.portNumbers)).toBe(true);
      expect(['low', 'full', 'high', 'super', 'super-plus', 'unknown']).toContain(d.speed);
      for (const c of d.configurations)
        for (const i of c.interfaces) for (const e of i.endpoints) expect(e.maxPacketSize).toBeGreaterThan(0);
    }
  });

  it('opening a device that is not there rejects E_DEVICE_GONE', async () => {
    await expect(addon.open(255, 255)).rejects.toMatchObject({
      code: 'E_DEVICE_GONE',
      libusbError: 'LIBUSB_ERROR_NO_DEVICE',
    });
  });

  it.each([
    ['a negative bus', [-1, 1]],
    ['a fractional address', [1, 1.5]],
    ['a string', ['1', 2]],
    ['nothing', []],
    ['an address above 255', [1, 256]],
    ['NaN', [NaN, 1]],
  ])('open() with %s throws E_BAD_INPUT synchronously', (_name, args) => {
    expect(() => (addon.open as (...a: unknown[]) => unknown)(...args)).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
  });

  it('a DeviceHandle cannot be made from JS', () => {
    const Ctor = (addon as unknown as { DeviceHandle: new (...a: unknown[]) => unknown }).DeviceHandle;
    expect(() => new Ctor({})).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    expect(() => new Ctor()).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });

  // libusb_error codes (libusb.h) → core's ErrorCodes: the one mapping table.
  it.each([
    [-1, 'LIBUSB_ERROR_IO', 'E_IO'],
    [-2, 'LIBUSB_ERROR_INVALID_PARAM', 'E_BAD_INPUT'],
    [-3, 'LIBUSB_ERROR_ACCESS', 'E_PERMISSION'],
    [-4, 'LIBUSB_ERROR_NO_DEVICE', 'E_DEVICE_GONE'],
    [-5, 'LIBUSB_ERROR_NOT_FOUND', 'E_IO'],
    [-6, 'LIBUSB_ERROR_BUSY', 'E_BUSY'],
    [-7, 'LIBUSB_ERROR_TIMEOUT', 'E_IO'],
    [-8, 'LIBUSB_ERROR_OVERFLOW', 'E_IO'],
    [-9, 'LIBUSB_ERROR_PIPE', 'E_IO'],
    [-10, 'LIBUSB_ERROR_INTERRUPTED', 'E_IO'],
    [-11, 'LIBUSB_ERROR_NO_MEM', 'E_NO_MEMORY'],
    [-12, 'LIBUSB_ERROR_NOT_SUPPORTED', 'E_UNSUPPORTED'],
    [-99, 'LIBUSB_ERROR_OTHER', 'E_IO'],
  ])('libusb %i (%s) maps to %s', (code, name, expected) => {
    const err = addon.mapLibusbError(code, 'claim interface 0');
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: expected, libusbError: name, libusbCode: code });
    expect(err.message).toContain('claim interface 0');
  });

  it('E_PERMISSION names the fix (root or a udev rule with its text); E_NO_MEMORY names usbfs_memory_mb', () => {
    const access = addon.mapLibusbError(-3);
    expect(access.message).toMatch(/root/);
    expect(access.message).toMatch(/SUBSYSTEM=="usb", ATTRS\{idVendor\}==/);
    expect(access.errno).toBe(13);
    expect(addon.mapLibusbError(-11).message).toContain('/sys/module/usbcore/parameters/usbfs_memory_mb');
  });

  it('reports the transfer-memory limit and where it came from', () => {
    const limit = addon.transferMemoryLimit();
    expect(limit.bytes).toBeGreaterThanOrEqual(0);
    expect(limit.source.length).toBeGreaterThan(0);
    if (process.platform === 'linux') expect(limit.source).toMatch(/usbfs_memory_mb/);
  });

  it('event handling never keeps the process alive: a process that listed devices exits promptly', () => {
    const script = `const a = require(${JSON.stringify(indexPath)}).load().addon;
      a.list().then(() => { globalThis.t = Date.now(); });`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a worker thread with its own context and event pump starts, lists and is torn down cleanly', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = 'const a = require(${JSON.stringify(indexPath).replace(/'/g, "\\'")}).load().addon; ' +
        'a.list().then(l => require("node:worker_threads").parentPort.postMessage(l.length));';
      const w = new Worker(code, { eval: true });
      w.on('message', (n) => { console.log('listed', n); w.terminate().then(() => console.log('terminated')); });
      w.on('error', (e) => { console.error(e); process.exit(3); });`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 15_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/listed \d+\s+terminated/);
  });

  it.runIf(process.platform === 'linux')(
    'sgOpen refuses what is not a SCSI node with typed codes, and checks its argument',
    async () => {
      const sgOpen = addon.sgOpen!;
      expect(() => (sgOpen as (p: unknown) => unknown)(42)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
      expect(() => sgOpen('')).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
      await expect(sgOpen('/dev/no-such-sg')).rejects.toMatchObject({ code: 'E_NOT_FOUND', errno: 2 });
      // /dev/null is a device node but not SCSI: SG_GET_VERSION_NUM fails with ENOTTY, and the descriptor is closed.
      const before = readdirSync('/proc/self/fd').length;
      await expect(sgOpen('/dev/null')).rejects.toMatchObject({
        code: 'E_BAD_INPUT',
        message: expect.stringMatching(/not a SCSI node/),
      });
      expect(readdirSync('/proc/self/fd').length).toBe(before);
      // A regular file is not a device node at all.
      await expect(sgOpen(indexPath)).rejects.toMatchObject({
        code: 'E_BAD_INPUT',
        message: expect.stringMatching(/not a device node/),
      });
    },
  );

  it.runIf(process.platform === 'linux')(
    'alignedBuffer gives zeroed memory of the asked length, a separate block each time, and checks its argument',
    () => {
      const alignedBuffer = addon.alignedBuffer!;
      const a = new Uint8Array(alignedBuffer(5000));
      const b = new Uint8Array(alignedBuffer(5000));
      expect(a.length).toBe(5000);
      expect(a.every((x) => x === 0)).toBe(true);
      a.fill(7);
      expect(b.every((x) => x === 0)).toBe(true);
      for (const bad of [0, -1, 1.5, 2 ** 31, 'x'])
        expect(() => (alignedBuffer as (n: unknown) => unknown)(bad)).toThrow(
          expect.objectContaining({ code: 'E_BAD_INPUT' }),
        );
    },
  );

  it.runIf(process.platform === 'linux')(
    'sharedMemory: the buffer is the file (both ways), sealed against shrinking; release detaches and closes',
    async () => {
      const { fstatSync, ftruncateSync, readSync, writeSync } = await import('node:fs');
      const { fd, buffer } = addon.sharedMemory!(3 * 4096);
      const view = new Uint8Array(buffer);
      expect([view.length, fstatSync(fd).size, view.every((x) => x === 0)]).toEqual([3 * 4096, 3 * 4096, true]);
      view.set([1, 2, 3], 5000);
      const back = Buffer.alloc(3);
      expect(readSync(fd, back, 0, 3, 5000)).toBe(3);
      expect([...back]).toEqual([1, 2, 3]);
      writeSync(fd, Uint8Array.of(9, 8), 0, 2, 100);
      expect([view[100], view[101]]).toEqual([9, 8]);
      // Whoever else holds the descriptor (the daemon) cannot cut the file under the mapping.
      expect(() => ftruncateSync(fd, 10)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => ftruncateSync(fd, 4 * 4096)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(addon.releaseSharedMemory!(buffer)).toBe(true);
      expect([buffer.byteLength, view.length]).toEqual([0, 0]);
      expect(() => fstatSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      expect(addon.releaseSharedMemory!(buffer)).toBe(false);
      expect(addon.releaseSharedMemory!(new ArrayBuffer(8))).toBe(false);
      for (const bad of [0, -1, 1.5, 2 ** 31, 'x'])
        expect(() => (addon.sharedMemory as (n: unknown) => unknown)(bad)).toThrow(
          expect.objectContaining({ code: 'E_BAD_INPUT' }),
        );
      expect(() => (addon.releaseSharedMemory as (b: unknown) => boolean)(new Uint8Array(4))).toThrow(
        expect.objectContaining({ code: 'E_BAD_INPUT' }),
      );
    },
  );

  it.runIf(process.platform === 'linux')(
    'unshareSharedMemory: same address and bytes, no longer the file either way; release still frees it',
    async () => {
      const { fstatSync, readSync, writeSync } = await import('node:fs');
      const { fd, buffer } = addon.sharedMemory!(2 * 4096);
      const view = new Uint8Array(buffer);
      view.fill(0xaa);
      expect(addon.unshareSharedMemory!(buffer)).toBe(true);
      expect([view.length, view.every((x) => x === 0xaa)]).toEqual([2 * 4096, true]);
      // What the file's other holder (a daemon) writes now stays in the file.
      writeSync(fd, Uint8Array.of(1, 2, 3), 0, 3, 4096);
      expect([view[4096], view[4097], view[4098]]).toEqual([0xaa, 0xaa, 0xaa]);
      // And what is written into the memory stays out of the file, which reads back as it was.
      view[0] = 7;
      const back = Buffer.alloc(4);
      expect(readSync(fd, back, 0, 4, 4095)).toBe(4);
      expect([...back]).toEqual([0xaa, 1, 2, 3]);
      expect(readSync(fd, back, 0, 1, 0)).toBe(1);
      expect(back[0]).toBe(0xaa);
      expect(addon.unshareSharedMemory!(buffer)).toBe(false);
      expect(addon.unshareSharedMemory!(new ArrayBuffer(8))).toBe(false);
      expect(() => (addon.unshareSharedMemory as (b: unknown) => boolean)(new Uint8Array(4))).toThrow(
        expect.objectContaining({ code: 'E_BAD_INPUT' }),
      );
      expect(addon.releaseSharedMemory!(buffer)).toBe(true);
      expect(view.length).toBe(0);
      expect(() => fstatSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      expect(addon.unshareSharedMemory!(buffer)).toBe(false);
    },
  );

  it.runIf(process.platform === 'linux')(
    'sendFd hands a descriptor over a Unix socket; receiveFd takes it, says nothing came, or refuses a bare byte',
    async () => {
      const { createServer, connect } = await import('node:net');
      const { mkdtempSync, rmSync, openSync, closeSync, fstatSync, writeSync, readFileSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      type Sock = import('node:net').Socket;
      const fdOf = (s: Sock) => (s as unknown as { _handle: { fd: number } })._handle.fd;
      const dir = mkdtempSync(join(tmpdir(), 'usbscsi-fdpass-'));
      const path = join(dir, 's.sock');
      const pair = () =>
        new Promise<{ server: Sock; client: Sock; close: () => void }>((resolve) => {
          const listener = createServer((server) => {
            // Node must not read the byte: read() would drop the descriptor it carries.
            (server as unknown as { _handle: { readStop(): void } })._handle.readStop();
            resolve({ server, client, close: () => (server.destroy(), client.destroy(), listener.close()) });
          }).listen(path);
          const client: Sock = connect(path).on('error', () => undefined);
        });
      const receive = async (socketFd: number) => {
        for (let i = 0; i < 200; i++) {
          const fd = addon.receiveFd!(socketFd);
          if (fd !== null) return fd;
          await new Promise((r) => setTimeout(r, 5));
        }
        return null;
      };
      try {
        const file = join(dir, 'f.bin');
        const mine = openSync(file, 'w');
        let ends = await pair();
        expect(addon.receiveFd!(fdOf(ends.server))).toBeNull(); // nothing sent yet: never waits
        addon.sendFd!(fdOf(ends.client), mine);
        const theirs = await receive(fdOf(ends.server));
        expect(theirs).not.toBeNull();
        expect(theirs).not.toBe(mine);
        expect(fstatSync(theirs!).ino).toBe(fstatSync(mine).ino);
        writeSync(theirs!, 'through the socket');
        closeSync(theirs!);
        closeSync(mine);
        expect(readFileSync(file, 'utf8')).toBe('through the socket');
        ends.close();

        // A plain byte where a descriptor was expected, and a peer that leaves: EPROTO, typed.
        ends = await pair();
        ends.client.write('x');
        await new Promise((r) => setTimeout(r, 50));
        expect(() => addon.receiveFd!(fdOf(ends.server))).toThrow(
          expect.objectContaining({ code: 'E_IO', errno: 71, message: expect.stringContaining('0 file descriptors') }),
        );
        ends.client.end();
        await new Promise((r) => setTimeout(r, 50));
        expect(() => addon.receiveFd!(fdOf(ends.server))).toThrow(
          expect.objectContaining({ code: 'E_IO', message: expect.stringContaining('closed the connection') }),
        );
        ends.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const devNull = openSync('/dev/null', 'r');
      try {
        expect(() => addon.sendFd!(devNull, devNull)).toThrow(expect.objectContaining({ code: 'E_IO', errno: 88 }));
        expect(() => addon.receiveFd!(devNull)).toThrow(expect.objectContaining({ code: 'E_IO', errno: 88 }));
      } finally {
        closeSync(devNull);
      }
      expect(() => addon.sendFd!(-1, 0)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    },
  );

  it.runIf(process.platform === 'linux')(
    'pollPriority: nothing on a fresh mountinfo fd, POLLERR on a FIFO with no reader; a closed fd is bad input',
    async () => {
      if (!addon) return;
      const { closeSync, constants, mkdtempSync, openSync, rmSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const mountinfo = openSync('/proc/self/mountinfo', 'r');
      try {
        // Nothing mounted or unmounted since it was opened (the tests mount nothing).
        expect(addon.pollPriority!(mountinfo)).toBe(false);
      } finally {
        closeSync(mountinfo);
      }
      const dir = mkdtempSync(join(tmpdir(), 'usbscsi-poll-'));
      try {
        const fifo = join(dir, 'fifo');
        expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
        const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
        const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        expect(addon.pollPriority!(writer)).toBe(false);
        closeSync(reader);
        expect(addon.pollPriority!(writer)).toBe(true); // a pipe with no reader left: POLLERR
        closeSync(writer);
        expect(() => addon.pollPriority!(writer)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
        for (const bad of [-1, 1.5, 'x'])
          expect(() => (addon.pollPriority as (fd: unknown) => boolean)(bad)).toThrow(
            expect.objectContaining({ code: 'E_BAD_INPUT' }),
          );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it.runIf(process.platform === 'linux')(
    'peerCredentials names the process that connected a Unix socket, and refuses what is not one',
    async () => {
      const { createServer, connect } = await import('node:net');
      const { mkdtempSync, rmSync, openSync, closeSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = mkdtempSync(join(tmpdir(), 'usbscsi-peercred-'));
      const path = join(dir, 's.sock');
      try {
        const seen = new Promise<unknown>((resolve, reject) => {
          const server = createServer((socket) => {
            try {
              resolve(addon.peerCredentials!((socket as unknown as { _handle: { fd: number } })._handle.fd));
            } catch (err) {
              reject(err);
            } finally {
              socket.destroy();
              server.close();
            }
          }).listen(path, () => connect(path).on('error', () => undefined));
        });
        expect(await seen).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(() => addon.peerCredentials!(-1)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
      expect(() => (addon.peerCredentials as (fd: unknown) => unknown)('3')).toThrow(
        expect.objectContaining({ code: 'E_BAD_INPUT' }),
      );
      const notSocket = openSync('/dev/null', 'r');
      try {
        expect(() => addon.peerCredentials!(notSocket)).toThrow(expect.objectContaining({ errno: 88 })); // ENOTSOCK
      } finally {
        closeSync(notSocket);
      }
    },
  );
});
