import { describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { ScsiDevice } from '../device.js';
import type { SgIoRequest, SgIoResult } from '../backends/native-addon.js';
import { PassThroughTransport, type SgNodeBinding } from './passthrough.js';
import { readQueueLimits, splitDeviceNumber, type QueueLimitsFs } from './queue-limits.js';

const HIGH_SPEED_LIMIT = 120 * 1024; // usb-storage's max_hw_sectors_kb on a USB 2.0 disk

/** A /dev and /sys of files: `nodes` maps a path to [type, major, minor]. */
function fakeFs(
  nodes: Record<string, ['block' | 'char', number, number]>,
  files: Record<string, string>,
): QueueLimitsFs {
  const norm = (p: string) => {
    const out: string[] = [];
    for (const part of p.split('/')) {
      if (part === '..') out.pop();
      else if (part !== '' && part !== '.') out.push(part);
    }
    return '/' + out.join('/');
  };
  return {
    async stat(path) {
      const n = nodes[path];
      if (!n) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      const rdev = (BigInt(n[1]) << 8n) | BigInt(n[2]);
      return { rdev, isBlockDevice: () => n[0] === 'block', isCharacterDevice: () => n[0] === 'char' };
    },
    async readFile(path) {
      const v = files[norm(path)];
      if (v === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return v;
    },
    async readdir(path) {
      const prefix = norm(path) + '/';
      const names = new Set(
        Object.keys(files)
          .filter((f) => f.startsWith(prefix))
          .map((f) => f.slice(prefix.length).split('/')[0]!),
      );
      if (!names.size) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return [...names];
    },
  };
}

describe('readQueueLimits (the kernel queue limit of an SG_IO node)', () => {
  it('splits a device number like glibc', () => {
    expect(splitDeviceNumber(0x0800n)).toEqual({ major: 8, minor: 0 });
    expect(splitDeviceNumber(0x1500n | 3n)).toEqual({ major: 21, minor: 3 });
    // makedev(0x1234, 0x456): the high bits of each live above bit 32 / bit 20.
    expect(splitDeviceNumber((0x234n << 8n) | (0x1000n << 32n) | 0x56n | (0x400n << 12n))).toEqual({
      major: 0x1234,
      minor: 0x456,
    });
  });

  it('a block device: queue/max_hw_sectors_kb of its disk (120 KiB on a high-speed usb-storage disk)', async () => {
    const fs = fakeFs(
      { '/dev/sdb': ['block', 8, 16] },
      { '/sys/dev/block/8:16/queue/max_hw_sectors_kb': '120\n', '/sys/dev/block/8:16/queue/max_segments': '2048\n' },
    );
    expect(await readQueueLimits('/dev/sdb', { fs })).toEqual({
      maxTransferBytes: HIGH_SPEED_LIMIT,
      source: '/sys/dev/block/8:16/queue/max_hw_sectors_kb = 120',
    });
  });

  it('a partition: the queue of the disk above it', async () => {
    const fs = fakeFs({ '/dev/sdb1': ['block', 8, 17] }, { '/sys/dev/block/queue/max_hw_sectors_kb': '1024' });
    expect((await readQueueLimits('/dev/sdb1', { fs }))?.maxTransferBytes).toBe(1 << 20);
  });

  it('max_segments bounds it when fewer pages fit than sectors', async () => {
    const fs = fakeFs(
      { '/dev/sda': ['block', 8, 0] },
      { '/sys/dev/block/8:0/queue/max_hw_sectors_kb': '32767', '/sys/dev/block/8:0/queue/max_segments': '128' },
    );
    expect(await readQueueLimits('/dev/sda', { fs })).toEqual({
      maxTransferBytes: 128 * 4096,
      source: '/sys/dev/block/8:0/queue/max_segments = 128 (pages of 4096 bytes)',
    });
  });

  it("an sg node: the queue of its block device, else usb-storage's max_sectors, else unknown", async () => {
    const withDisk = fakeFs(
      { '/dev/sg1': ['char', 21, 1] },
      { '/sys/dev/char/21:1/device/block/sdb/queue/max_hw_sectors_kb': '120' },
    );
    expect((await readQueueLimits('/dev/sg1', { fs: withDisk }))?.maxTransferBytes).toBe(HIGH_SPEED_LIMIT);
    const noDisk = fakeFs({ '/dev/sg2': ['char', 21, 2] }, { '/sys/dev/char/21:2/device/max_sectors': '240' });
    expect(await readQueueLimits('/dev/sg2', { fs: noDisk })).toEqual({
      maxTransferBytes: 240 * 512,
      source: '/sys/dev/char/21:2/device/max_sectors = 240',
    });
    expect(await readQueueLimits('/dev/sg3', { fs: fakeFs({ '/dev/sg3': ['char', 21, 3] }, {}) })).toBeNull();
    expect(await readQueueLimits('/dev/missing', { fs: fakeFs({}, {}) })).toBeNull();
  });
});

/** Deep equality of a MiB through expect() takes seconds. */
const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const OK: SgIoResult = {
  status: 0,
  maskedStatus: 0,
  msgStatus: 0,
  hostStatus: 0,
  driverStatus: 0,
  resid: 0,
  durationMs: 1,
  durationNs: 1,
  info: 0,
  sense: new Uint8Array(0),
};

/**
 * A kernel in miniature: a 4 MiB disk of 512-byte blocks that fails a longer data phase than
 * its queue takes as the block layer does (EIO from SG_IO on a block device).
 */
function kernelDisk(limit: number) {
  const disk = new Uint8Array(4 << 20);
  for (let i = 0; i < disk.length; i++) disk[i] = (i * 7 + (i >> 9)) & 0xff;
  const lengths: number[] = [];
  const binding: SgNodeBinding = {
    async execute(req: SgIoRequest) {
      const len = req.buffer?.length ?? 0;
      if (len > limit) throw new UsbScsiError(ErrorCodes.IO, 'SG_IO on /dev/sdb: Input/output error');
      lengths.push(len);
      const op = req.cdb[0]!;
      if (op === 0x25) {
        const v = new DataView(req.buffer!.buffer, req.buffer!.byteOffset);
        v.setUint32(0, disk.length / 512 - 1);
        v.setUint32(4, 512);
        return OK;
      }
      const lba = new DataView(req.cdb.buffer, req.cdb.byteOffset).getUint32(2);
      const at = lba * 512;
      if (op === 0x28) req.buffer!.set(disk.subarray(at, at + len));
      else if (op === 0x2a) disk.set(req.buffer!, at);
      return OK;
    },
  };
  return { disk, lengths, binding };
}

describe('SG_IO and the queue limit', () => {
  const limits = { maxTransferBytes: HIGH_SPEED_LIMIT, source: '/sys/dev/block/8:16/queue/max_hw_sectors_kb = 120' };

  it('ScsiDevice splits a 1 MiB read and a 1 MiB write into commands the queue takes, bytes intact', async () => {
    const k = kernelDisk(HIGH_SPEED_LIMIT);
    const dev = new ScsiDevice(new PassThroughTransport('/dev/sdb', k.binding, { limits }), { mounts: async () => [] });
    const got = await dev.read(8, 2048);
    expect(sameBytes(got, k.disk.subarray(8 * 512, 8 * 512 + (1 << 20)))).toBe(true);
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 13) & 0xff);
    await dev.write(100, data, { allowMediumWrite: true });
    expect(sameBytes(k.disk.subarray(100 * 512, 100 * 512 + data.length), data)).toBe(true);
    expect(Math.max(...k.lengths)).toBe(240 * 512);
    expect(k.lengths.filter((n) => n > 8)).toHaveLength(2 * Math.ceil((1 << 20) / (240 * 512)));
  });

  it('a single raw command over the limit is E_BAD_INPUT naming the limit, and nothing is sent', async () => {
    const k = kernelDisk(HIGH_SPEED_LIMIT);
    const t = new PassThroughTransport('/dev/sdb', k.binding, { limits });
    expect(t.maxTransferBytes).toBe(HIGH_SPEED_LIMIT);
    const dev = new ScsiDevice(t);
    const err = await dev
      .execute(Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 8, 0, 0), { length: 1 << 20 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsbScsiError);
    expect(err).toMatchObject({
      code: ErrorCodes.BAD_INPUT,
      details: { requested: 1 << 20, maxTransferBytes: HIGH_SPEED_LIMIT },
    });
    expect((err as Error).message).toMatch(
      /READ\(10\).*1048576 bytes.*122880 bytes.*max_hw_sectors_kb = 120.*nothing was sent/,
    );
    expect(k.lengths).toEqual([]);
    // At the limit it goes out.
    const r = await dev.execute(Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 240 >> 8, 240 & 0xff, 0), {
      length: HIGH_SPEED_LIMIT,
    });
    expect(r.transferred).toBe(HIGH_SPEED_LIMIT);
  });

  it('without a known limit nothing is refused and the device default (1 MiB) applies', async () => {
    const k = kernelDisk(1 << 20);
    const t = new PassThroughTransport('/dev/sdb', k.binding);
    expect(t.maxTransferBytes).toBeUndefined();
    await new ScsiDevice(t).read(0, 4096);
    expect(Math.max(...k.lengths)).toBe(1 << 20);
  });
});
