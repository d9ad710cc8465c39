/**
 * Whole-range reads and writes through a real daemon serving the emulator: the bytes stream both
 * ways as raw bodies, and a client that breaks the protocol (more than it declared, a body on a
 * read, leaving mid-body) gets a typed error while the device and its lease stay usable.
 */
import { request } from 'node:http';
import { closeSync, fstatSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DaemonClient, ErrorCodes, openRemoteDevice, type RemoteTransport, type ScsiDevice } from '@usbscsi/core';
import { RamBlockStore, overlapProbe, type EmulatorBackend } from '@usbscsi/emulator';
import { createCoreProvider } from '../src/core-provider.js';
import { PIECE_BYTES } from '../src/routes/blocks.js';
import { systemFileReceiver, type ReceiveFd } from '../src/file-passing.js';
import { createSimBackend } from '../src/sim.js';
import { raw, sleep, startTestDaemon, until, type TestDaemon } from './helpers.js';

const BLOCK = 512;
const BLOCKS = 65536; // 32 MiB
const MIB = 1024 * 1024;

function patterned(bytes: number, seed: number): Uint8Array {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32BE((seed * 0x9e3779b1 + i) >>> 0, i);
  return new Uint8Array(b);
}

/** Sends a write whose body breaks off after `send` bytes, then closes the socket. */
/** Writes `data` at `lba`, reads it back with progress: the bytes and the last progress must match. */
async function writeAndReadBack(dev: ScsiDevice, lba: number, data: Uint8Array): Promise<void> {
  await dev.write(lba, data, { allowMediumWrite: true });
  const back = new Uint8Array(data.length);
  const progress: number[] = [];
  await dev.readInto(lba, back, { onProgress: (done) => progress.push(done) });
  expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  expect(progress.at(-1)).toBe(data.length);
}

function writeThenLeave(socketPath: string, path: string, declared: number, send: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const r = request({
      socketPath,
      method: 'POST',
      path,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(declared),
        'x-scsi-allow-medium-write': 'true',
      },
    });
    r.on('error', () => resolve());
    r.on('close', () => resolve());
    r.write(send, () => setTimeout(() => r.destroy(), 50));
  });
}

