import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { errorBody, ErrorCodes, UsbScsiError, type ErrorCode } from '@usbscsi/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { DaemonContext } from './context.js';
import { asUsbScsiError, httpStatusFor } from './errors.js';

/**
 * Every failure leaves the daemon as `{ error: { code, message } }`: route
 * errors, Fastify's own (bad URL, parameter too long, body too large, wrong
 * media type) and the ones Node's HTTP parser raises before Fastify sees a
 * request (malformed request, headers too large, request timeout).
 */

/** Fastify's 4xx as E_BAD_INPUT with the reason kept; the HTTP status stays Fastify's (413, 414, 415…). */
function fromFastifyError(error: FastifyError | Error): UsbScsiError {
  if (error instanceof UsbScsiError) return error;
  const fe = error as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const hint =
      fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'the request body is larger than the daemon accepts (--body-limit); split the transfer'
        : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'send application/json, or application/octet-stream for data-out'
          : fe.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'a path segment (device or lease id) is longer than any the daemon serves'
            : fe.code === 'FST_ERR_BAD_URL'
              ? 'the URL is not valid (bad percent-encoding?)'
              : 'the request is malformed';
    // Fastify's own messages quote the whole path; a hint and the reason are enough.
    const message =
      fe.code === 'FST_ERR_MAX_PARAM_LENGTH' || fe.code === 'FST_ERR_BAD_URL' ? hint : `${hint}: ${fe.message}`;
    return new UsbScsiError(ErrorCodes.BAD_INPUT, message, { details: { reason: fe.code ?? 'bad-request' } });
  }
  return asUsbScsiError(error);
}

/** The client closed its connection: nobody reads the answer, and nothing failed in the daemon. */
function clientGone(request: FastifyRequest, reply: FastifyReply): boolean {
  return reply.raw.destroyed || request.raw.socket?.destroyed === true;
}

/** Expected outcomes that are not daemon failures: logged as info, without a stack. */
const ROUTINE: ReadonlySet<ErrorCode> = new Set([ErrorCodes.CANCELLED, ErrorCodes.BUSY]);

/** Retry-After (seconds) of an E_BUSY that means "overloaded, come back" rather than "someone holds it". */
export function retryAfterOf(err: UsbScsiError): number | undefined {
  const s = err.details.retryAfterS;
  return typeof s === 'number' && s > 0 ? s : undefined;
}

export function sendError(
  ctx: DaemonContext,
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const err = fromFastifyError(error);
  ctx.metrics.recordError(err.code);
  const retryAfter = retryAfterOf(err);
  const status =
    retryAfter !== undefined
      ? 503
      : 'statusCode' in error &&
          typeof error.statusCode === 'number' &&
          error.statusCode >= 400 &&
          !(error instanceof UsbScsiError)
        ? error.statusCode
        : httpStatusFor(err.code);
  if (clientGone(request, reply)) {
    request.log.info({ code: err.code }, `client went away before the answer: ${err.message}`);
  } else if (status >= 500 && !ROUTINE.has(err.code)) {
    request.log.error({ code: err.code, err: error }, err.message);
  } else {
    request.log.info({ code: err.code, status }, err.message);
  }
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.code(status).send(errorBody(err));
}

/**
 * Node's HTTP parser failed before there was a request (Fastify's default
 * answers these in its own shape): answer in ours, then close.
 */
export function clientErrorHandler(ctx: DaemonContext, log: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message]: [number, ErrorCode, string] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            ErrorCodes.TIMEOUT,
            'the request did not arrive in time (--headers-timeout-ms / --request-timeout-ms); connection closed',
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [
              431,
              ErrorCodes.BAD_INPUT,
              'the request line and headers are larger than the daemon reads (16 KiB); shorten the URL or headers',
            ]
          : [400, ErrorCodes.BAD_INPUT, `malformed HTTP request (${err.code ?? 'parse error'}); send HTTP/1.1`];
    ctx.metrics.recordError(code);
    log.info({ code, status, reason: err.code }, message);
    if (socket.writable) {
      const body = JSON.stringify(
        errorBody(new UsbScsiError(code, message, { details: { reason: err.code ?? 'bad-request' } })),
      );
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ` +
          `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
