/**
 * POST /v1/devices/:id/firmware: the image as an application/octet-stream body, the options in the
 * query string (mode, chunk, offset, bufferId, activate, target, dma, dryRun, activationTimeoutMs,
 * allowMediumWrite; the lease in X-Usbscsi-Lease as for execute). The answer is a server-sent
 * event stream: `plan`, one `progress` per chunk (then `activate` / `wait`), and `done` with the
 * report or `error` with the error body. Closing the stream cancels between chunks, never inside
 * one. Bad input (400), a device leased to another secret (409 E_BUSY), gone (410) or with a full
 * queue (503) is refused before the stream starts, nothing sent.
 */
import {
  badInput,
  checkFirmwareOptions,
  errorBody,
  parseFirmwareMode,
  toJsonSafe,
  type DownloadFirmwareOptions,
} from '@usbscsi/core';
import type { FastifyPluginAsync } from 'fastify';
import type { DaemonContext } from '../context.js';
import { asUsbScsiError, cancelled } from '../errors.js';
import { deviceOver } from '../device-api.js';
import { parseBoolField, parseIntField } from '../request-fields.js';
import { clientGoneSignal, headerValue } from './devices.js';

function parseOptions(query: Record<string, unknown>, allowHeader: string | undefined): DownloadFirmwareOptions {
  const target = query['target'] ?? 'auto';
  if (target !== 'auto' && target !== 'scsi' && target !== 'ata') throw badInput('target must be auto, scsi or ata');
  const num = (name: string, min: number, max: number) => parseIntField(name, query[name], min, max, 'text');
  const chunkSize = num('chunk', 1, 0xffffff);
  const offset = num('offset', 0, 0xffffff);
  const bufferId = num('bufferId', 0, 255);
  const activationTimeoutMs = num('activationTimeoutMs', 1, 3_600_000);
  return {
    mode: parseFirmwareMode(typeof query['mode'] === 'string' ? query['mode'] : undefined),
    target,
    activate: parseBoolField('activate', query['activate'], 'text') ?? false,
    dryRun: parseBoolField('dryRun', query['dryRun'], 'text') ?? false,
    allowMediumWrite: parseBoolField('allowMediumWrite', allowHeader ?? query['allowMediumWrite'], 'text') ?? false,
    ...(parseBoolField('dma', query['dma'], 'text') ? { ataDma: true } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(offset !== undefined ? { offset } : {}),
    ...(bufferId !== undefined ? { bufferId } : {}),
    ...(activationTimeoutMs !== undefined ? { activationTimeoutMs } : {}),
  };
}

export const firmwareRoute =
  (ctx: DaemonContext): FastifyPluginAsync =>
  async (app) => {
    app.post<{ Params: { id: string } }>('/v1/devices/:id/firmware', async (request, reply) => {
      if (ctx.draining) throw cancelled('the daemon is shutting down; retry against the next instance');
      const slot = ctx.registry.get(request.params.id);
      if (!Buffer.isBuffer(request.body))
        throw badInput('send the firmware image as the body, Content-Type: application/octet-stream');
      const image = new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength);
      const query = (request.query ?? {}) as Record<string, unknown>;
      const options = parseOptions(query, headerValue(request.headers['x-scsi-allow-medium-write']));
      checkFirmwareOptions(image.length, options);
      const leaseSecret =
        headerValue(request.headers['x-usbscsi-lease']) ??
        (typeof query['lease'] === 'string' ? query['lease'] : undefined);
      // Once the stream starts the status is 200: a leased, gone or full device is refused before it.
      const refused = slot.refusal(leaseSecret !== undefined ? { leaseSecret } : {});
      if (refused) throw refused;
      const clientGone = clientGoneSignal(reply.raw);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-request-id': String(request.id),
      });
      let id = 0;
      const send = (event: string, data: unknown) => {
        if (!res.writableEnded)
          res.write(`id: ${++id}\nevent: ${event}\ndata: ${JSON.stringify(toJsonSafe(data))}\n\n`);
      };
      try {
        const report = await slot.run(
          async (job) => {
            const device = deviceOver(job.device);
            const plan = (await device.downloadFirmware(image, { ...options, dryRun: true })).plan;
            send('plan', { ...plan, chunks: plan.chunks.length });
            if (options.dryRun) return { plan, state: 'planned' };
            return device.downloadFirmware(image, {
              ...options,
              signal: job.signal,
              onProgress: (p) => send(p.phase === 'download' ? 'progress' : p.phase, p),
            });
          },
          { signal: clientGone, ...(leaseSecret !== undefined ? { leaseSecret } : {}) },
        );
        request.log.info({ device: slot.id, state: report.state }, 'firmware download done');
        send('done', report);
      } catch (err) {
        const e = asUsbScsiError(err);
        request.log.info({ device: slot.id, code: e.code }, `firmware download failed: ${e.message}`);
        send('error', errorBody(e));
      } finally {
        res.end();
      }
    });
  };
