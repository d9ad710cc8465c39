// The `daemon` path's floor: the same bytes through a Unix socket between two node processes,
// no device and no HTTP, so that what the socket alone costs in this guest stands beside what the
// daemon costs. A child listens and writes 4 MiB pieces to whoever connects (as usbscsid does);
// the parent connects and reads them two ways:
//  - `events`: 'data' events of the bytes node allocates per read, copied into the destination
//    (what node:http hands the client);
//  - `direct`: the socket read straight into the destination (net's `onread` with a buffer);
// and, for scale, `copy`: the same bytes copied once in user space.
// Run as `node socket-floor.mjs serve SOCKET BYTES` for the child's side.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PIECE = 4 * 1024 * 1024;

/** The child: answers each connection with `bytes` bytes, then ends it. */
function serve(socketPath, bytes) {
  const piece = Buffer.alloc(PIECE, 0x5a);
  rmSync(socketPath, { force: true });
  const server = createServer(async (socket) => {
    for (let left = bytes; left > 0; left -= PIECE) {
      const n = Math.min(PIECE, left);
      await new Promise((resolve, reject) =>
        socket.write(piece.subarray(0, n), (err) => (err ? reject(err) : resolve())),
      );
    }
    socket.end();
  });
  server.listen(socketPath, () => console.log('ready'));
  process.stdin.on('end', () => server.close());
  process.stdin.resume();
}

/** Seconds from connecting to the last byte, for one way of reading. */
function receive(socketPath, way, destination) {
  return new Promise((resolve, reject) => {
    let received = 0;
    const spare = new Uint8Array(64);
    const t0 = process.hrtime.bigint();
    const socket =
      way === 'events'
        ? createConnection(socketPath)
        : createConnection({
            path: socketPath,
            onread: {
              // Past the end, a small scratch buffer takes the EOF (a zero-length one fails the read).
              buffer: () => (received < destination.length ? destination.subarray(received) : spare),
              callback: (n) => {
                received += n;
              },
            },
          });
    if (way === 'events')
      socket.on('data', (chunk) => {
        destination.set(chunk, received);
        received += chunk.length;
      });
    socket.on('error', reject);
    socket.on('end', () => {
      socket.destroy();
      if (received !== destination.length)
        reject(new Error(`socket floor (${way}): ${received} of ${destination.length} bytes`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  });
}

/** Seconds to copy the same bytes in user space, 4 MiB at a time: what a copy costs here, without the socket. */
function copyTime(destination) {
  const piece = new Uint8Array(PIECE).fill(0x5a);
  const t0 = process.hrtime.bigint();
  for (let at = 0; at < destination.length; at += PIECE)
    destination.set(piece.subarray(0, Math.min(PIECE, destination.length - at)), at);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Seconds to move `bytes` through a Unix socket, read each way (the child's start-up is not counted). */
export async function socketFloor(bytes) {
  const socketPath = `/tmp/socket-floor-${process.pid}.sock`;
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', socketPath, String(bytes)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const first = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
    if (first.value !== 'ready') throw new Error(`socket floor server did not start: ${stderr.slice(-400)}`);
    const destination = new Uint8Array(bytes);
    return {
      events: await receive(socketPath, 'events', destination),
      direct: await receive(socketPath, 'direct', destination),
      copy: copyTime(destination),
    };
  } finally {
    child.stdin.end();
    await exited;
    rmSync(socketPath, { force: true });
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3], Number(process.argv[4]));
