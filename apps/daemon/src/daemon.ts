import { readFile, unlink } from 'node:fs/promises';
import { ErrorCodes, UsbScsiError, badInput, isLoopbackHost } from '@usbscsi/core';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { ByteBudget } from './byte-budget.js';
import type { DaemonContext, DaemonLimits } from './context.js';
import { EventHub } from './events.js';
import { LeaseManager, type LeaseLimits } from './leases.js';
import { daemonLogger } from './log.js';
import { DaemonMetrics } from './metrics.js';
import { systemFileReceiver, type ReceiveFd } from './file-passing.js';
import { systemPeerLookup, type PeerLookup } from './peer.js';
import type { DeviceProvider } from './provider.js';
import { DeviceRegistry } from './registry.js';
import { checkSocketPath, clearStaleSocket, setSocketAccess } from './socket.js';

export interface DaemonOptions {
  provider: DeviceProvider;
  /** Unix socket path; null for none (then `listen` is required). */
  socketPath: string | null;
  /** Group that may connect to the socket (mode 0660). */
  socketGroup?: string;
  /** Optional TCP listener; requires `token`. */
  listen?: { host: string; port: number };
  /** Bind TCP to a non-loopback address (refused otherwise). */
  allowRemote?: boolean;
  token?: string;
  log?: Logger;
  limits?: Partial<DaemonLimits>;
  leases?: Partial<LeaseLimits>;
  /** An unleased device is closed (handed back to the OS) this long after its last command. Default 2000 ms. */
  idleCloseMs?: number;
  /** Device list poll interval for backends without hotplug events. Default 1000 ms. */
  pollMs?: number;
  /**
   * Gives back devices whose lease holder died (the journal left by a crashed
   * daemon). Runs before the listeners open; its report is logged.
   */
  recover?: (log: Logger) => Promise<unknown>;
  /** Who connected to the Unix socket (default: SO_PEERCRED through the native addon, where it loads). */
  peerLookup?: PeerLookup;
  /** Takes a file a client hands over on the Unix socket (default: the native addon's; null: never). */
  receiveFd?: ReceiveFd | null;
}

export interface RunningDaemon {
  readonly ctx: DaemonContext;
  readonly socketPath: string | null;
  readonly tcp: { host: string; port: number } | undefined;
  /** Every route served (method + URL pattern). */
  readonly routes: { method: string; url: string }[];
  /**
   * Drain: refuse new work, fail queued commands with E_CANCELLED, let running ones finish, release every lease, close.
   */
  shutdown(reason?: string): Promise<void>;
}

const here = (p: string) => new URL(p, import.meta.url);

export const DEFAULT_LIMITS: DaemonLimits = {
  bodyLimit: 64 * 1024 * 1024,
  maxTransferLength: 64 * 1024 * 1024,
  watchdogGraceMs: 5000,
  // 64 MiB at 1 MB/s; the command's own time does not count (the request is complete by then).
  requestTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  // Four bodies of the largest size at once.
  maxBytesInFlight: 256 * 1024 * 1024,
  maxQueueDepth: 128,
};

