import { badInput } from '@usbscsi/core';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { DaemonContext } from '../context.js';
import { parseIntField } from '../request-fields.js';
import { headerValue } from './devices.js';

const secretOf = (request: FastifyRequest) => headerValue(request.headers['x-usbscsi-lease']);

export const leaseRoutes =
  (ctx: DaemonContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/v1/leases', async () => ({ leases: ctx.leases.list() }));
    app.get<{ Params: { id: string } }>('/v1/leases/:id', async (request) => ({
      lease: ctx.leases.get(request.params.id),
    }));

    /**
     * Ends the lease (its secret in X-Usbscsi-Lease): queued commands of the holder are cancelled, the device is handed
     * back.
     */
    app.delete<{ Params: { id: string } }>('/v1/leases/:id', async (request) => ({
      lease: await ctx.leases.release(request.params.id, secretOf(request)),
      released: true,
    }));

    /** Extends the lease (its secret in X-Usbscsi-Lease). */
    app.post<{ Params: { id: string }; Body: unknown }>('/v1/leases/:id/renew', async (request) => {
      const body = request.body ?? {};
      if (typeof body !== 'object' || Array.isArray(body))
        throw badInput('the renew body must be a JSON object: { "ttlMs": …, "idleTimeoutMs": … } (both optional)');
      const b = body as Record<string, unknown>;
      const ttlMs = parseIntField('ttlMs', b.ttlMs, 1, ctx.leases.maxTtlMs);
      const idleTimeoutMs = parseIntField('idleTimeoutMs', b.idleTimeoutMs, 1, ctx.leases.maxTtlMs);
      return {
        lease: ctx.leases.renew(request.params.id, secretOf(request), {
          ...(ttlMs !== undefined ? { ttlMs } : {}),
          ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
        }),
      };
    });

    /** Ends a lease without its secret: the Unix-socket user that took it, or root. */
    app.post<{ Params: { id: string } }>('/v1/leases/:id/break', async (request) => ({
      lease: await ctx.leases.breakLease(request.params.id, { uid: ctx.peers.get(request.raw.socket)?.uid }),
      broken: true,
    }));
  };
