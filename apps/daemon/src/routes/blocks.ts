/**
 * POST /v1/devices/:id/read and /write?lba=&blocks=: a whole range of logical blocks in one
 * request, the data as raw bytes streamed both ways (core's wire/blocks.ts). The daemon runs the
 * range as one job in the device's queue, one piece of a few commands at a time, through two buffers:
 * the next command runs while the previous piece is on the socket (read), or while the next
 * piece arrives (write). A slow client slows the device down, never the daemon's memory.
 */
import { closeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BlockHeaders,
  ErrorCodes,
  UsbScsiError,
  badInput,
  errorTrailer,
  LENGTH_MISMATCH,
  type BlockFileResultJson,
  type BlockWriteResultJson,
  type ScsiDevice,
  type TransferBuffer,
} from '@usbscsi/core';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { holdUntilAnswered } from '../byte-budget.js';
import type { DaemonContext } from '../context.js';
import { blockDeviceOf } from '../device-api.js';
import { asUsbScsiError, cancelled } from '../errors.js';
import { receiveFile, type ReceiveFd } from '../file-passing.js';
import { parseBoolField, parseIntField } from '../request-fields.js';
import { clientGoneSignal, headerValue } from './devices.js';

/**
 * Bytes per piece; two such buffers per stream. A piece is one call into core, which runs it as one
 * job of commands of the device's usual size (1 MiB by default): several commands per piece keep
 * the engine's job going without a JavaScript round trip per command, as in process, and spread
 * the per-call costs (the job's set-up, the mount check before a write) over more bytes.
 */
export const PIECE_BYTES = 4 * 1024 * 1024;
const MAX_TIMEOUT_MS = 3_600_000;

interface BlockRange {
  lba: bigint;
  blocks: number;
  timeoutMs?: number;
  leaseSecret?: string;
}

function parseRange(request: FastifyRequest): BlockRange {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const lbaText = query['lba'];
  if (typeof lbaText !== 'string' || !/^\d{1,20}$/.test(lbaText) || BigInt(lbaText) > 0xffff_ffff_ffff_ffffn)
    throw badInput('lba is required: the first logical block, as decimal digits (0 to 2^64 - 1)', { field: 'lba' });
  const blocks = parseIntField('blocks', query['blocks'], 1, 0xffff_ffff, 'text');
  if (blocks === undefined) throw badInput('blocks is required: how many logical blocks', { field: 'blocks' });
  const timeoutMs = parseIntField(
    'timeoutMs',
    headerValue(request.headers['x-scsi-timeout-ms']) ?? query['timeoutMs'],
    1,
    MAX_TIMEOUT_MS,
    'text',
  );
  const leaseSecret =
    headerValue(request.headers['x-usbscsi-lease']) ??
    (typeof query['lease'] === 'string' ? query['lease'] : undefined);
  return {
    lba: BigInt(lbaText),
    blocks,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(leaseSecret !== undefined ? { leaseSecret } : {}),
  };
}

/**
 * The range's byte count on this device, refused when it ends past the medium or over the daemon's
 * limit. The capacity is the device's known one: READ CAPACITY per range cost 4-8 ms under
 * emulation; a medium changed since is caught by the range's first command (mediumChanged).
 */
async function rangeBytes(
  device: ScsiDevice,
  range: BlockRange,
  limit: number,
): Promise<{ total: number; blockSize: number }> {
  const capacity = await device.knownCapacity();
  const end = range.lba + BigInt(range.blocks);
  if (end > capacity.lastLba + 1n)
    throw badInput(`blocks ${range.lba}..${end - 1n} end past the medium's last block ${capacity.lastLba}`, {
      field: 'blocks',
      reason: 'out-of-range',
      lastLba: capacity.lastLba.toString(),
    });
  const total = range.blocks * capacity.blockSize;
  if (total > limit)
    throw badInput(
      `${total} bytes in one request is over this daemon's limit of ${limit} bytes (--body-limit); ` +
        `send the range in smaller requests`,
      { field: 'blocks', reason: 'over-limit', limit },
    );
  return { total, blockSize: capacity.blockSize };
}

