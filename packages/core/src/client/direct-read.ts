import { createConnection } from 'node:net';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { BlockHeaders, LENGTH_MISMATCH, errorFromTrailer } from '../wire/blocks.js';
import { errorFromBody } from '../wire/json.js';
import type { DaemonEndpoint } from './endpoint.js';
import { connectionError } from './http.js';

/**
 * A block-range read (`POST …/read`) whose data lands straight in the caller's buffer: the socket
 * reads each chunk of the answer's body into the buffer itself (net's `onread`), so no byte is
 * allocated, parsed or copied per read in JavaScript. node:http hands a body over as a fresh
 * buffer per 64 KiB read, each then copied, which in a guest cost five to eight times what the
 * socket itself costs (the bench's socket floor). Only this one answer is read by hand, and only
 * what usbscsid sends for it: a status line and headers, then a chunked body whose trailer says
 * how the range ended (wire/blocks.ts), or an error envelope. Everything the daemon sends around
 * the data is bounded; anything unexpected is E_IO, never a short read.
 */

/** Status line and headers, and the trailer section. */
const HEAD_LIMIT = 16 * 1024;
/** A chunk-size line. */
const LINE_LIMIT = 1024;
/** An error answer's body (the JSON envelope). */
const ERROR_BODY_LIMIT = 64 * 1024;
/** Where the framing around the data is read. */
const SCRATCH_BYTES = 16 * 1024;

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

export interface DirectReadRequest {
  /** Path and query of the read. */
  path: string;
  headers: Record<string, string>;
  /** Receives the body; its length is what the daemon must announce and send. */
  into: Uint8Array;
  signal?: AbortSignal;
  /** Bytes received so far, after each read. */
  onBytes?: (received: number) => void;
}

type State = 'head' | 'size' | 'data' | 'crlf' | 'trailers';

function broken(message: string): UsbScsiError {
  return new UsbScsiError(ErrorCodes.IO, `usbscsid's read answer is not what it should be: ${message}`);
}

