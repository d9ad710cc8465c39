import { errorBody, ErrorCodes, UsbScsiError } from '@usbscsi/core';
import Fastify, { LogController } from 'fastify';
import { makeTokenCheck } from './auth.js';
import type { DaemonContext } from './context.js';
import type { ReceiveFd } from './file-passing.js';
import type { PeerLookup } from './peer.js';
import { bodyBytesOf, holdUntilAnswered } from './byte-budget.js';
import { clientErrorHandler, sendError } from './http-errors.js';
import { loggableUrl } from './log-url.js';
import { octetStreamParser } from './octet-body.js';
import { blockRoutes } from './routes/blocks.js';
import { deviceRoutes } from './routes/devices.js';
import { executeRoute } from './routes/execute.js';
import { firmwareRoute } from './routes/firmware.js';
import { leaseRoutes } from './routes/leases.js';
import { systemRoutes } from './routes/system.js';

export interface AppOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (TCP listener). */
  token?: string;
  /** Name of the listener in logs (`unix`, `tcp`). */
  listener: string;
  /** Unix socket: who connected (recorded per connection in ctx.peers, for breaking leases). */
  peerLookup?: PeerLookup;
  /** Unix socket: takes a file a client hands over (file-passing.ts); none on TCP. */
  receiveFd?: ReceiveFd;
  /** Filled with every route registered (the OpenAPI test compares it with openapi.yaml). */
  routes?: { method: string; url: string }[];
}

let requestCounter = 0;

/**
 * One Fastify instance per listener, all sharing `ctx` (devices, queues,
 * leases, events, metrics); only the TCP one checks a bearer token.
 */
export async function buildApp(ctx: DaemonContext, options: AppOptions) {
  const log = ctx.log.child({ listener: options.listener });
  const app = Fastify({
    loggerInstance: log,
    // One line per request from our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.limits.bodyLimit,
    // Slow or silent clients are closed (408 in the envelope). There is deliberately no
    // socket idle timeout (connectionTimeout): a long command leaves the socket quiet.
    requestTimeout: ctx.limits.requestTimeoutMs,
    keepAliveTimeout: ctx.limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: Math.min(ctx.limits.headersTimeoutMs, ctx.limits.requestTimeoutMs),
      // How often Node looks for expired requests; its 30 s default would stretch a 10 s timeout to 40.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(ctx.limits.headersTimeoutMs / 4))),
    },
    requestIdHeader: 'x-request-id',
    genReqId: () => `${options.listener}-${(++requestCounter).toString(36)}`,
    // While closing, requests reach the routes, which refuse new work in the error envelope (ctx.draining).
    return503OnClosing: false,
    frameworkErrors: (error, request, reply) => {
      void sendError(ctx, error, request, reply);
    },
    clientErrorHandler: clientErrorHandler(ctx, log),
    // Should a route ever get a schema: "36" is not 36 (Fastify's AJV coerces by default).
    ajv: { customOptions: { coerceTypes: false } },
  });

  const lookup = options.peerLookup;
  if (lookup) {
    app.server.on('connection', (socket: import('node:net').Socket) => {
      const peer = lookup(socket);
      if (peer) ctx.peers.set(socket, peer);
    });
  }

  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') options.routes?.push({ method, url: route.url });
  });

  // Bodies are JSON or binary data-out, nothing else: Fastify's built-in text/plain parser would hand a
  // route a string it then refuses as 400, where every other unsupported media type is 415.
  app.removeContentTypeParser('text/plain');
  // Data-out arrives as the raw body, read into one buffer of its length (see octet-body.ts).
  app.addContentTypeParser('application/octet-stream', octetStreamParser(ctx.limits.bodyLimit));

  app.addHook('onRequest', async (_request, reply) => {
    const res = reply.raw;
    ctx.inflight.add(res);
    res.once('close', () => ctx.inflight.delete(res));
  });

  if (options.token !== undefined) {
    const check = makeTokenCheck(options.token);
    app.addHook('onRequest', async (request, reply) => {
      const refusal = check(request.headers.authorization);
      if (refusal) {
        ctx.metrics.recordError(refusal.code);
        request.log.warn({ url: loggableUrl(request.url), reason: refusal.details.reason }, 'refused: bearer token');
        return reply.code(401).header('www-authenticate', 'Bearer realm="usbscsid"').send(errorBody(refusal));
      }
    });
  }

  // Admission by Content-Length, before the body is read: over the budget is refused, not buffered.
  // A JSON body is held about three times over (raw text, parsed string, decoded data). A route that
  // streams its body holds only its own buffers, which it reserves itself.
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config as { streamsBody?: boolean } | undefined)?.streamsBody) return;
    const bytes = bodyBytesOf(request.headers, ctx.limits.bodyLimit);
    const json = /^application\/json\b/i.test(request.headers['content-type'] ?? '');
    if (bytes <= ctx.limits.bodyLimit)
      holdUntilAnswered(ctx.bytesInFlight, reply.raw, json ? 3 * bytes : bytes, 'this request body');
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: loggableUrl(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request',
    );
  });

  app.setErrorHandler((error: Error, request, reply) => sendError(ctx, error, request, reply));

  app.setNotFoundHandler((request, reply) => {
    ctx.metrics.recordError(ErrorCodes.NOT_FOUND);
    return reply
      .code(404)
      .send(
        errorBody(
          new UsbScsiError(
            ErrorCodes.NOT_FOUND,
            `no route ${request.method} ${request.url.split('?')[0]}; see GET /openapi.yaml`,
          ),
        ),
      );
  });

  await app.register(systemRoutes(ctx));
  await app.register(deviceRoutes(ctx));
  await app.register(executeRoute(ctx));
  await app.register(blockRoutes(ctx, options.receiveFd));
  await app.register(firmwareRoute(ctx));
  await app.register(leaseRoutes(ctx));
  return app;
}
