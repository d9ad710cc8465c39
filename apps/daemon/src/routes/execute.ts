import {
  badInput,
  DEFAULT_TIMEOUT_MS,
  ErrorCodes,
  hex,
  resultHeaders,
  resultToJson,
  UsbScsiError,
  type DataDirection,
  type ScsiResult,
} from '@usbscsi/core';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { DaemonContext } from '../context.js';
import { holdUntilAnswered } from '../byte-budget.js';
import { cancelled } from '../errors.js';
import { opcodeClass } from '../metrics.js';
import { parseBoolField, parseCdbHex, parseDirection, parseIntField } from '../request-fields.js';
import { clientGoneSignal, headerValue } from './devices.js';

interface ParsedCommand {
  cdb: Uint8Array;
  direction: DataDirection;
  length?: number;
  data?: Uint8Array;
  timeoutMs: number;
  allowMediumWrite: boolean;
  leaseSecret?: string;
}

const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Two request forms:
 * - JSON `{ cdb, direction, length, data (base64, small), timeoutMs, allowMediumWrite, lease }`;
 * - a binary data-out body (`application/octet-stream`) with the CDB and options in
 *   `X-Scsi-*` headers or the query string.
 * Data-in comes back as JSON (base64) or, with `Accept: application/octet-stream`,
 * as the raw bytes with the result in `X-Scsi-*` headers.
 */
function parseCommand(request: FastifyRequest, maxTransferLength: number): ParsedCommand {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const h = request.headers;
  const leaseSecret = headerValue(h['x-usbscsi-lease']) ?? (typeof query.lease === 'string' ? query.lease : undefined);
  if (Buffer.isBuffer(request.body)) {
    const direction = parseDirection(headerValue(h['x-scsi-direction']) ?? query.direction) ?? 'out';
    if (direction !== 'out') throw badInput('a binary body is data-out: direction must be "out" (or absent)');
    return {
      cdb: parseCdbHex(headerValue(h['x-scsi-cdb']) ?? query.cdb),
      direction,
      data: new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength),
      timeoutMs:
        parseIntField('timeoutMs', headerValue(h['x-scsi-timeout-ms']) ?? query.timeoutMs, 1, MAX_TIMEOUT_MS, 'text') ??
        DEFAULT_TIMEOUT_MS,
      allowMediumWrite:
        parseBoolField(
          'allowMediumWrite',
          headerValue(h['x-scsi-allow-medium-write']) ?? query.allowMediumWrite,
          'text',
        ) ?? false,
      leaseSecret,
    };
  }
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badInput(
      'the body must be a JSON object { "cdb": "12 00 00 00 24 00", "direction": "in", ' +
        '"length": 36 }, or application/octet-stream data-out',
    );
  const b = body as Record<string, unknown>;
  const cdb = parseCdbHex(b.cdb);
  const length = parseIntField('length', b.length, 0, Number.MAX_SAFE_INTEGER);
  // 400, not 413: the request is small; what is over the limit is the answer the daemon would hold.
  if (length !== undefined && length > maxTransferLength) {
    throw badInput(
      `length ${length} is over this daemon's data-in limit of ${maxTransferLength} bytes ` +
        `(--body-limit); read in smaller pieces`,
      {
        field: 'length',
        reason: 'data-in-over-limit',
        limit: maxTransferLength,
      },
    );
  }
  let data: Uint8Array | undefined;
  if (b.data !== undefined) {
    if (typeof b.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b.data))
      throw badInput('data must be base64 (for large data-out send application/octet-stream)');
    data = new Uint8Array(Buffer.from(b.data, 'base64'));
  }
  const direction = parseDirection(b.direction) ?? (data ? 'out' : length ? 'in' : 'none');
  if (direction === 'in' && !length)
    throw badInput('direction "in" needs length: the number of bytes to read (at least 1)');
  if (direction === 'out' && !data?.length)
    throw badInput('direction "out" needs data (base64 in JSON, or an application/octet-stream body)');
  if (direction !== 'out' && data) throw badInput(`data is only sent with direction "out", not "${direction}"`);
  if (direction !== 'in' && length)
    throw badInput(`length is the data-in length; with direction "${direction}" leave it out`);
  return {
    cdb,
    direction,
    length,
    data,
    timeoutMs: parseIntField('timeoutMs', b.timeoutMs, 1, MAX_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS,
    allowMediumWrite: parseBoolField('allowMediumWrite', b.allowMediumWrite) ?? false,
    leaseSecret: parseLeaseField(b.lease) ?? leaseSecret,
  };
}

