import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../src/daemon.js';
import type { DeviceProvider } from '../src/provider.js';

export interface TestDaemon {
  daemon: RunningDaemon;
  socketPath: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestDaemon(
  provider: DeviceProvider,
  options: Partial<DaemonOptions> = {},
): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'usbscsid-test-'));
  const socketPath = join(dir, 'd.sock');
  const daemon = await startDaemon({
    provider,
    socketPath,
    log: pino({ level: process.env.USBSCSID_TEST_LOG ?? 'silent' }),
    ...options,
  });
  return {
    daemon,
    socketPath,
    dir,
    async stop() {
      await daemon.shutdown('test over');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: any;
}

/** A plain HTTP request over the socket (or TCP), for the cases the typed client never sends. */
export function raw(
  target: { socketPath: string } | { port: number },
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        method,
        path,
        headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers },
        ...('socketPath' in target ? { socketPath: target.socketPath } : { host: '127.0.0.1', port: target.port }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(b.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json });
        });
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true (or fails the test after `ms`). */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Sends bytes as they are (the malformed requests no HTTP client would write) and reads until the daemon closes or `ms`
 * pass.
 */
export function sendRaw(
  socketPath: string,
  bytes: string | Buffer,
  ms = 2000,
): Promise<{ status: number; headers: string; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    let closed = false;
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err),
    );
    socket.on('end', () => (closed = true));
    socket.on('close', () => {
      clearTimeout(timer);
      const split = text.indexOf('\r\n\r\n');
      const head = split >= 0 ? text.slice(0, split) : text;
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        headers: head,
        body: split >= 0 ? text.slice(split + 4) : '',
        closed,
      });
    });
    socket.write(bytes);
  });
}
