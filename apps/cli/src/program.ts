/**
 * The `usbscsi` program: commander wiring, global options, one exit status
 * per run. `runCli` is what cli.ts and the in-process tests call.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isUsbScsiError } from '@usbscsi/core/errors';
import { registerCommands } from './commands/index.js';
import type { CliContext, CliDeps, GlobalOptions } from './context.js';
import { ExitCode, exitCodeFor, exitCodeHelpText } from './exit-codes.js';
import { toJson } from './format/json.js';
import type { CliIo } from './io.js';
import { nonEmptyPath } from './options.js';

export type CommandAction = (
  ctx: CliContext,
  args: string[],
  options: Record<string, unknown>,
) => Promise<number | void>;

export interface RunState {
  exitCode: number;
}

const DEVICE_HELP =
  'vid:pid[:serial] (hex), bus-port (1-2.3), /dev/sdX, /dev/sgN, /dev/srN, /dev/stN, ' +
  '/dev/nstN, or sim[:key=value,…] for the built-in emulator';

/** An empty selector (`--device "$UNSET"`) must not quietly mean "whatever device is there". */
function deviceSelector(value: string): string {
  if (value.trim() === '')
    throw new InvalidArgumentError(
      '--device needs a selector (VID:PID, bus-port, /dev/… or sim); omit --device to use the only visible device.',
    );
  return value;
}

/**
 * This package's version, from its package.json: one directory above both src/ (tests) and
 * dist/ (the bundle), and always in the published package.
 */
function cliVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    return 'unknown'; // a copied-out dist/ still runs every command
  }
}

/**
 * The program for one command line: the global options, and the commands — only the one `argv`
 * names when it names one (see registerCommands), so a run loads what its command uses.
 */
export async function createProgram(
  io: CliIo,
  deps: CliDeps,
  state: RunState,
  argv: readonly string[] = [],
): Promise<Command> {
  const program = new Command('usbscsi')
    .description('Send any SCSI command to a USB mass-storage device (Bulk-Only Transport or SG_IO).')
    .version(cliVersion(), '-V, --version', 'print the version of usbscsi')
    .option('-d, --device <selector>', DEVICE_HELP, deviceSelector)
    .option('--lun <n>', 'logical unit number (default 0)')
    .addOption(
      new Option('--backend <name>', 'how to reach the device')
        .choices(['auto', 'native', 'node-usb', 'sg'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--transport <name>',
        'what carries the commands: auto (SG_IO when the kernel owns the device on Linux, else UAS ' +
          'where the device has it, else BOT), bot, uas or sg',
      )
        .choices(['auto', 'bot', 'uas', 'sg'])
        .default('auto'),
    )
    .option('--json', 'print one JSON document (errors as {"error":{…}})')
    .option('-q, --quiet', 'print only data and errors')
    .option('-v, --verbose', 'more detail; stack traces on errors')
    .option(
      '--trace <file.pcapng>',
      'record every USB transfer as a Wireshark-readable pcapng (usbmon)',
      nonEmptyPath('--trace', 'a file to record to'),
    )
    .option('--timeout <ms>', 'per-command timeout in milliseconds (default 20000)')
    .option(
      '--via <unix:PATH>',
      'run through the usbscsid daemon (also env USBSCSI_VIA)',
      nonEmptyPath(
        '--via',
        'the daemon endpoint (unix:PATH, unix: for the default socket, or http://127.0.0.1:PORT); ' +
          'omit --via to use local devices',
      ),
    )
    .option(
      '--unmount',
      'when the OS must give up the interface (BOT), sync and unmount its mounted filesystems ' +
        'instead of refusing with E_MOUNTED',
    )
    .option('--remount', 'with --unmount: mount them again when the device is given back')
    .addHelpText(
      'after',
      '\n' +
        exitCodeHelpText() +
        ('\n\nExamples:\n  usbscsi --device sim inquiry\n  usbscsi --device 0781:5567 read ' +
          '--lba 0 --blocks 8 -o first.bin\n  usbscsi --device sim raw 12 00 00 00 24 00 --in 36'),
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Usage errors are printed by runCli in the chosen format.
      outputError: () => {},
    });

  const wrap =
    (action: CommandAction) =>
    async (...params: unknown[]): Promise<void> => {
      const command = params[params.length - 1] as Command;
      const options = command.opts();
      const args = command.args;
      // The device session (and core's device stack with it) loads when a command runs, not for help.
      const { CliContext } = await import('./context.js');
      const ctx = new CliContext(io, command.optsWithGlobals<GlobalOptions>(), deps);
      const code = await action(ctx, args, options);
      state.exitCode = code ?? ExitCode.OK;
    };
  await registerCommands(program, wrap, argv);
  for (const sub of program.commands)
    sub.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {},
    });
  return program;
}

function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

/** Prints an error in the run's format and returns its exit status. */
export function reportError(io: CliIo, argv: string[], err: unknown): number {
  const json = wantsJson(argv);
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.OK;
    // Help shown because no command was given (commander exits 1 then) is a usage error; `usbscsi help` is not.
    if (err.code === 'commander.help' && err.exitCode === 0) return ExitCode.OK;
    const noCommand = err.code === 'commander.help';
    const message = noCommand
      ? 'no command to run: the usage above lists the commands'
      : err.message.replace(/^error: /, '');
    if (json) io.stdout.write(toJson({ error: { code: 'E_USAGE', message, details: { commander: err.code } } }));
    else io.stderr.write(`usbscsi: ${message}\n${noCommand ? '' : '(run usbscsi --help for usage)\n'}`);
    return ExitCode.USAGE;
  }
  const code = exitCodeFor(err);
  if (isUsbScsiError(err)) {
    const details = err.details;
    if (json) io.stdout.write(toJson({ error: { code: err.code, message: err.message, details } }));
    else {
      io.stderr.write(`usbscsi: ${err.message}\n`);
      const candidates = details['candidates'];
      if (Array.isArray(candidates))
        for (const c of candidates) io.stderr.write(`  candidate: ${typeof c === 'string' ? c : JSON.stringify(c)}\n`);
      // A UsbScsiError is an expected failure whose message says what to do: no stack, even with -v.
    }
    return code;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (json) io.stdout.write(toJson({ error: { code: 'E_INTERNAL', message: e.message, details: {} } }));
  else {
    io.stderr.write(
      `usbscsi: unexpected failure: ${e.message}${verbose ? '' : ' (run with --verbose for the stack trace)'}\n`,
    );
    if (verbose && e.stack) io.stderr.write(e.stack + '\n');
  }
  return code;
}

/** Runs one command line (without `node main.js`) and returns the exit status. Never throws. */
export async function runCli(argv: string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  const state: RunState = { exitCode: ExitCode.OK };
  let program: Command;
  try {
    program = await createProgram(io, deps, state, argv);
  } catch (err) {
    return reportError(io, argv, err);
  }
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return ExitCode.USAGE;
    }
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (err) {
    return reportError(io, argv, err);
  }
}