function parseLeaseField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw badInput('lease must be the lease secret as a string (from the acquire answer)', { field: 'lease' });
  return value;
}

function wantsBinary(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('application/octet-stream');
}

export const executeRoute =
  (ctx: DaemonContext): FastifyPluginAsync =>
  async (app) => {
    app.post<{ Params: { id: string } }>('/v1/devices/:id/execute', async (request, reply) => {
      if (ctx.draining) throw cancelled('the daemon is shutting down; retry against the next instance');
      const slot = ctx.registry.get(request.params.id);
      const command = parseCommand(request, ctx.limits.maxTransferLength);
      // The data-in buffer, and in JSON its base64 text and the serialised answer too.
      if (command.direction === 'in' && command.length) {
        holdUntilAnswered(
          ctx.bytesInFlight,
          reply.raw,
          wantsBinary(request) ? command.length : command.length * 3,
          'the data-in of this command',
        );
      }
      const opcode = command.cdb[0] ?? 0;
      const opClass = opcodeClass(opcode);
      const clientGone = clientGoneSignal(reply.raw);
      const started = process.hrtime.bigint();

      let seq = 0;
      const result = await new Promise<ScsiResult>((resolve, reject) => {
        slot
          .run(
            async (job) => {
              seq = job.seq;
              // The running command is stopped when its client leaves only if it does not write
              // the medium: a write is left to finish so the device never sees half of it.
              const stop = new AbortController();
              const forward = () => stop.abort(job.signal.reason);
              if (opClass !== 'write') job.signal.addEventListener('abort', forward, { once: true });
              // Watchdog: the transport enforces timeoutMs itself; this only guards against one that does not.
              const watchdog = setTimeout(() => {
                const err = new UsbScsiError(
                  ErrorCodes.TIMEOUT,
                  `the device did not finish the command within ` +
                    `${command.timeoutMs} ms (+${ctx.limits.watchdogGraceMs} ms grace)`,
                );
                stop.abort(err);
                reject(err);
              }, command.timeoutMs + ctx.limits.watchdogGraceMs);
              try {
                const r = await job.device.execute(command.cdb, {
                  direction: command.direction,
                  length: command.length,
                  data: command.data,
                  timeoutMs: command.timeoutMs,
                  signal: stop.signal,
                  allowMediumWrite: command.allowMediumWrite,
                });
                resolve(r);
              } finally {
                clearTimeout(watchdog);
                job.signal.removeEventListener('abort', forward);
              }
            },
            { signal: clientGone, ...(command.leaseSecret !== undefined ? { leaseSecret: command.leaseSecret } : {}) },
          )
          .catch(reject);
      }).catch((err: unknown) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        ctx.metrics.recordCommand(opcode, 'error', seconds, 0, 0);
        request.log.info(
          { device: slot.id, opcode: hex(opcode), seq, ms: seconds * 1000, code: (err as UsbScsiError).code },
          'command failed',
        );
        throw err;
      });

      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      ctx.metrics.recordCommand(
        opcode,
        result.status === 0 ? 'good' : 'check-condition',
        seconds,
        result.transferred && command.direction === 'in' ? result.transferred : 0,
        command.direction === 'out' ? result.transferred : 0,
      );
      request.log.info(
        {
          device: slot.id,
          opcode: hex(opcode),
          seq,
          ms: seconds * 1000,
          status: result.status,
          ...(result.sense
            ? { sense: `${hex(result.sense.senseKey)}/${hex(result.sense.asc)}/${hex(result.sense.ascq)}` }
            : {}),
        },
        'command done',
      );
      if (wantsBinary(request)) {
        return reply
          .code(200)
          .headers(resultHeaders(result, seq))
          .type('application/octet-stream')
          .send(Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength));
      }
      return reply.code(200).send(resultToJson(result, seq));
    });
  };
