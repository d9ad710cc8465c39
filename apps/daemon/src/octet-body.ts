import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';

type Done = (err: Error | null, body?: Buffer) => void;

/** Errors in Fastify's shape, so the error handler maps them like Fastify's own (413, 400). */
const httpError = (statusCode: number, code: string, message: string) =>
  Object.assign(new Error(message), { statusCode, code });

/**
 * Reads an `application/octet-stream` body (data-out) into one buffer of its
 * declared length as it arrives. Fastify's buffer parser collects the chunks
 * and joins them at the end, which holds every body twice at that moment; the
 * bytes this holds are the body's, once, which is what --max-bytes-in-flight
 * counts. A chunked body (no Content-Length) is collected and joined.
 */
export function octetStreamParser(bodyLimit: number) {
  return (request: FastifyRequest, payload: IncomingMessage, done: Done): void => {
    const declared = request.headers['content-length'];
    const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
    const tooLarge = () =>
      httpError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', `Request body is too large (the limit is ${bodyLimit} bytes)`);
    if (length !== undefined && length > bodyLimit) {
      done(tooLarge());
      return;
    }
    // Every byte is written before the buffer is used (received === length is checked at the end).
    const whole = length !== undefined ? Buffer.allocUnsafe(length) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    let finished = false;
    const finish = (err: Error | null, body?: Buffer) => {
      if (finished) return;
      finished = true;
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      done(err, body);
    };
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > (length ?? bodyLimit)) {
        finish(tooLarge());
        return;
      }
      if (whole) chunk.copy(whole, received);
      else chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = () => {
      if (length !== undefined && received !== length) {
        finish(
          httpError(
            400,
            'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
            `the body had ${received} bytes, Content-Length said ${length}`,
          ),
        );
        return;
      }
      finish(null, whole ?? Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => finish(Object.assign(err, { statusCode: 400 }));
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  };
}
