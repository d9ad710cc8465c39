/**
 * The daemon's half of a range between the device and a client's own file (core's
 * wire/blocks.ts, FILE_PASSING_QUERY): stop reading the connection, ask for the file with
 * `102 Processing`, take the descriptor the client sends (SCM_RIGHTS, through the native addon),
 * read the connection again. The descriptor is the client's capability: the daemon can do with it
 * only what the client opened it for.
 */
import { closeSync, fstatSync, statfsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes, FILE_PASSING_UNAVAILABLE, UsbScsiError, badInput, loadNativeAddon } from '@usbscsi/core';
import { cancelled } from './errors.js';

/** The addon's receiveFd: the descriptor a peer sent, or null while none has arrived. Never blocks. */
export type ReceiveFd = (socketFd: number) => number | null;

/** Undefined where the daemon cannot take a descriptor (no native addon, not Linux). */
export function systemFileReceiver(): ReceiveFd | undefined {
  const load = loadNativeAddon();
  return load.ok ? load.addon.receiveFd?.bind(load.addon) : undefined;
}

/** statfs f_type of FUSE file systems (linux/magic.h). */
const FUSE_SUPER_MAGIC = 0x65735546;

/**
 * A FUSE file system is served by a process, which any user may start and which may never answer:
 * a file on one could stall the daemon's I/O as a pipe would. statfs of the /proc link is the file
 * system of the file itself.
 */
function refuseFuse(fd: number, statfs: (path: string) => { type: number }): void {
  if (statfs(`/proc/self/fd/${fd}`).type === FUSE_SUPER_MAGIC)
    throw badInput(
      'the file handed over is on a FUSE file system, which the daemon does not read or write for a ' +
        'client (it could stall it); stream the range through the request instead',
      { reason: 'fuse-file' },
    );
}

/** How long the client has to send its file once asked. */
export const FILE_WAIT_MS = 5_000;
/** How long the descriptor is looked for on every turn of the event loop before polling by timer. */
const SPIN_MS = 2;

interface SocketHandle {
  fd?: unknown;
  readStop?(): number;
  readStart?(): number;
}

export function fileUnavailable(why: string): UsbScsiError {
  return new UsbScsiError(
    ErrorCodes.UNSUPPORTED,
    `this connection cannot hand a file to usbscsid (${why}); send the bytes in the request instead`,
    { details: { reason: FILE_PASSING_UNAVAILABLE } },
  );
}

/**
 * Asks for the client's file and waits for it (at most `waitMs`), polling the socket: no thread
 * waits on a client. The connection is read again afterwards, whatever happened. Resolves with a
 * descriptor of a regular file, which the caller must close; a pipe, socket or device, or a file on
 * FUSE, would let a client stall the daemon's I/O, and is refused.
 */
export async function receiveFile(
  socket: Socket,
  res: ServerResponse,
  receiveFd: ReceiveFd | undefined,
  waitMs = FILE_WAIT_MS,
  statfs: (path: string) => { type: number } = statfsSync,
): Promise<number> {
  if (receiveFd === undefined) throw fileUnavailable('the daemon has no native addon to take it with');
  // A TCP connection has a remote address; a Unix socket's has none.
  if (socket.remoteAddress !== undefined) throw fileUnavailable('not a Unix socket');
  const handle = (socket as unknown as { _handle?: SocketHandle })._handle;
  const socketFd = handle?.fd;
  if (typeof socketFd !== 'number' || socketFd < 0 || !handle?.readStop || !handle.readStart)
    throw fileUnavailable('the connection has no descriptor');
  // Node must not read the byte that carries the descriptor: read() would drop the descriptor.
  handle.readStop();
  let fd: number | null = null;
  try {
    res.writeProcessing();
    const asked = performance.now();
    const deadline = asked + waitMs;
    for (let wait = 0; fd === null; wait = Math.min(wait + 1, 2)) {
      if (socket.destroyed) throw cancelled('the client left before handing over its file');
      try {
        fd = receiveFd(socketFd);
      } catch (err) {
        throw cancelled(`the client did not hand over a file: ${(err as Error).message}`);
      }
      if (fd !== null) break;
      const now = performance.now();
      if (now > deadline)
        throw new UsbScsiError(ErrorCodes.TIMEOUT, `the client did not hand over its file within ${waitMs} ms`);
      // A client answers the 102 within a few hundred microseconds here: looking again on each turn
      // of the event loop (other requests still served between) for the first SPIN_MS saves the
      // millisecond a timer would add to every file handed over; a slower client is then polled.
      if (now - asked < SPIN_MS) {
        wait = 0;
        await new Promise((resolve) => setImmediate(resolve));
      } else await new Promise((resolve) => setTimeout(resolve, wait));
    }
  } finally {
    if (!socket.destroyed) handle.readStart();
  }
  try {
    if (!fstatSync(fd).isFile())
      throw badInput(
        'the descriptor handed over is not a regular file: only files are moved by the daemon itself ' +
          '(stream a pipe or a device through the request instead)',
        { reason: 'not-a-file' },
      );
    refuseFuse(fd, statfs);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