export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const log = options.log ?? daemonLogger();
  if (options.socketPath === null && !options.listen)
    throw badInput('nothing to listen on: give a socket path or --listen');
  if (options.listen) {
    if (!options.token) throw badInput('the TCP listener needs a bearer token: pass --token-file FILE');
    if (!isLoopbackHost(options.listen.host) && !options.allowRemote)
      throw badInput(
        `refusing to listen on ${options.listen.host}: not a loopback address (add --allow-remote if you mean it)`,
      );
  }

  if (options.socketPath !== null) await checkSocketPath(options.socketPath);
  const limits = checkLimits({ ...DEFAULT_LIMITS, ...options.limits });

  if (options.recover) {
    const report = await options.recover(log).catch((err: unknown) => {
      log.error(
        { err },
        'lease recovery failed; devices of a dead daemon may still be detached (run usbscsi handoff recover)',
      );
      return undefined;
    });
    if (report !== undefined) log.info({ report }, 'lease recovery done');
  }

  const events = new EventHub();
  const registry = new DeviceRegistry(options.provider, events, log, {
    idleCloseMs: options.idleCloseMs ?? 2000,
    pollMs: options.pollMs ?? 1000,
    maxQueueDepth: limits.maxQueueDepth,
  });
  const leases = new LeaseManager(events, log, {
    defaultTtlMs: 10 * 60_000,
    maxTtlMs: 24 * 3600_000,
    defaultIdleTimeoutMs: 60_000,
    ...options.leases,
  });
  registry.onDeviceLeft = (slot) => leases.deviceLeft(slot);
  const metrics = new DaemonMetrics(() => ({
    queueDepth: Object.fromEntries(registry.all().map((s) => [s.id, s.queue.depth])),
    leases: leases.count,
    sseClients: events.subscribers,
    bytesInFlight: ctx.bytesInFlight.inUse,
  }));
  const [openapi, pkg] = await Promise.all([
    readFile(here('../openapi.yaml'), 'utf8'),
    readFile(here('../package.json'), 'utf8').then((t) => JSON.parse(t) as { version: string }),
  ]);
  const ctx: DaemonContext = {
    registry,
    leases,
    events,
    metrics,
    log,
    openapi,
    version: pkg.version,
    draining: false,
    inflight: new Set(),
    peers: new WeakMap(),
    limits,
    bytesInFlight: new ByteBudget(limits.maxBytesInFlight),
  };

  const receiveFd = options.receiveFd === null ? undefined : (options.receiveFd ?? systemFileReceiver());
  await registry.start();
  const apps: Awaited<ReturnType<typeof buildApp>>[] = [];
  const routes: { method: string; url: string }[] = [];
  let tcp: RunningDaemon['tcp'];
  try {
    if (options.socketPath !== null) {
      await clearStaleSocket(options.socketPath);
      const app = await buildApp(ctx, {
        listener: 'unix',
        routes,
        peerLookup: options.peerLookup ?? systemPeerLookup(),
        ...(receiveFd ? { receiveFd } : {}),
      });
      apps.push(app);
      await app.listen({ path: options.socketPath });
      await setSocketAccess(options.socketPath, options.socketGroup);
      log.info({ socket: options.socketPath, devices: registry.all().length }, 'listening on unix socket');
    }
    if (options.listen) {
      const app = await buildApp(ctx, {
        listener: 'tcp',
        token: options.token!,
        ...(options.socketPath === null ? { routes } : {}),
      });
      apps.push(app);
      await app.listen({ host: options.listen.host, port: options.listen.port });
      const address = app.server.address();
      tcp = {
        host: options.listen.host,
        port: typeof address === 'object' && address ? address.port : options.listen.port,
      };
      log.info(tcp, 'listening on tcp (bearer token required)');
    }
  } catch (err) {
    await Promise.all(apps.map((a) => a.close()));
    registry.stop();
    throw err;
  }

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') => {
    shuttingDown ??= (async () => {
      ctx.draining = true;
      log.info({ reason }, 'draining');
      const cancelled = new UsbScsiError(
        ErrorCodes.CANCELLED,
        'the daemon is shutting down; this command was not sent',
      );
      let dropped = 0;
      for (const slot of registry.all()) dropped += slot.failQueued(cancelled);
      await Promise.all(registry.all().map((s) => s.queue.whenIdle()));
      await leases.releaseAll('shutdown');
      await Promise.all(registry.all().map((s) => s.closeWhenIdle()));
      registry.stop();
      events.close();
      // Answers already being written (a large data-in) must reach their clients whole.
      const deadline = Date.now() + 10_000;
      while (ctx.inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await Promise.all(apps.map((a) => a.close()));
      if (options.socketPath !== null) await unlink(options.socketPath).catch(() => undefined);
      await options.provider.dispose?.();
      log.info({ dropped }, 'stopped');
    })();
    return shuttingDown;
  };

  return { ctx, socketPath: options.socketPath, tcp, routes, shutdown };
}

function checkLimits(limits: DaemonLimits): DaemonLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw badInput(`the daemon limit ${name} must be a whole number of at least 1, not ${value}`);
  }
  if (limits.maxBytesInFlight < limits.bodyLimit)
    throw badInput(
      `--max-bytes-in-flight (${limits.maxBytesInFlight}) is below --body-limit (${limits.bodyLimit}): ` +
        `the largest request would never be admitted; raise it`,
    );
  return limits;
}
