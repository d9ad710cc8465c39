// The range read that lands in the caller's buffer, against node:http answering as usbscsid does
// (chunked data, then a trailer): the bytes arrive whole however the chunks and reads fall, and
// every way an answer can go wrong is a typed error, never a short or padded read.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { BlockHeaders, errorTrailer } from '../wire/blocks.js';
import { readRangeInto } from './direct-read.js';

const MIB = 1024 * 1024;

function patterned(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) b.writeUInt32BE((i * 0x9e3779b1) >>> 0, i);
  return b;
}

function startData(res: ServerResponse, length: number): void {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    trailer: `${BlockHeaders.transferred}, ${BlockHeaders.error}`,
    [BlockHeaders.length]: String(length),
  });
}

describe('readRangeInto', () => {
  let dir: string;
  let socketPath: string;
  let server: Server;
  let answer: (res: ServerResponse) => void | Promise<void>;
  let closedByClient: Promise<void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'usbscsi-direct-'));
    socketPath = join(dir, 's.sock');
    let onClose: () => void = () => undefined;
    closedByClient = new Promise((r) => (onClose = r));
    server = createServer((req, res) => {
      res.on('close', () => onClose());
      void answer(res);
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const read = (into: Uint8Array, extra: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}) =>
    readRangeInto(
      { kind: 'unix', socketPath },
      { path: '/v1/devices/1-1/read?lba=0&blocks=1', headers: {}, into, ...extra },
    );

  it('fills the buffer whole however the chunks fall (tiny, split and large ones), with progress', async () => {
    const data = patterned(3 * MIB + 7);
    answer = async (res) => {
      startData(res, data.length);
      // Chunk sizes that put framing and data in the same read and split both across reads.
      const sizes = [1, 2, 3, 17, 4096, 65_535, 65_537, MIB, 5];
      let at = 0;
      for (let i = 0; at < data.length; i++) {
        const n = Math.min(sizes[i % sizes.length]!, data.length - at);
        res.write(data.subarray(at, at + n));
        at += n;
        if (i % 5 === 0) await new Promise((r) => setImmediate(r));
      }
      res.addTrailers({ [BlockHeaders.transferred]: String(data.length) });
      res.end();
    };
    const into = new Uint8Array(data.length);
    const progress: number[] = [];
    await read(into, { onBytes: (n) => progress.push(n) });
    expect(Buffer.from(into).equals(data)).toBe(true);
    expect(progress.at(-1)).toBe(data.length);
    expect(progress.every((n, i) => i === 0 || n > progress[i - 1]!)).toBe(true);
  });

  it('a failure the trailer reports midway is that typed error, not a short read', async () => {
    answer = (res) => {
      startData(res, 2 * MIB);
      res.write(patterned(MIB));
      const err = new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the device went away', { details: { at: 1 } });
      res.addTrailers({ [BlockHeaders.transferred]: String(MIB), [BlockHeaders.error]: errorTrailer(err) });
      res.end();
    };
    await expect(read(new Uint8Array(2 * MIB))).rejects.toMatchObject({
      code: ErrorCodes.DEVICE_GONE,
      message: 'the device went away',
    });
  });

  it('an answer that ends early, says nothing, or runs over its announced length is E_IO', async () => {
    answer = (res) => {
      startData(res, MIB);
      res.write(patterned(MIB / 2), () => res.socket?.destroy());
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining(`ended after ${MIB / 2} of ${MIB} bytes`),
    });
    answer = (res) => {
      startData(res, MIB);
      res.end(patterned(MIB));
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining('without saying why'),
    });
    answer = (res) => {
      startData(res, MIB);
      res.write(patterned(MIB));
      res.end(patterned(10));
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining(`more than the ${MIB} bytes it announced`),
    });
    answer = (res) => {
      startData(res, 2 * MIB);
      res.end();
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining(`announced ${2 * MIB} bytes`),
    });
  });

  it("a refusal is the envelope's typed error with its details and the HTTP status", async () => {
    answer = (res) => {
      res
        .writeHead(409, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'E_BUSY', message: 'leased by x', details: { holder: 'x' } } }));
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.BUSY,
      message: 'leased by x',
      details: { holder: 'x', httpStatus: 409 },
    });
  });

  it('a head or a framing line past its bound is E_IO (a broken daemon cannot make the client hold more)', async () => {
    answer = (res) => {
      res.writeHead(200, { 'x-filler': 'a'.repeat(20_000), [BlockHeaders.length]: String(MIB) });
      res.end();
    };
    await expect(read(new Uint8Array(MIB))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining('a head over'),
    });
  });

  it('an abort closes the connection and rejects with E_CANCELLED', async () => {
    const controller = new AbortController();
    answer = (res) => {
      startData(res, 4 * MIB);
      res.write(patterned(MIB), () => controller.abort());
    };
    await expect(read(new Uint8Array(4 * MIB), { signal: controller.signal })).rejects.toMatchObject({
      code: ErrorCodes.CANCELLED,
    });
    await closedByClient;
  });

  it('says where no daemon listens', async () => {
    await expect(
      readRangeInto(
        { kind: 'unix', socketPath: join(dir, 'none.sock') },
        { path: '/', headers: {}, into: new Uint8Array(1) },
      ),
    ).rejects.toMatchObject({ code: ErrorCodes.IO, message: expect.stringContaining('no usbscsid listens') });
  });
});