function twoBuffers(device: ScsiDevice, bytes: number): [TransferBuffer, TransferBuffer] {
  const first = device.allocateBuffer(bytes);
  try {
    return [first, device.allocateBuffer(bytes)];
  } catch (err) {
    first.release();
    throw err;
  }
}

/** Resolves once `bytes` are handed to the socket (the buffer may then be reused); rejects if the client left. */
function send(res: ServerResponse, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = () => reject(cancelled('the client closed the connection during the read'));
    if (res.destroyed) {
      gone();
      return;
    }
    res.once('close', gone);
    res.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
      res.removeListener('close', gone);
      if (err) gone();
      else resolve();
    });
  });
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

export const blockRoutes =
  (ctx: DaemonContext, receiveFd?: ReceiveFd): FastifyPluginAsync =>
  async (app) => {
    // These routes read their body themselves, piece by piece (in this plugin only).
    app.removeContentTypeParser('application/octet-stream');
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

    app.post<{ Params: { id: string } }>(
      '/v1/devices/:id/read',
      { config: { streamsBody: true } },
      async (request, reply): Promise<BlockFileResultJson | undefined> => {
        if (ctx.draining) throw cancelled('the daemon is shutting down; retry against the next instance');
        const slot = ctx.registry.get(request.params.id);
        if (hasBody(request))
          throw badInput('a read takes no request body: the range is in the query (lba, blocks)', {
            reason: 'body-on-read',
          });
        const range = parseRange(request);
        if (passesFile(request)) return fileRange(ctx, request, reply.raw, 'read', range, receiveFd);
        const res = reply.raw;
        holdUntilAnswered(ctx.bytesInFlight, res, 2 * PIECE_BYTES, 'the buffers of this read');
        let started = false;
        let sentBytes = 0;
        try {
          await slot.run(
            async (job) => {
              const device = blockDeviceOf(job.device);
              const { total, blockSize } = await rangeBytes(device, range, ctx.limits.maxTransferLength);
              const piece = Math.min(total, Math.max(blockSize, PIECE_BYTES - (PIECE_BYTES % blockSize)));
              const buffers = twoBuffers(device, piece);
              const onSocket: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
              try {
                for (let offset = 0, i = 0; offset < total; i++) {
                  const n = Math.min(piece, total - offset);
                  await onSocket[i % 2];
                  const view = buffers[i % 2]!.bytes.subarray(0, n);
                  await device.readInto(range.lba + BigInt(offset / blockSize), view, {
                    signal: job.signal,
                    ...(range.timeoutMs !== undefined ? { timeoutMs: range.timeoutMs } : {}),
                  });
                  if (!started) {
                    started = true;
                    reply.hijack();
                    res.writeHead(200, {
                      'content-type': 'application/octet-stream',
                      'cache-control': 'no-store',
                      trailer: `${BlockHeaders.transferred}, ${BlockHeaders.error}`,
                      [BlockHeaders.length]: String(total),
                      [BlockHeaders.blockSize]: String(blockSize),
                      'x-request-id': String(request.id),
                    });
                  }
                  onSocket[i % 2] = send(res, view).then(() => {
                    sentBytes += n;
                  });
                  offset += n;
                }
                await Promise.all(onSocket);
              } finally {
                // A piece still on its way to the socket keeps its buffer until the write settles.
                await Promise.allSettled(onSocket);
                for (const b of buffers) b.release();
              }
            },
            {
              signal: clientGoneSignal(res),
              ...(range.leaseSecret !== undefined ? { leaseSecret: range.leaseSecret } : {}),
            },
          );
        } catch (err) {
          if (!started) throw err;
          const e = asUsbScsiError(err);
          request.log.info({ device: slot.id, code: e.code, sent: sentBytes }, `read failed midway: ${e.message}`);
          if (!res.destroyed) {
            res.addTrailers({ [BlockHeaders.transferred]: String(sentBytes), [BlockHeaders.error]: errorTrailer(e) });
            res.end();
          }
          return;
        }
        ctx.metrics.recordCommand(0x28, 'good', 0, sentBytes, 0);
        res.addTrailers({ [BlockHeaders.transferred]: String(sentBytes) });
        res.end();
      },
    );

    app.post<{ Params: { id: string } }>(
      '/v1/devices/:id/write',
      { config: { streamsBody: true } },
      async (request, reply): Promise<BlockWriteResultJson | BlockFileResultJson> => {
        if (ctx.draining) throw cancelled('the daemon is shutting down; retry against the next instance');
        const slot = ctx.registry.get(request.params.id);
        if (passesFile(request)) {
          if (hasBody(request))
            throw badInput('a write from a file handed over takes no request body', { reason: 'body-with-file' });
          return fileRange(ctx, request, reply.raw, 'write', parseRange(request), receiveFd);
        }
        const body = request.body as IncomingMessage | undefined;
        if (!body || typeof body !== 'object' || typeof body.pipe !== 'function')
          throw badInput('send the blocks as the body, Content-Type: application/octet-stream', {
            reason: 'not-octet-stream',
          });
        const range = parseRange(request);
        requireConsent(request);
        const declaredText = request.headers['content-length'];
        const declared = declaredText !== undefined ? Number(declaredText) : undefined;
        holdUntilAnswered(ctx.bytesInFlight, reply.raw, 2 * PIECE_BYTES, 'the buffers of this write');
        const written = await slot.run(
          async (job) => {
            const device = blockDeviceOf(job.device);
            const { total, blockSize } = await rangeBytes(device, range, ctx.limits.bodyLimit);
            if (declared !== undefined && declared !== total)
              throw badInput(
                `the body is declared as ${declared} bytes (Content-Length); ${range.blocks} blocks of ` +
                  `${blockSize} bytes are ${total}`,
                { reason: LENGTH_MISMATCH, declared, expected: total },
              );
            return writeFromBody(device, body, range, total, blockSize, job.signal);
          },
          {
            signal: clientGoneSignal(reply.raw),
            ...(range.leaseSecret !== undefined ? { leaseSecret: range.leaseSecret } : {}),
          },
        );
        ctx.metrics.recordCommand(0x2a, 'good', 0, 0, written);
        return { written };
      },
    );
  };

