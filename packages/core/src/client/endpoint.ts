import { join } from 'node:path';
import { badInput } from '../errors.js';

/** Where a daemon listens: a Unix socket, or loopback TCP with a bearer token. */
export type DaemonEndpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'tcp'; host: string; port: number; token?: string };

/** The daemon's default socket: /run/usbscsid.sock for root, else $XDG_RUNTIME_DIR/usbscsid.sock. */
export function defaultDaemonSocket(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return '/run/usbscsid.sock';
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'usbscsid.sock');
  return `/tmp/usbscsid-${uid ?? 'user'}.sock`;
}

/**
 * Reads a `--via` value (or `USBSCSI_VIA`): `unix:PATH`, `unix:` (the default
 * socket), or `http://HOST:PORT` (token from `token` or `USBSCSI_TOKEN`).
 */
export function parseVia(text: string, options: { token?: string; env?: NodeJS.ProcessEnv } = {}): DaemonEndpoint {
  const env = options.env ?? process.env;
  const value = text.trim();
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length);
    if (path && !path.startsWith('/') && !path.startsWith('.')) throw badInput(`--via unix:PATH needs an absolute or ./relative path, not ${JSON.stringify(path)}`);
    return { kind: 'unix', socketPath: path || defaultDaemonSocket(env) };
  }
  const m = /^http:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(value);
  if (m) {
    const token = options.token ?? env.USBSCSI_TOKEN;
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), ...(token ? { token } : {}) };
  }
  throw badInput(`cannot read --via ${JSON.stringify(text)}: use unix:/run/usbscsid.sock, unix: (the default socket) or http://127.0.0.1:PORT (token in USBSCSI_TOKEN)`);
}

export function describeEndpoint(endpoint: DaemonEndpoint): string {
  return endpoint.kind === 'unix' ? `unix:${endpoint.socketPath}` : `http://${endpoint.host}:${endpoint.port}`;
}