/** `Name: value` lines (names lower-cased; the first of a repeated name counts). */
function parseFields(lines: string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw broken(`a header line without a name: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  return fields;
}

function requestHead(endpoint: DaemonEndpoint, req: DirectReadRequest): string {
  const headers: Record<string, string> = {
    host: endpoint.kind === 'tcp' ? `${endpoint.host}:${endpoint.port}` : 'localhost',
    connection: 'close',
    'content-length': '0',
    ...req.headers,
  };
  if (endpoint.kind === 'tcp' && endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  const lines = [`POST ${req.path} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) {
    // A value from elsewhere (a lease secret the daemon issued) must not split the request.
    if (/[\r\n]/.test(value) || /[\r\n:]/.test(name)) throw broken(`header ${name} carries a line break`);
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Reads one range into `req.into`; resolves once every byte arrived and the trailer says the range is whole. */
export function readRangeInto(endpoint: DaemonEndpoint, req: DirectReadRequest): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before it was sent to the daemon'));
      return;
    }
    const expected = req.into.length;
    const scratch = new Uint8Array(SCRATCH_BYTES);
    let state: State = 'head';
    let status = 0;
    /** Where the body goes: the caller's buffer, or (an error answer) a bounded one of our own. */
    let target = req.into;
    let received = 0;
    /** Bytes left in the current chunk, or in a body of known length. */
    let left = 0;
    /** An error answer's body has a length and no chunks. */
    let byLength = false;
    /** Framing bytes read but not yet consumed (a line split across reads). */
    let pending: Buffer = EMPTY;
    /** The buffer the socket is reading into now is part of `target` (not the scratch). */
    let direct = false;
    let settled = false;

    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err === undefined) resolve();
      else
        reject(err instanceof UsbScsiError ? err : broken(err instanceof Error ? err.message : 'an unknown failure'));
    };
    const onAbort = () =>
      finish(
        new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled; the daemon stops the range after the command in flight'),
      );

    /** An error answer's body is complete (or ended): its envelope is the error. */
    const errorBodyDone = () => finish(errorFromBody(Buffer.from(target.buffer, target.byteOffset, received), status));

    const onHead = (section: string) => {
      const [statusLine = '', ...lines] = section.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!m) throw broken(`the status line is ${JSON.stringify(statusLine.slice(0, 80))}`);
      status = Number(m[1]);
      const fields = parseFields(lines);
      const chunked = /(^|,)\s*chunked\s*$/i.test(fields.get('transfer-encoding') ?? '');
      if (status !== 200) {
        target = new Uint8Array(ERROR_BODY_LIMIT);
        const length = fields.get('content-length');
        if (!chunked) {
          if (length === undefined || !/^\d+$/.test(length) || Number(length) > ERROR_BODY_LIMIT)
            throw broken(`HTTP ${status} with a body of ${length ?? 'unknown'} bytes`);
          byLength = true;
          left = Number(length);
          state = 'data';
          if (left === 0) errorBodyDone();
          return;
        }
        state = 'size';
        return;
      }
      if (!chunked) throw broken('the data is not chunked (a read ends with a trailer)');
      const announced = fields.get(BlockHeaders.length);
      if (announced !== String(expected))
        throw new UsbScsiError(
          ErrorCodes.IO,
          `usbscsid announced ${announced} bytes for this range; ${expected} were expected ` +
            `(did the medium change its block size?)`,
          { details: { reason: LENGTH_MISMATCH, expected } },
        );
      state = 'size';
    };

    const onSizeLine = (line: string) => {
      const hex = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw broken(`a chunk size of ${JSON.stringify(line.slice(0, 40))}`);
      const size = Number.parseInt(hex, 16);
      if (size === 0) {
        state = 'trailers';
        return;
      }
      if (received + size > target.length) {
        throw status === 200
          ? new UsbScsiError(ErrorCodes.IO, `usbscsid sent more than the ${expected} bytes it announced`)
          : broken(`an error body over ${ERROR_BODY_LIMIT} bytes`);
      }
      left = size;
      state = 'data';
    };

    const onTrailers = (section: string) => {
      if (status !== 200) {
        errorBodyDone();
        return;
      }
      const fields = parseFields(section === '' ? [] : section.split('\r\n'));
      const error = fields.get(BlockHeaders.error);
      if (error) throw errorFromTrailer(error);
      if (received !== expected || Number(fields.get(BlockHeaders.transferred)) !== expected)
        throw new UsbScsiError(
          ErrorCodes.IO,
          `usbscsid's read ended after ${received} of ${expected} bytes without saying why`,
          { details: { received, expected } },
        );
      finish();
    };

    /** `n` more body bytes are in `target` at `received`. */
    const advance = (n: number) => {
      received += n;
      left -= n;
      if (status === 200) req.onBytes?.(received);
      if (left === 0) {
        if (byLength) errorBodyDone();
        else state = 'crlf';
      }
    };

    /** Consumes bytes read into the scratch buffer: framing, and any data that came with it. */
    const feed = (bytes: Uint8Array) => {
      const buf = pending.length
        ? Buffer.concat([pending, bytes])
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      pending = EMPTY;
      let at = 0;
      while (at < buf.length && !settled) {
        if (state === 'data') {
          // Data that came in the scratch buffer with the framing before it.
          const n = Math.min(left, buf.length - at);
          target.set(buf.subarray(at, at + n), received);
          at += n;
          advance(n);
          continue;
        }
        if (state === 'trailers' && buf.length - at >= 2 && buf[at] === 0x0d && buf[at + 1] === 0x0a) {
          at += 2;
          onTrailers('');
          continue;
        }
        const sectionEnd = state === 'head' || state === 'trailers';
        const end = buf.indexOf(sectionEnd ? '\r\n\r\n' : CRLF, at);
        const limit = sectionEnd ? HEAD_LIMIT : LINE_LIMIT;
        if (end < 0 || end - at > limit) {
          if (buf.length - at > limit) throw broken(`${state === 'head' ? 'a head' : 'a line'} over ${limit} bytes`);
          // Kept for the next read: the scratch buffer is read into again.
          pending = Buffer.from(buf.subarray(at));
          return;
        }
        const text = buf.toString('latin1', at, end);
        at = end + (sectionEnd ? 4 : 2);
        if (state === 'head') onHead(text);
        else if (state === 'size') onSizeLine(text);
        else if (state === 'crlf') {
          if (text !== '') throw broken('a chunk runs past its size');
          state = 'size';
        } else onTrailers(text);
      }
    };

    const socket = createConnection({
      ...(endpoint.kind === 'unix' ? { path: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port }),
      onread: {
        // Called after each read for the next one's memory: the rest of the chunk, in the caller's buffer.
        buffer: () => {
          direct = state === 'data' && pending.length === 0 && left > 0;
          return direct ? target.subarray(received, received + left) : scratch;
        },
        callback: (n: number, buf: Uint8Array) => {
          if (settled) return false;
          try {
            if (direct) advance(n);
            else feed(buf.subarray(0, n));
          } catch (err) {
            finish(err);
            return false;
          }
          return true;
        },
      },
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      try {
        socket.write(requestHead(endpoint, req));
      } catch (err) {
        finish(err);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(connectionError(endpoint, err)));
    socket.on('end', () => {
      if (status !== 0 && status !== 200) errorBodyDone();
      else
        finish(
          new UsbScsiError(
            ErrorCodes.IO,
            status === 0
              ? 'usbscsid closed the connection before it answered the read'
              : `usbscsid's read ended after ${received} of ${expected} bytes without saying why`,
            { details: { received, expected } },
          ),
        );
    });
  });
}
