import { chmod, chown, lstat, readFile, stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ErrorCodes, UsbScsiError, badInput } from '@usbscsi/core';

/** /run/usbscsid.sock as root, else $XDG_RUNTIME_DIR/usbscsid.sock (or /tmp/usbscsid-<uid>.sock without one). */
export function defaultSocketPath(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  if (uid === 0) return '/run/usbscsid.sock';
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'usbscsid.sock');
  return `/tmp/usbscsid-${uid ?? 'user'}.sock`;
}

/**
 * Refuses a socket path the daemon cannot listen on before anything starts:
 * an empty one (Node would answer with its own argument dump) and one whose
 * directory does not exist (bind reports that as EACCES).
 */
export async function checkSocketPath(path: string): Promise<void> {
  if (path === '')
    throw badInput('--socket needs a path (e.g. /run/usbscsid.sock); to serve TCP only, use --no-socket with --listen');
  const dir = dirname(path);
  const info = await stat(dir).catch((err: unknown) => err as NodeJS.ErrnoException);
  if (info instanceof Error) {
    if (info.code === 'ENOENT' || info.code === 'ENOTDIR')
      throw badInput(
        `the directory of the socket ${path} does not exist (${dir}); create it or choose another --socket path`,
        { path },
      );
    if (info.code === 'EACCES')
      throw badInput(`cannot reach the directory of the socket ${path} (${dir}): permission denied`, { path });
    throw info;
  }
  if (!info.isDirectory())
    throw badInput(
      `the socket ${path} would be inside ${dir}, which is not a directory; choose another --socket path`,
      { path },
    );
}

/** Does something accept connections on this socket? */
function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Removes a socket file left by a daemon that died, and refuses to steal the
 * path from one that still listens or to delete a file that is not a socket.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  });
  if (!info) return;
  if (!info.isSocket()) throw badInput(`${path} exists and is not a socket; remove it or choose another --socket path`);
  if (await somebodyListens(path)) {
    throw new UsbScsiError(
      ErrorCodes.BUSY,
      `another usbscsid already listens on ${path}; stop it first or choose another --socket path`,
      {
        details: { path },
      },
    );
  }
  await unlink(path);
}

/** 0660, and the group when asked (a name from /etc/group or a number), so members of that group may connect. */
export async function setSocketAccess(path: string, group: string | undefined): Promise<void> {
  if (group !== undefined) {
    const gid = /^\d+$/.test(group) ? Number(group) : await groupId(group);
    await chown(path, -1, gid);
  }
  await chmod(path, 0o660);
}

async function groupId(name: string): Promise<number> {
  const text = await readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid && /^\d+$/.test(gid)) return Number(gid);
  }
  throw badInput(`no group named ${name} in /etc/group; create it (groupadd --system ${name}) or pass a numeric gid`);
}

/** `127.0.0.1:8765`, `[::1]:8765` or `8765` (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw badInput(`--listen takes HOST:PORT or PORT (e.g. 127.0.0.1:8765), not ${JSON.stringify(text)}`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}
