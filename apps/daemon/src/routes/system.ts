import type { FastifyPluginAsync } from 'fastify';
import type { DaemonContext } from '../context.js';
import { formatSse } from '../events.js';

const HEARTBEAT_MS = 15_000;

export const systemRoutes =
  (ctx: DaemonContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/healthz', async () => ({
      status: ctx.draining ? 'draining' : 'ok',
      version: ctx.version,
      devices: ctx.registry.all().length,
      leases: ctx.leases.count,
    }));

    app.get('/metrics', async (_request, reply) =>
      reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render()),
    );

    app.get('/openapi.yaml', async (_request, reply) =>
      reply.type('application/yaml; charset=utf-8').send(ctx.openapi),
    );

    /** Server-sent events: hotplug arrivals/departures and lease changes, as they happen. */
    app.get('/v1/events', (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-request-id': String(request.id),
      });
      // A comment first, so a client knows it is subscribed before it acts.
      res.write(`: usbscsid events; ${ctx.registry.all().length} device(s)\n\n`);
      const unsubscribe = ctx.events.subscribe((event, id) => res.write(formatSse(event, id)));
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      const unregister = ctx.events.onClose(() => res.end());
      res.on('close', () => {
        unsubscribe();
        unregister();
        clearInterval(heartbeat);
      });
    });
  };
