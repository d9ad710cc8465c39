import {
  Agent,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { describeEndpoint, type DaemonEndpoint } from './endpoint.js';
import { errorFromBody } from '../wire/json.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
}

class StaleSocketError extends Error {}

/** One keep-alive connection pool to one daemon; every call is one HTTP/1.1 request. */
export class DaemonHttp {
  private readonly agent: Agent;

  constructor(
    readonly endpoint: DaemonEndpoint,
    options: { maxSockets?: number } = {},
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16 });
  }

  /**
   * One request. A keep-alive socket the daemon closed as idle just as it was
   * reused fails with ECONNRESET before the daemon read anything: that (and
   * only that) is retried, on another socket.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    // The pool may hold several such sockets; each retry takes the next (or a new one).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(req);
      } catch (err) {
        if (!(err instanceof StaleSocketError)) throw err;
        if (attempt >= 4)
          throw new UsbScsiError(
            ErrorCodes.IO,
            `usbscsid at ${describeEndpoint(this.endpoint)} keeps closing connections; is it shutting down?`,
          );
      }
    }
  }

  private sendOnce(req: HttpRequest): Promise<HttpResponse> {
    const ep = this.endpoint;
    const headers: Record<string, string> = { ...req.headers };
    if (ep.kind === 'tcp' && ep.token) headers.authorization = `Bearer ${ep.token}`;
    if (req.body) headers['content-length'] = String(req.body.byteLength);
    return new Promise<HttpResponse>((resolve, reject) => {
      if (req.signal?.aborted) {
        reject(new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before it was sent to the daemon'));
        return;
      }
      const r = httpRequest(
        {
          agent: this.agent,
          method: req.method,
          path: req.path,
          headers,
          ...(ep.kind === 'unix' ? { socketPath: ep.socketPath } : { host: ep.host, port: ep.port }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
            }),
          );
          res.on('error', (err) => reject(this.connectionError(err)));
        },
      );
      const onAbort = () =>
        r.destroy(
          new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled; the daemon drops the command if it has not started'),
        );
      req.signal?.addEventListener('abort', onAbort, { once: true });
      r.on('close', () => req.signal?.removeEventListener('abort', onAbort));
      r.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET' && r.reusedSocket) reject(new StaleSocketError());
        else reject(err instanceof UsbScsiError ? err : this.connectionError(err));
      });
      r.end(req.body);
    });
  }

  /** Opens a long-lived GET (server-sent events); resolves with the response once its headers arrived. */
  openStream(path: string): Promise<IncomingMessage> {
    const ep = this.endpoint;
    return new Promise((resolve, reject) => {
      const r = httpRequest(
        {
          method: 'GET',
          path,
          agent: false,
          headers: {
            accept: 'text/event-stream',
            ...(ep.kind === 'tcp' && ep.token ? { authorization: `Bearer ${ep.token}` } : {}),
          },
          ...(ep.kind === 'unix' ? { socketPath: ep.socketPath } : { host: ep.host, port: ep.port }),
        },
        (res) => {
          if ((res.statusCode ?? 0) >= 400) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              reject(
                errorFromResponse({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
              ),
            );
            return;
          }
          resolve(res);
        },
      );
      r.on('error', (err) => reject(this.connectionError(err)));
      r.end();
    });
  }

  /**
   * One request on a connection of its own (a streamed body cannot be replayed on another socket
   * if a kept-alive one turns out stale): `body`, when given, is written chunk by chunk, each
   * handed to the socket before the next is asked for (so the source may reuse its buffer), and
   * stops early if the daemon answers first. Resolves with the answer's head; its body is the
   * caller's to read (or to destroy).
   */
  stream(req: Omit<HttpRequest, 'body'>, body?: AsyncIterable<Uint8Array>): Promise<IncomingMessage> {
    const ep = this.endpoint;
    const headers: Record<string, string> = { ...req.headers };
    if (ep.kind === 'tcp' && ep.token) headers.authorization = `Bearer ${ep.token}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (req.signal?.aborted) {
        reject(new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before it was sent to the daemon'));
        return;
      }
      let answered = false;
      const r = httpRequest(
        {
          agent: false,
          method: req.method,
          path: req.path,
          headers,
          ...(ep.kind === 'unix' ? { socketPath: ep.socketPath } : { host: ep.host, port: ep.port }),
        },
        (res) => {
          answered = true;
          resolve(res);
        },
      );
      const onAbort = () =>
        r.destroy(
          new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled; the daemon stops the range after the command in flight'),
        );
      req.signal?.addEventListener('abort', onAbort, { once: true });
      r.on('close', () => req.signal?.removeEventListener('abort', onAbort));
      r.on('error', (err: NodeJS.ErrnoException) => {
        // The daemon may refuse and close while the body is still going out: its answer is what counts.
        if (answered) return;
        if ((err.code === 'EPIPE' || err.code === 'ECONNRESET') && body) {
          r.once('response', () => undefined);
          setTimeout(() => {
            if (!answered) reject(this.connectionError(err));
          }, 50);
          return;
        }
        reject(err instanceof UsbScsiError ? err : this.connectionError(err));
      });
      if (!body) {
        r.end();
        return;
      }
      void pump(r, body, () => answered).catch((err: unknown) => {
        r.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /** Sends and turns a daemon error body into the UsbScsiError it describes. */
  async call(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.send(req);
    if (res.status >= 400) throw errorFromResponse(res);
    return res;
  }

  close(): void {
    this.agent.destroy();
  }

  private connectionError(err: NodeJS.ErrnoException): UsbScsiError {
    return connectionError(this.endpoint, err);
  }
}

async function pump(r: ClientRequest, body: AsyncIterable<Uint8Array>, answered: () => boolean): Promise<void> {
  for await (const chunk of body) {
    if (answered() || r.destroyed) return;
    await new Promise<void>((resolve, reject) => {
      r.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  }
  if (!answered()) r.end();
}

/** Reads a whole (small) answer body. */
export function readAll(res: IncomingMessage): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    res.on('error', reject);
  });
}

/** The UsbScsiError a daemon error answer describes (the envelope of the wire module). */
export function errorFromResponse(res: HttpResponse): UsbScsiError {
  return errorFromBody(res.body, res.status);
}

/** A failed connection to the daemon as the UsbScsiError that says what to do. */
export function connectionError(endpoint: DaemonEndpoint, err: NodeJS.ErrnoException): UsbScsiError {
  const where = describeEndpoint(endpoint);
  const hint =
    err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
      ? `no usbscsid listens at ${where}: start it (systemctl start usbscsid, or usbscsid ` +
        `--socket PATH) or fix --via / USBSCSI_VIA`
      : err.code === 'EACCES'
        ? `not allowed to connect to ${where}: join the socket's group (usbscsi) or run as its owner`
        : `the connection to usbscsid at ${where} failed: ${err.message}`;
  return new UsbScsiError(err.code === 'EACCES' ? ErrorCodes.PERMISSION : ErrorCodes.IO, hint, {
    cause: err,
    details: { errno: err.code },
  });
}
