import type { FastifyPluginAsync } from 'fastify';
import type { DaemonContext } from '../context.js';

export const leaseRoutes = (ctx: DaemonContext): FastifyPluginAsync => async (app) => {
  app.get('/v1/leases', async () => ({ leases: ctx.leases.list() }));
  app.get<{ Params: { id: string } }>('/v1/leases/:id', async (request) => ({ lease: ctx.leases.get(request.params.id) }));
  /** Ends the lease: queued commands of the holder are cancelled, the device is closed and handed back to the OS. */
  app.delete<{ Params: { id: string } }>('/v1/leases/:id', async (request) => ({ lease: await ctx.leases.release(request.params.id), released: true }));
};
