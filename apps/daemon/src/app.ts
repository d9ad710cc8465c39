import { ErrorCodes, UsbScsiError } from '@usbscsi/core';
import Fastify, { LogController, type FastifyError } from 'fastify';
import { makeTokenCheck } from './auth.js';
import type { DaemonContext } from './context.js';
import { asUsbScsiError, errorBody, httpStatusFor } from './errors.js';
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
  /** Filled with every route registered (the OpenAPI test compares it with openapi.yaml). */
  routes?: { method: string; url: string }[];
}

let requestCounter = 0;

/**
 * One Fastify instance per listener, all sharing `ctx` (devices, queues,
 * leases, events, metrics); only the TCP one checks a bearer token.
 */
export async function buildApp(ctx: DaemonContext, options: AppOptions) {
  const app = Fastify({
    loggerInstance: ctx.log.child({ listener: options.listener }),
    // One line per request from our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.limits.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => `${options.listener}-${(++requestCounter).toString(36)}`,
    return503OnClosing: true,
  });

  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') options.routes?.push({ method, url: route.url });
  });

  // Data-out arrives as the raw body; Fastify enforces bodyLimit while it streams in.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: ctx.limits.bodyLimit }, (_req, body, done) =>
    done(null, body),
  );

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
        request.log.warn({ url: request.url, reason: refusal.details.reason }, 'refused: bearer token');
        return reply.code(401).header('www-authenticate', 'Bearer realm="usbscsid"').send(errorBody(refusal));
      }
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
      'request',
    );
  });

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const err = fromFastifyError(error);
    ctx.metrics.recordError(err.code);
    const status = 'statusCode' in error && typeof error.statusCode === 'number' && error.statusCode >= 400 && !(error instanceof UsbScsiError)
      ? error.statusCode
      : httpStatusFor(err.code);
    if (status >= 500) request.log.error({ code: err.code, err: error }, err.message);
    else request.log.info({ code: err.code }, err.message);
    return reply.code(status).send(errorBody(err));
  });

  app.setNotFoundHandler((request, reply) => {
    ctx.metrics.recordError(ErrorCodes.NOT_FOUND);
    return reply.code(404).send(errorBody(new UsbScsiError(ErrorCodes.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}; see GET /openapi.yaml`)));
  });

  await app.register(systemRoutes(ctx));
  await app.register(deviceRoutes(ctx));
  await app.register(executeRoute(ctx));
  await app.register(firmwareRoute(ctx));
  await app.register(leaseRoutes(ctx));
  return app;
}

/** Fastify's own 4xx (bad JSON, body too large, wrong media type) become E_BAD_INPUT with the reason kept. */
function fromFastifyError(error: FastifyError | Error): UsbScsiError {
  if (error instanceof UsbScsiError) return error;
  const fe = error as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const hint =
      fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'the request body is larger than the daemon accepts (--body-limit); split the transfer'
        : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'send application/json, or application/octet-stream for data-out'
          : 'the request is malformed';
    return new UsbScsiError(ErrorCodes.BAD_INPUT, `${hint}: ${fe.message}`, { details: { reason: fe.code ?? 'bad-request' } });
  }
  return asUsbScsiError(error);
}
