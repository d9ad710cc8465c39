import { join } from 'node:path';
import { badInput } from '../errors.js';

/** Where a daemon listens: a Unix socket, or loopback TCP with a bearer token. */
export type DaemonEndpoint =
  { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number; token?: string };

/** The daemon's default socket: /run/usbscsid.sock for root, else $XDG_RUNTIME_DIR/usbscsid.sock. */
export function defaultDaemonSocket(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  if (uid === 0) return '/run/usbscsid.sock';
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'usbscsid.sock');
  return `/tmp/usbscsid-${uid ?? 'user'}.sock`;
}

/**
 * Loopback only: 127.0.0.0/8 written as four decimal octets, `::1` (either
 * spelling) and `localhost`. A name such as `127.example.com` is not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return octets !== null && octets.slice(1).every((o) => Number(o) <= 255);
}

/**
 * Reads a `--via` value (or `USBSCSI_VIA`): `unix:PATH`, `unix:` (the default
 * socket), or `http://HOST:PORT` (token from `token` or `USBSCSI_TOKEN`).
 *
 * Plain HTTP carries the bearer token in clear, so a host that is not
 * loopback is refused: such a daemon is reached through a tunnel that ends on
 * this machine's loopback.
 */
export function parseVia(text: string, options: { token?: string; env?: NodeJS.ProcessEnv } = {}): DaemonEndpoint {
  const env = options.env ?? process.env;
  const value = text.trim();
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length);
    if (path && !path.startsWith('/') && !path.startsWith('.'))
      throw badInput(`--via unix:PATH needs an absolute or ./relative path, not ${JSON.stringify(path)}`);
    return { kind: 'unix', socketPath: path || defaultDaemonSocket(env) };
  }
  const m = /^http:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(value);
  if (m) {
    const host = m[1]!.replace(/^\[|\]$/g, '');
    const port = Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw badInput(`--via ${JSON.stringify(text)}: the port must be from 1 to 65535, not ${m[2]}`, { port: m[2] });
    if (!isLoopbackHost(host)) {
      throw badInput(
        `--via ${JSON.stringify(text)}: refusing plain HTTP to ${host}, which is not loopback ` +
          `(127.0.0.0/8, ::1, localhost): the daemon's bearer token would cross the network in clear. ` +
          (`Reach a daemon on another machine through a tunnel that ends here, e.g. ssh -N -L ` +
            `8765:127.0.0.1:8765 ${host}, then --via http://127.0.0.1:8765`),
        { host },
      );
    }
    const token = options.token ?? env.USBSCSI_TOKEN;
    return { kind: 'tcp', host, port, ...(token ? { token } : {}) };
  }
  throw badInput(
    `cannot read --via ${JSON.stringify(text)}: use unix:/run/usbscsid.sock, unix: (the ` +
      `default socket) or http://127.0.0.1:PORT (token in USBSCSI_TOKEN)`,
  );
}

export function describeEndpoint(endpoint: DaemonEndpoint): string {
  return endpoint.kind === 'unix' ? `unix:${endpoint.socketPath}` : `http://${endpoint.host}:${endpoint.port}`;
}