describe('usbscsid block ranges: streamed binary bodies', () => {
  let t: TestDaemon;
  let backend: EmulatorBackend;
  let dev: ScsiDevice;

  beforeEach(async () => {
    backend = createSimBackend([`sim:blocks=${BLOCKS}`]);
    // A daemon that takes no files: every range here streams through the socket (the files handed
    // over are the next describe's).
    t = await startTestDaemon(await createCoreProvider({ backend, transport: 'bot' }), {
      idleCloseMs: 5000,
      receiveFd: null,
    });
    dev = await openRemoteDevice({ via: `unix:${t.socketPath}` });
  });
  afterEach(async () => {
    await dev.close();
    await t.stop();
  });

  it('write and read back 6 MiB through the daemon: one request each way, bytes intact', async () => {
    const data = patterned(6 * MIB, 1);
    const client = (dev.transport as RemoteTransport).client;
    await dev.readCapacity();
    const perCommand = vi.spyOn(client, 'execute');
    const reads = vi.spyOn(client, 'readBlocksInto');
    const writes = vi.spyOn(client, 'writeBlocks');
    await writeAndReadBack(dev, 100, data);
    expect([perCommand.mock.calls.length, reads.mock.calls.length, writes.mock.calls.length]).toEqual([0, 1, 1]);
    // A fresh read through another ScsiDevice API sees the same bytes.
    const again = await dev.read(100, 8);
    expect(Buffer.from(again).equals(Buffer.from(data.subarray(0, 8 * BLOCK)))).toBe(true);
  });

  it('readToFd and writeFromFd stream a file through the daemon', async () => {
    const file = join(t.dir, 'range.bin');
    const data = patterned(3 * MIB + 5 * BLOCK, 2);
    writeFileSync(file, data);
    const fdIn = openSync(file, 'r');
    try {
      await dev.writeFromFd(2000, data.length / BLOCK, fdIn, { allowMediumWrite: true });
    } finally {
      closeSync(fdIn);
    }
    const out = join(t.dir, 'back.bin');
    const fdOut = openSync(out, 'w');
    try {
      expect(await dev.readToFd(2000, data.length / BLOCK, fdOut)).toBe(data.length);
    } finally {
      closeSync(fdOut);
    }
    expect(readFileSync(out).equals(Buffer.from(data))).toBe(true);
    rmSync(out);
  });

  it('the daemon holds two pieces per range, never the range', async () => {
    const budget = t.daemon.ctx.bytesInFlight;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, budget.inUse)), 1);
    try {
      await dev.write(0, patterned(6 * PIECE_BYTES, 3), { allowMediumWrite: true });
      await dev.read(0, (6 * PIECE_BYTES) / BLOCK);
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2 * PIECE_BYTES);
  });

  it('one READ CAPACITY for many ranges; a medium swapped in stops the next, the one after uses it', async () => {
    await dev.readCapacity();
    let asked = 0;
    backend.devices[0]!.onCommand(0x25, ({ builtin }) => {
      asked++;
      return builtin();
    });
    const data = patterned(MIB, 21);
    await dev.write(0, data, { allowMediumWrite: true });
    for (let i = 0; i < 3; i++)
      expect(Buffer.from(await dev.read(0, MIB / BLOCK)).equals(Buffer.from(data))).toBe(true);
    expect(asked).toBe(1); // the daemon's device, once; this client's own was read before counting
    // A larger medium of 4 KiB blocks goes in: the next range meets its unit attention and stops.
    backend.devices[0]!.target.units[0]!.insertMedium(new RamBlockStore(4096, BigInt(2 * BLOCKS)));
    await expect(dev.read(0, 8)).rejects.toMatchObject({
      code: ErrorCodes.CHECK_CONDITION,
      details: { mediumChanged: true },
    });
    // Past the old medium's end is in range now, and the blocks are the new size, on both sides.
    const after = await dev.read(BLOCKS + 8, 8);
    expect([after.length, after.every((b) => b === 0)]).toEqual([8 * 4096, true]);
    expect(asked).toBeGreaterThanOrEqual(2);
  });

  it('a body on a read is refused with E_BAD_INPUT before anything runs', async () => {
    const r = await raw(
      { socketPath: t.socketPath },
      'POST',
      '/v1/devices/1-1/read?lba=0&blocks=8',
      Buffer.alloc(512),
      {
        'content-type': 'application/octet-stream',
      },
    );
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { reason: 'body-on-read' } });
  });

  it('a write body longer than its blocks is refused with E_BAD_INPUT; the device still serves', async () => {
    const r = await raw(
      { socketPath: t.socketPath },
      'POST',
      '/v1/devices/1-1/write?lba=0&blocks=2',
      Buffer.alloc(3 * BLOCK, 7),
      { 'content-type': 'application/octet-stream', 'x-scsi-allow-medium-write': 'true' },
    );
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { reason: 'length-mismatch' } });
    // Chunked, so nothing declares the length up front: the bytes past the range are what is refused.
    const chunked = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(
        {
          socketPath: t.socketPath,
          method: 'POST',
          path: '/v1/devices/1-1/write?lba=0&blocks=2',
          headers: { 'content-type': 'application/octet-stream', 'x-scsi-allow-medium-write': 'true' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(2 * BLOCK, 1));
      req.end(Buffer.alloc(BLOCK, 2));
    });
    expect(chunked.status).toBe(400);
    expect(chunked.body.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { reason: 'body-over-declared' } });
    expect((await dev.read(0, 1)).length).toBe(BLOCK);
  });

  it('without consent a write is refused before the body is read', async () => {
    const r = await raw(
      { socketPath: t.socketPath },
      'POST',
      '/v1/devices/1-1/write?lba=0&blocks=1',
      Buffer.alloc(BLOCK),
      {
        'content-type': 'application/octet-stream',
      },
    );
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { field: 'allowMediumWrite' } });
  });

  it('a range past the medium and a bad lba are typed errors', async () => {
    const past = await raw({ socketPath: t.socketPath }, 'POST', `/v1/devices/1-1/read?lba=${BLOCKS - 1}&blocks=2`);
    expect(past.status).toBe(400);
    expect(past.json.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { reason: 'out-of-range' } });
    const bad = await raw({ socketPath: t.socketPath }, 'POST', '/v1/devices/1-1/read?lba=-1&blocks=2');
    expect(bad.json.error).toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { field: 'lba' } });
  });

  it('a client leaving mid-body stops the write after the piece in flight; the lease holder carries on', async () => {
    const client = new DaemonClient(`unix:${t.socketPath}`);
    try {
      const lease = await client.acquireLease('1-1', { ttlMs: 60_000 });
      const before = patterned(3 * PIECE_BYTES, 4);
      // The lease holder's own broken write (the secret goes in the query: this client sends no other header).
      await writeThenLeave(
        t.socketPath,
        `/v1/devices/1-1/write?lba=0&blocks=${(3 * PIECE_BYTES) / BLOCK}&lease=${lease.secret}`,
        3 * PIECE_BYTES,
        before.subarray(0, PIECE_BYTES + 1000),
      );
      await until(() => t.daemon.ctx.registry.get('1-1').queue.depth === 0, 5000, 'the broken write to end');
      expect((await client.listLeases()).map((l) => l.id)).toEqual([lease.id]);
      expect((await client.getDevice('1-1')).lease).toMatchObject({ id: lease.id });
      // Only whole pieces that arrived were written; the device answers the holder.
      const r = await client.execute('1-1', Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0), {
        length: 8 * BLOCK,
        leaseSecret: lease.secret,
      });
      expect(r.status).toBe(0);
      expect(Buffer.from(r.data).equals(Buffer.from(before.subarray(0, 8 * BLOCK)))).toBe(true);
      const other = await raw({ socketPath: t.socketPath }, 'POST', '/v1/devices/1-1/read?lba=0&blocks=1');
      expect(other.status).toBe(409);
      await client.releaseLease(lease);
    } finally {
      client.close();
    }
  });

  it('a client that aborts its readInto gets E_CANCELLED and the daemon stops the range', async () => {
    await dev.readCapacity();
    const controller = new AbortController();
    const into = new Uint8Array(BLOCKS * BLOCK);
    const reading = dev.readInto(0, into, {
      signal: controller.signal,
      onProgress: (done) => {
        if (done >= 2 * MIB) controller.abort();
      },
    });
    await expect(reading).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
    await until(() => t.daemon.ctx.registry.get('1-1').queue.depth === 0, 5000, 'the aborted read to end');
    await until(() => t.daemon.ctx.bytesInFlight.inUse === 0, 5000, 'the buffers of the read to be given back');
    const whole = await dev.read(0, 4096);
    expect(whole.length).toBe(4096 * BLOCK);
  });

  it('a read whose client leaves midway stops; the next read is whole', async () => {
    await new Promise<void>((resolve) => {
      const r = request(
        { socketPath: t.socketPath, method: 'POST', path: `/v1/devices/1-1/read?lba=0&blocks=${BLOCKS}` },
        (res) => {
          res.once('data', () => {
            r.destroy();
            resolve();
          });
        },
      );
      r.on('error', () => resolve());
      r.end();
    });
    await sleep(20);
    await until(() => t.daemon.ctx.registry.get('1-1').queue.depth === 0, 5000, 'the abandoned read to end');
    const whole = await dev.read(0, 4096);
    expect(whole.length).toBe(4096 * BLOCK);
  });
});