/** Medium-write consent of a write request, or E_BAD_INPUT. */
function requireConsent(request: FastifyRequest): void {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const consent = parseBoolField(
    'allowMediumWrite',
    headerValue(request.headers['x-scsi-allow-medium-write']) ?? query['allowMediumWrite'],
    'text',
  );
  if (consent !== true)
    throw badInput(
      'writing to the medium needs explicit consent: X-Scsi-Allow-Medium-Write: true (--yes on the command line)',
      { field: 'allowMediumWrite' },
    );
}

function passesFile(request: FastifyRequest): boolean {
  const file = ((request.query ?? {}) as Record<string, unknown>)['file'];
  if (file === undefined) return false;
  if (file !== 'passed')
    throw badInput(`file=${typeof file === 'string' ? file : '…'}: the only value is "passed"`, { field: 'file' });
  return true;
}

/**
 * A range between the device and the client's file (file-passing.ts): the bytes go between the
 * device and the file in this process, through the same ScsiDevice calls as in process, and none
 * crosses the socket. Checks come first: a refused request never asks for the file.
 */
async function fileRange(
  ctx: DaemonContext,
  request: FastifyRequest<{ Params: { id: string } }>,
  res: ServerResponse,
  kind: 'read' | 'write',
  range: BlockRange,
  receiveFd: ReceiveFd | undefined,
): Promise<BlockFileResultJson> {
  const slot = ctx.registry.get(request.params.id);
  if (kind === 'write') requireConsent(request);
  const query = (request.query ?? {}) as Record<string, unknown>;
  const position = parseIntField('position', query['position'], 0, 2 ** 53 - 1, 'text') ?? 0;
  const expected = parseIntField('bytes', query['bytes'], 1, 2 ** 53 - 1, 'text');
  const runOptions = range.leaseSecret !== undefined ? { leaseSecret: range.leaseSecret } : {};
  // Gone, leased to another secret, queue full: said before the file is asked for.
  const refused = slot.refusal(runOptions);
  if (refused) throw refused;
  const fd = await receiveFile(request.raw.socket, res, receiveFd);
  try {
    const bytes = await slot.run(
      async (job) => {
        const device = blockDeviceOf(job.device);
        const limit = kind === 'read' ? ctx.limits.maxTransferLength : ctx.limits.bodyLimit;
        const { total, blockSize } = await rangeBytes(device, range, limit);
        // The file's bytes are counted by the device's block size: the client's count must agree.
        if (expected !== undefined && expected !== total)
          throw badInput(
            `${range.blocks} blocks of ${blockSize} bytes are ${total} bytes on this device; the client counted ` +
              `${expected}: the medium may have changed (check it: usbscsi readcap), then send the range again`,
            { reason: LENGTH_MISMATCH, declared: expected, expected: total, blockSize },
          );
        const options = {
          position,
          signal: job.signal,
          ...(range.timeoutMs !== undefined ? { timeoutMs: range.timeoutMs } : {}),
        };
        return kind === 'read'
          ? device.readToFd(range.lba, range.blocks, fd, options)
          : device.writeFromFd(range.lba, range.blocks, fd, { ...options, allowMediumWrite: true });
      },
      { signal: clientGoneSignal(res), ...runOptions },
    );
    ctx.metrics.recordCommand(
      kind === 'read' ? 0x28 : 0x2a,
      'good',
      0,
      kind === 'read' ? bytes : 0,
      kind === 'write' ? bytes : 0,
    );
    return { bytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * Fills one buffer from the body while the other one's WRITE runs. Only whole pieces that
 * arrived are written: a body that ends early, runs over, or whose client leaves, stops the
 * range after the WRITE in flight (a write is never cut in half), and says how much was written.
 */
async function writeFromBody(
  device: ScsiDevice,
  body: IncomingMessage,
  range: BlockRange,
  total: number,
  blockSize: number,
  signal: AbortSignal,
): Promise<number> {
  // Consent and the mount check once for the range, before any of the body is read.
  const writer = await device.rangeWriter(range.lba, range.blocks, {
    allowMediumWrite: true,
    ...(range.timeoutMs !== undefined ? { timeoutMs: range.timeoutMs } : {}),
  });
  const piece = Math.min(total, Math.max(blockSize, PIECE_BYTES - (PIECE_BYTES % blockSize)));
  const buffers = twoBuffers(device, piece);
  // A failed WRITE is kept here, not as a rejected promise nobody awaits while the body arrives.
  let inFlight: Promise<void> = Promise.resolve();
  let failure: unknown;
  let written = 0;
  const flush = async (view: Uint8Array) => {
    await inFlight;
    if (failure !== undefined) throw asUsbScsiError(failure);
    inFlight = writer.write(view).then(
      () => {
        written += view.length;
      },
      (err: unknown) => {
        failure = err;
      },
    );
  };
  const stop = () => body.destroy(cancelled('the client left during the write'));
  signal.addEventListener('abort', stop, { once: true });
  let received = 0;
  let current = 0;
  let pieceStart = 0;
  let fill = 0;
  try {
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (received + chunk.length > total)
          throw badInput(`the body carries more than the ${total} bytes of ${range.blocks} blocks`, {
            reason: 'body-over-declared',
            expected: total,
          });
        received += chunk.length;
        for (let at = 0; at < chunk.length;) {
          const pieceLength = Math.min(piece, total - pieceStart);
          const n = Math.min(pieceLength - fill, chunk.length - at);
          buffers[current]!.bytes.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === pieceLength) {
            await flush(buffers[current]!.bytes.subarray(0, fill));
            current ^= 1;
            pieceStart += fill;
            fill = 0;
          }
        }
      }
    } catch (err) {
      if (err instanceof UsbScsiError) throw err;
      throw cancelled(`the body stopped after ${received} of ${total} bytes: ${(err as Error).message}`);
    }
    if (received < total)
      throw badInput(`the body ended after ${received} of ${total} bytes`, {
        reason: 'body-short',
        received,
        expected: total,
      });
    await inFlight;
    if (failure !== undefined) throw asUsbScsiError(failure);
    return written;
  } catch (err) {
    await inFlight;
    const e = asUsbScsiError(failure ?? err);
    e.details.written = written;
    if (e.code !== ErrorCodes.CANCELLED) e.message += ` (${written} bytes were written from lba ${range.lba})`;
    throw e;
  } finally {
    signal.removeEventListener('abort', stop);
    await inFlight;
    writer.end();
    for (const b of buffers) b.release();
  }
}
