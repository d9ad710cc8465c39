/**
 * The table of command modules that lets a run load only its own command: it must name exactly
 * what the modules register, and find the command in a command line as commander reads it.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_MODULES, commandNamed } from '../src/commands/index.js';
import { createProgram } from '../src/program.js';

const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };

describe('COMMAND_MODULES', () => {
  it('names every top-level command the modules register, in help order, and nothing else', async () => {
    const program = await createProgram(io, {}, { exitCode: 0 }, []);
    const registered = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    expect(registered).toEqual(COMMAND_MODULES.flatMap((m) => m.names));
  });

  it('a command line that names a command registers that module only', async () => {
    const program = await createProgram(io, {}, { exitCode: 0 }, ['--device', 'sim', 'tur']);
    expect(program.commands.map((c) => c.name())).toEqual(['info', 'inquiry', 'tur', 'sense', 'capacity']);
  });
});

describe('commandNamed', () => {
  const cases: [string[], string | undefined][] = [
    [['inquiry'], 'inquiry'],
    [['--device', 'sim', 'inquiry'], 'inquiry'],
    [['-d', 'sim', '--json', 'read', '--lba', '0'], 'read'],
    [['--device=sim', 'raw', '12'], 'raw'],
    [['-dsim', 'tur'], 'tur'],
    [['-qd', 'sim', 'capacity'], 'capacity'],
    [['-qv', 'list'], 'list'],
    // An option's value that happens to be a command name is a value.
    [['--lun', 'list', 'tur'], 'tur'],
    [['--via', 'unix:', '--timeout', '5', 'handoff', 'status'], 'handoff'],
    [['--help'], undefined],
    [['help', 'inquiry'], undefined],
    [['inqiury'], undefined],
    [['--', 'inquiry'], undefined],
    [[], undefined],
  ];
  it.each(cases)('%j names %s', async (argv, expected) => {
    const program = await createProgram(io, {}, { exitCode: 0 }, ['--help']);
    expect(commandNamed(program, argv)).toBe(expected);
  });
});
