import { readFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseTokenFile } from './auth.js';
import { badInput, UsbScsiError, type HandoffPlatform } from '@usbscsi/core';
import { DEFAULT_LIMITS, startDaemon, type RunningDaemon } from './daemon.js';
import { daemonLogger } from './log.js';
import { createProvider } from './providers.js';
import { checkSocketPath, defaultSocketPath, parseListen } from './socket.js';

function bytes(text: string): number {
  const m = /^(\d+)([kKmMgG]i?[bB]?)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`not a size (e.g. 64M)`);
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}
const int = (text: string) => {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError('not a whole number');
  return Number(text);
};

export const program = new Command('usbscsid')
  .description(
    'Own USB mass-storage devices and serve SCSI commands, leases and events to many ' +
      'clients over HTTP on a Unix socket.',
  )
  .option('--socket <path>', 'Unix socket path', defaultSocketPath())
  .option('--no-socket', 'do not listen on a Unix socket (needs --listen)')
  .option('--socket-group <group>', 'group that may connect (socket mode 0660)')
  .option('--listen <host:port>', 'also listen on TCP (loopback unless --allow-remote); needs --token-file')
  .option('--token-file <file>', 'bearer token for the TCP listener (first line)')
  .option('--allow-remote', 'allow --listen on a non-loopback address')
  .option(
    '--device <spec>',
    'serve a simulated device, e.g. sim or sim:blocks=2048 (repeatable); without it, real devices',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .addOption(
    new Option('--backend <name>', 'USB backend for real devices')
      .choices(['auto', 'native', 'node-usb'])
      .default('auto'),
  )
  .addOption(
    new Option('--transport <name>', 'transport for real devices').choices(['auto', 'bot', 'sg']).default('auto'),
  )
  .option(
    '--unmount',
    'let leases unmount mounted filesystems (re-mounted on release) instead of refusing with E_MOUNTED',
  )
  .option(
    '--journal <file>',
    "lease journal (default: $USBSCSI_LEASE_JOURNAL, else core's default path)",
    process.env.USBSCSI_LEASE_JOURNAL,
  )
  .option('--body-limit <size>', 'largest request body (data-out) and data-in length', bytes, DEFAULT_LIMITS.bodyLimit)
  .option(
    '--max-bytes-in-flight <size>',
    'request bodies and data-in buffers held at once, all clients together (beyond: 503 E_BUSY)',
    bytes,
    DEFAULT_LIMITS.maxBytesInFlight,
  )
  .option(
    '--max-queue-depth <n>',
    'commands queued or running per device (beyond: 503 E_BUSY)',
    int,
    DEFAULT_LIMITS.maxQueueDepth,
  )
  .option(
    '--request-timeout-ms <ms>',
    'a request (headers and body) must arrive within this',
    int,
    DEFAULT_LIMITS.requestTimeoutMs,
  )
  .option(
    '--headers-timeout-ms <ms>',
    'the request line and headers must arrive within this',
    int,
    DEFAULT_LIMITS.headersTimeoutMs,
  )
  .option(
    '--keep-alive-timeout-ms <ms>',
    'close an idle keep-alive connection after this',
    int,
    DEFAULT_LIMITS.keepAliveTimeoutMs,
  )
  .option('--idle-close-ms <ms>', 'close an unleased device this long after its last command', int, 2000)
  .option('--poll-ms <ms>', 'device list poll interval when the backend has no hotplug events', int, 1000)
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
  )
  // Usage errors come back to run() as typed errors, so they exit 2 with one message like every other bad option.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

function parseArgv(argv: string[]): void {
  try {
    program.parse(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // --help and --version: printed already, nothing to run
    if (err.exitCode === 0) process.exit(0);
    throw badInput(`${err.message.replace(/^error: /, '')} (usbscsid --help lists the options)`, { reason: err.code });
  }
}

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

async function readTokenFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((caught: unknown) => {
    const err = caught as NodeJS.ErrnoException;
    throw badInput(`cannot read --token-file ${path}: ${READ_FAILURES[err.code ?? ''] ?? err.message}`, { path });
  });
  return parseTokenFile(text, path);
}

export interface RunHooks {
  /**
   * Hand simulated devices off through this platform (a fake OS in tests):
   * each open takes a journaled core lease, and start-up recovers the journal.
   */
  handoffPlatform?: HandoffPlatform;
}

/** Parses the command line, starts the daemon, and drains on SIGTERM/SIGINT (exit 0). */
export async function run(argv: string[], hooks: RunHooks = {}): Promise<RunningDaemon> {
  parseArgv(argv);
  const opts = program.opts<{
    socket: string | false;
    socketGroup?: string;
    listen?: string;
    tokenFile?: string;
    allowRemote?: boolean;
    device: string[];
    backend: 'auto' | 'native' | 'node-usb';
    transport: 'auto' | 'bot' | 'sg';
    unmount?: boolean;
    journal?: string;
    bodyLimit: number;
    maxBytesInFlight: number;
    maxQueueDepth: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    idleCloseMs: number;
    pollMs: number;
    logLevel: string;
  }>();
  const log = daemonLogger(opts.logLevel);
  if (opts.socket !== false) await checkSocketPath(opts.socket);
  const token = opts.tokenFile ? await readTokenFile(opts.tokenFile) : undefined;
  const setup = await createProvider({
    devices: opts.device,
    backend: opts.backend,
    transport: opts.transport,
    unmount: opts.unmount ?? false,
    journal: opts.journal,
    log,
    ...(hooks.handoffPlatform ? { handoffPlatform: hooks.handoffPlatform } : {}),
  });
  const daemon = await startDaemon({
    provider: setup.provider,
    recover: setup.recover,
    socketPath: opts.socket === false ? null : opts.socket,
    ...(opts.socketGroup ? { socketGroup: opts.socketGroup } : {}),
    ...(opts.listen ? { listen: parseListen(opts.listen) } : {}),
    ...(opts.allowRemote ? { allowRemote: true } : {}),
    ...(token ? { token } : {}),
    log,
    limits: {
      bodyLimit: opts.bodyLimit,
      maxTransferLength: opts.bodyLimit,
      maxBytesInFlight: opts.maxBytesInFlight,
      maxQueueDepth: opts.maxQueueDepth,
      requestTimeoutMs: opts.requestTimeoutMs,
      headersTimeoutMs: opts.headersTimeoutMs,
      keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
    },
    idleCloseMs: opts.idleCloseMs,
    pollMs: opts.pollMs,
  });
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      daemon.shutdown(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  // A bug must not leave devices taken from the OS: give them back, then die loudly.
  const fatal = (err: unknown) => {
    log.fatal({ err }, 'uncaught failure; releasing devices and exiting');
    if (signalled) return;
    signalled = true;
    const deadline = setTimeout(() => process.exit(1), 30_000);
    deadline.unref();
    void daemon.shutdown('fatal error').finally(() => process.exit(1));
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  return daemon;
}

/** For main.ts and test fixtures: run, or print the typed error and exit 2. */
export function runOrExit(argv: string[], hooks: RunHooks = {}): void {
  run(argv, hooks).catch((err: unknown) => {
    // Only the project's codes are shown: a Node error's code is already in its message.
    const prefix = err instanceof UsbScsiError ? `${err.code}: ` : '';
    process.stderr.write(`usbscsid: ${prefix}${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
