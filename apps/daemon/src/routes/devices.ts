import { badInput } from '@usbscsi/core';
import type { FastifyPluginAsync } from 'fastify';
import type { DaemonContext } from '../context.js';
import { cancelled } from '../errors.js';
import { parseIntField } from '../request-fields.js';

/** Aborts when the client closes the connection before the response is complete. */
export function clientGoneSignal(res: import('node:http').ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished)
      controller.abort(cancelled('the client closed the connection before the command started'));
  });
  return controller.signal;
}

export const deviceRoutes =
  (ctx: DaemonContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/v1/devices', async () => ({ devices: ctx.registry.all().map((slot) => slot.view()) }));

    app.get<{ Params: { id: string } }>('/v1/devices/:id', async (request) => ({
      device: ctx.registry.get(request.params.id).view(),
    }));

    /** Transport-level reset (BOT reset recovery), queued like a command. */
    app.post<{ Params: { id: string } }>('/v1/devices/:id/reset', async (request, reply) => {
      if (ctx.draining) throw cancelled('the daemon is shutting down');
      const slot = ctx.registry.get(request.params.id);
      const leaseSecret = headerValue(request.headers['x-usbscsi-lease']);
      await slot.run(({ device }) => device.reset(), {
        ...(leaseSecret !== undefined ? { leaseSecret } : {}),
        signal: clientGoneSignal(reply.raw),
      });
      return { reset: true };
    });

    app.post<{ Params: { id: string }; Body: unknown }>('/v1/devices/:id/lease', async (request, reply) => {
      if (ctx.draining) throw cancelled('the daemon is shutting down');
      const slot = ctx.registry.get(request.params.id);
      const body = (request.body ?? {}) as Record<string, unknown>;
      if (typeof body !== 'object' || Array.isArray(body))
        throw badInput('the lease request body must be a JSON object: { "ttlMs": …, "idleTimeoutMs": …, "holder": … }');
      const holder = typeof body.holder === 'string' ? body.holder : headerValue(request.headers['user-agent']);
      const ownerUid = ctx.peers.get(request.raw.socket)?.uid;
      const lease = await ctx.leases.acquire(
        slot,
        {
          ttlMs: parseIntField('ttlMs', body.ttlMs, 1, ctx.leases.maxTtlMs),
          idleTimeoutMs: parseIntField('idleTimeoutMs', body.idleTimeoutMs, 1, ctx.leases.maxTtlMs),
          holder,
        },
        { signal: clientGoneSignal(reply.raw), ...(ownerUid !== undefined ? { ownerUid } : {}) },
      );
      // The secret is in this answer only; no-store keeps it out of any cache on the way.
      return reply.code(201).header('cache-control', 'no-store').send({ lease });
    });
  };

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
