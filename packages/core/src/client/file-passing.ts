/**
 * A block range between the device and the client's own file, the file handed to usbscsid over
 * its Unix socket (the protocol: wire/blocks.ts, FILE_PASSING_QUERY). The daemon then moves the
 * bytes between the device and the file itself, so none of them crosses the socket: a range costs
 * about what it costs in process, where streaming it through the socket costs two copies per byte
 * in two processes.
 */
import type { Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { loadNativeAddon } from '../backends/native-addon.js';
import { connectionError, type HttpResponse } from './http.js';
import type { DaemonEndpoint } from './endpoint.js';
import type { SharedMemoryMaker } from './staging-memory.js';

/** Sends `fd` as one byte on the connected Unix socket `socketFd` (the addon's sendFd). */
export type SendFd = (socketFd: number, fd: number) => void;

/** The addon's sendFd, or undefined where this process cannot pass a descriptor (no addon, not Linux). */
export function fdSender(): SendFd | undefined {
  const load = loadNativeAddon();
  return load.ok ? load.addon.sendFd?.bind(load.addon) : undefined;
}

/**
 * The addon's shared memory (memory that is also a file in memory, sealed), for a range the daemon
 * moves straight into or out of this process's memory. Undefined where there is none (no addon,
 * not Linux).
 */
export function sharedMemoryMaker(): SharedMemoryMaker | undefined {
  const load = loadNativeAddon();
  if (!load.ok) return undefined;
  const { addon } = load;
  const make = addon.sharedMemory?.bind(addon);
  const release = addon.releaseSharedMemory?.bind(addon);
  const unshare = addon.unshareSharedMemory?.bind(addon);
  return make && release ? { make, release, ...(unshare ? { unshare } : {}) } : undefined;
}

/** Failures of passFile after the file went to the daemon and before its answer came (unanswered). */
const unanswered = new WeakSet();

/**
 * Whether `err` is a passFile failure (cancelled, connection lost) after the daemon was given the
 * file and before it answered: the daemon may still be moving bytes into or out of that file.
 */
export function fileLeftWithDaemon(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unanswered.has(err);
}

/** A connected socket's descriptor: Node keeps it on the internal handle, with no public accessor. */
export function socketFdOf(socket: Socket | null | undefined): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } } | null | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export interface FilePassingRequest {
  path: string;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One POST on a connection of its own: once the daemon answers `102 Processing`, `fd` goes to it
 * (once). Resolves with the final answer, whatever its status.
 */
export function passFile(
  endpoint: Extract<DaemonEndpoint, { kind: 'unix' }>,
  req: FilePassingRequest,
  fd: number,
  sendFd: SendFd,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled before it was sent to the daemon'));
      return;
    }
    let sent = false;
    const r = httpRequest(
      { agent: false, method: 'POST', path: req.path, headers: req.headers, socketPath: endpoint.socketPath },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', (err) => reject(connectionError(endpoint, err)));
      },
    );
    r.on('information', (info) => {
      if (info.statusCode !== 102 || sent) return;
      sent = true;
      const socketFd = socketFdOf(r.socket);
      try {
        if (socketFd === undefined) throw new Error('the connection has no descriptor');
        sendFd(socketFd, fd);
      } catch (err) {
        r.destroy(
          new UsbScsiError(ErrorCodes.IO, `could not hand the file to usbscsid: ${(err as Error).message}`, {
            cause: err,
          }),
        );
      }
    });
    const onAbort = () =>
      r.destroy(
        new UsbScsiError(ErrorCodes.CANCELLED, 'cancelled; the daemon stops the range after the command in flight'),
      );
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.on('close', () => req.signal?.removeEventListener('abort', onAbort));
    r.on('error', (err: NodeJS.ErrnoException) => {
      const failure = err instanceof UsbScsiError ? err : connectionError(endpoint, err);
      if (sent) unanswered.add(failure);
      reject(failure);
    });
    r.end();
  });
}