describe('usbscsid serving two devices', () => {
  it('two clients reading a range each: the two devices run their READs at the same time', async () => {
    const backend = createSimBackend(['sim:blocks=4096', 'sim:blocks=4096']);
    const probe = overlapProbe(backend.devices);
    const t = await startTestDaemon(await createCoreProvider({ backend, transport: 'bot' }), { idleCloseMs: 5000 });
    const devices = await Promise.all(
      ['1-1', '1-2'].map((selector) => openRemoteDevice({ via: `unix:${t.socketPath}`, selector })),
    );
    try {
      // 2 MiB each: two 1 MiB READs per device, every one of which waits in the emulator for the other device's.
      await Promise.all(devices.map((d) => d.read(0, 4096)));
    } finally {
      for (const d of devices) await d.close();
      await t.stop();
    }
    expect(probe.commands).toBe(4);
    expect(probe.overlaps).toBe(2);
  });
});

const fileReceiver = systemFileReceiver();

describe.skipIf(fileReceiver === undefined)(
  `usbscsid block ranges: the client's file handed to the daemon${
    fileReceiver ? '' : ' (SKIPPED LOUDLY: no native addon with fd passing on this platform)'
  }`,
  () => {
    const handed: number[] = [];
    /** The daemon's receiver, recording each descriptor it took. */
    const recordingReceiver: ReceiveFd = (socketFd) => {
      const fd = fileReceiver!(socketFd);
      if (fd !== null) handed.push(fd);
      return fd;
    };
    let t: TestDaemon;
    let dev: ScsiDevice;
    let backend: EmulatorBackend;
    const start = async (receiveFd: ReceiveFd | null) => {
      backend = createSimBackend([`sim:blocks=${BLOCKS}`]);
      t = await startTestDaemon(await createCoreProvider({ backend, transport: 'bot' }), { receiveFd });
      dev = await openRemoteDevice({ via: `unix:${t.socketPath}` });
    };
    afterEach(async () => {
      await dev.close();
      await t.stop();
      handed.length = 0;
    });

    it('writeFromFd and readToFd hand the file over: no byte crosses the socket, offsets kept', async () => {
      await start(recordingReceiver);
      const client = (dev.transport as RemoteTransport).client;
      const streamed = [
        vi.spyOn(client, 'readBlocks'),
        vi.spyOn(client, 'readBlocksInto'),
        vi.spyOn(client, 'writeBlocks'),
      ];
      const data = patterned(5 * MIB, 7);
      const file = join(t.dir, 'in.bin');
      writeFileSync(file, Buffer.concat([Buffer.alloc(BLOCK, 0xee), data]));
      const fdIn = openSync(file, 'r');
      try {
        expect(await dev.writeFromFd(300, data.length / BLOCK, fdIn, { allowMediumWrite: true, position: BLOCK })).toBe(
          data.length,
        );
      } finally {
        closeSync(fdIn);
      }
      const out = join(t.dir, 'out.bin');
      const fdOut = openSync(out, 'w');
      const progress: number[] = [];
      try {
        const moved = await dev.readToFd(300, data.length / BLOCK, fdOut, {
          position: 4096,
          onProgress: (done) => progress.push(done),
        });
        expect(moved).toBe(data.length);
      } finally {
        closeSync(fdOut);
      }
      const back = readFileSync(out);
      expect(back.length).toBe(4096 + data.length);
      expect(back.subarray(0, 4096).every((b) => b === 0)).toBe(true);
      expect(back.subarray(4096).equals(Buffer.from(data))).toBe(true);
      expect(progress.at(-1)).toBe(data.length);
      expect(handed).toHaveLength(2);
      expect(streamed.map((s) => s.mock.calls.length)).toEqual([0, 0, 0]);
    });

    it('readInto and write of memory go through a staging area handed over and reused: no byte streamed', async () => {
      const files: string[] = [];
      await start((socketFd) => {
        const fd = recordingReceiver(socketFd);
        if (fd !== null) files.push(`${readlinkSync(`/proc/self/fd/${fd}`)} ${fstatSync(fd).ino}`);
        return fd;
      });
      const client = (dev.transport as RemoteTransport).client;
      const streamed = [vi.spyOn(client, 'readBlocksInto'), vi.spyOn(client, 'writeBlocks')];
      const data = patterned(3 * MIB, 9);
      await writeAndReadBack(dev, 700, data);
      expect(handed).toHaveLength(2);
      expect(streamed.map((s) => s.mock.calls.length)).toEqual([0, 0]);
      // One shared memory area served the write and then the read.
      expect(files[0]).toMatch(/^\/memfd:usbscsi-shared/);
      expect(files[1]).toBe(files[0]);
      // What another client reads from the device is what was written.
      const other = await openRemoteDevice({ via: `unix:${t.socketPath}` });
      try {
        expect(
          Buffer.from(await other.read(700 + 2048, 8)).equals(Buffer.from(data.subarray(MIB, MIB + 8 * BLOCK))),
        ).toBe(true);
      } finally {
        await other.close();
      }
      // A range that failed after the area was handed over: the area is not lent again (the daemon
      // could still be writing into it), the next range gets a new one, and its bytes are intact.
      await expect(dev.readInto(BLOCKS - 1024, new Uint8Array(2 * MIB))).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
      });
      expect(files).toHaveLength(3);
      expect(files[2]).toBe(files[0]);
      const back = new Uint8Array(data.length);
      await dev.readInto(700, back);
      expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
      expect(files).toHaveLength(4);
      expect(files[3]).not.toBe(files[0]);
    });

    it('allocateBuffer memory is the file handed over: the daemon reads into and writes from it in place', async () => {
      const names: string[] = [];
      await start((socketFd) => {
        const fd = recordingReceiver(socketFd);
        if (fd !== null) names.push(readlinkSync(`/proc/self/fd/${fd}`));
        return fd;
      });
      const client = (dev.transport as RemoteTransport).client;
      const streamed = [vi.spyOn(client, 'readBlocksInto'), vi.spyOn(client, 'writeBlocks')];
      const memory = dev.allocateBuffer(4 * MIB);
      expect(memory.pinned).toBe(true);
      const data = patterned(3 * MIB, 11);
      // A view from 512 KiB into the memory: the daemon gets the offset with the file.
      const view = memory.bytes.subarray(MIB / 2, MIB / 2 + data.length);
      view.set(data);
      await dev.write(900, view, { allowMediumWrite: true });
      view.fill(0);
      const progress: number[] = [];
      await dev.readInto(900, view, { onProgress: (done) => progress.push(done) });
      expect(Buffer.from(view).equals(Buffer.from(data))).toBe(true);
      expect(progress.at(-1)).toBe(data.length);
      expect(memory.bytes.subarray(0, MIB / 2).every((b) => b === 0)).toBe(true);
      expect(handed).toHaveLength(2);
      expect(names.every((n) => n.startsWith('/memfd:usbscsi-shared'))).toBe(true);
      expect(streamed.map((s) => s.mock.calls.length)).toEqual([0, 0]);
      expect(Buffer.from(await dev.read(900 + 2048, 8)).equals(Buffer.from(data.subarray(MIB, MIB + 8 * BLOCK)))).toBe(
        true,
      );
      // Its descriptor must outlive the ranges on it: release() refuses while one is in flight.
      const transferFile = client.transferFile.bind(client);
      let refused: unknown;
      vi.spyOn(client, 'transferFile').mockImplementationOnce((...args) => {
        try {
          memory.release();
        } catch (err) {
          refused = err;
        }
        return transferFile(...args);
      });
      await dev.readInto(900, view);
      expect(refused).toMatchObject({ code: ErrorCodes.BUSY });
      expect(Buffer.from(view).equals(Buffer.from(data))).toBe(true);
      memory.release();
      expect(memory.bytes.length).toBe(0);
    });

    it('allocateBuffer memory, a range under 1 MiB: streamed, no file handed over, bytes intact', async () => {
      await start(recordingReceiver);
      const memory = dev.allocateBuffer(MIB);
      const data = patterned(64 * 1024, 19);
      const view = memory.bytes.subarray(4096, 4096 + data.length);
      view.set(data);
      await dev.write(40, view, { allowMediumWrite: true });
      view.fill(0);
      await dev.readInto(40, view);
      expect(Buffer.from(view).equals(Buffer.from(data))).toBe(true);
      expect(handed).toHaveLength(0);
      memory.release();
    });

    it('a cancelled readInto of allocateBuffer memory: late bytes from the daemon stay out of it', async () => {
      await start(recordingReceiver);
      const data = patterned(2 * MIB, 17);
      await dev.write(0, data, { allowMediumWrite: true });
      const memory = dev.allocateBuffer(2 * MIB);
      memory.bytes.fill(0xaa);
      // The daemon's first READ waits in the device until the client has given up.
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      backend.devices[0]!.onCommand(0x28, async (ctx) => {
        entered();
        await gate;
        return ctx.builtin();
      });
      const controller = new AbortController();
      const first = memory.bytes.subarray(0, MIB);
      const reading = dev.readInto(0, first, { signal: controller.signal });
      await inside;
      const daemonFd = handed.at(-1)!;
      // A second range on the same memory waits in the device's queue meanwhile.
      const second = memory.bytes.subarray(MIB);
      const waiting = dev.readInto(MIB / BLOCK, second);
      controller.abort();
      await expect(reading).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
      // The caller owns the memory again. The native engine writes each READ into the file as it
      // completes, so the READ in flight may still land there: what the daemon writes now must
      // stay in the file.
      writeSync(daemonFd, data, 0, MIB, 0);
      expect(memory.bytes.every((b) => b === 0xaa)).toBe(true);
      open();
      // The second range, handed the file before the first was given up, still fills its part.
      await waiting;
      expect(Buffer.from(second).equals(Buffer.from(data.subarray(MIB)))).toBe(true);
      expect(first.every((b) => b === 0xaa)).toBe(true);
      await until(() => t.daemon.ctx.registry.get('1-1').queue.depth === 0, 5000, 'the cancelled read to end');
      // The memory still serves ranges (no longer shared: as ordinary memory) and releases.
      await dev.readInto(0, memory.bytes);
      expect(Buffer.from(memory.bytes).equals(Buffer.from(data))).toBe(true);
      memory.release();
      expect(memory.bytes.length).toBe(0);
    });

    it('a client counting the old block size: refused, its file untouched; then it asks again', async () => {
      await start(recordingReceiver);
      await dev.read(0, 1); // the daemon knows the capacity now, as this client does
      // Three more clients that know 512-byte blocks: to read into a file, to write from it, to read.
      const stale: ScsiDevice[] = [];
      for (let i = 0; i < 3; i++) stale.push(await openRemoteDevice({ via: `unix:${t.socketPath}` }));
      const file = join(t.dir, 'stale.bin');
      writeFileSync(file, Buffer.alloc(64 * 1024, 0xee));
      const fd = openSync(file, 'r+');
      try {
        for (const d of stale) await d.readCapacity();
        backend.devices[0]!.target.units[0]!.insertMedium(new RamBlockStore(4096, 4096n));
        // The first client meets the change; the other two never hear of it.
        await expect(dev.read(0, 1)).rejects.toMatchObject({ details: { mediumChanged: true } });
        const refused = { code: ErrorCodes.BAD_INPUT, details: { reason: 'length-mismatch', expected: 8 * 4096 } };
        await expect(stale[0]!.readToFd(0, 8, fd)).rejects.toMatchObject(refused);
        await expect(stale[1]!.writeFromFd(0, 8, fd, { allowMediumWrite: true })).rejects.toMatchObject(refused);
        await expect(stale[2]!.read(0, 8)).rejects.toMatchObject({ details: { reason: 'length-mismatch' } });
        expect(readFileSync(file).every((b) => b === 0xee)).toBe(true);
        expect((await dev.read(0, 8)).every((b) => b === 0)).toBe(true);
        // Refused, each client forgot its count: the same call again moves blocks of the new size.
        expect(await stale[0]!.readToFd(0, 8, fd)).toBe(8 * 4096);
        expect((await stale[2]!.read(0, 8)).length).toBe(8 * 4096);
      } finally {
        closeSync(fd);
        for (const d of stale) await d.close();
      }
    });

    it('allocateBuffer memory with a daemon that cannot take files: streamed both ways, bytes intact', async () => {
      await start(null);
      const memory = dev.allocateBuffer(2 * MIB);
      const data = patterned(2 * MIB, 13);
      memory.bytes.set(data);
      await dev.write(1200, memory.bytes, { allowMediumWrite: true });
      memory.bytes.fill(0);
      await dev.readInto(1200, memory.bytes);
      expect(Buffer.from(memory.bytes).equals(Buffer.from(data))).toBe(true);
      memory.release();
    });

    it('a daemon that cannot take files: the same calls stream the bytes instead', async () => {
      await start(null);
      const client = (dev.transport as RemoteTransport).client;
      const reads = vi.spyOn(client, 'readBlocks');
      const file = join(t.dir, 'out.bin');
      const fd = openSync(file, 'w');
      try {
        expect(await dev.readToFd(0, 2048, fd)).toBe(2048 * BLOCK);
      } finally {
        closeSync(fd);
      }
      expect(reads).toHaveBeenCalledTimes(1);
      expect(readFileSync(file).equals(Buffer.from(await dev.read(0, 2048)))).toBe(true);
    });

    it('refused before the file is asked for: no consent, a bad position, a body, a range past the end', async () => {
      let asked = 0;
      await start((socketFd) => {
        asked++;
        return fileReceiver!(socketFd);
      });
      const target = { socketPath: t.socketPath };
      const noConsent = await raw(target, 'POST', '/v1/devices/1-1/write?lba=0&blocks=1&file=passed');
      expect([noConsent.status, noConsent.json.error.code]).toEqual([400, 'E_BAD_INPUT']);
      expect(noConsent.json.error.details.field).toBe('allowMediumWrite');
      const badPosition = await raw(target, 'POST', '/v1/devices/1-1/read?lba=0&blocks=1&file=passed&position=-1');
      expect([badPosition.status, badPosition.json.error.details.field]).toEqual([400, 'position']);
      const badValue = await raw(target, 'POST', '/v1/devices/1-1/read?lba=0&blocks=1&file=yes');
      expect([badValue.status, badValue.json.error.details.field]).toEqual([400, 'file']);
      // Leased to another client: 409 before the file is asked for.
      const other = new DaemonClient(`unix:${t.socketPath}`);
      const grant = await other.acquireLease('1-1');
      try {
        const leased = await raw(target, 'POST', '/v1/devices/1-1/read?lba=0&blocks=1&file=passed');
        expect([leased.status, leased.json.error.code]).toEqual([409, 'E_BUSY']);
      } finally {
        await other.releaseLease(grant);
        other.close();
      }
      expect(asked).toBe(0);
      // A range past the end is the device's to know: asked for, then refused, the file closed.
      const file = openSync(join(t.dir, 'x.bin'), 'w');
      try {
        await expect(
          (dev.transport as RemoteTransport).client.transferFile(
            '1-1',
            'read',
            { lba: BigInt(BLOCKS - 1), blocks: 2, bytes: 2 * BLOCK },
            file,
            0,
          ),
        ).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { reason: 'out-of-range' } });
      } finally {
        closeSync(file);
      }
    });
  },
);
