import type { Command } from 'commander';
import type { CommandAction } from '../program.js';

export type Wrap = (action: CommandAction) => (...params: unknown[]) => Promise<void>;
type Register = (program: Command, wrap: Wrap) => void;

/**
 * Every top-level command, by the module that defines it, in help order. A run loads only the
 * module of the command it names (each module pulls in its own formatting and core code); help,
 * a mistyped name or no command registers them all, so commander lists and suggests as before.
 * `commands.test.ts` checks the names against what the modules register.
 */
export const COMMAND_MODULES: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['list'], load: async () => (await import('./list.js')).registerList },
  {
    names: ['info', 'inquiry', 'tur', 'sense', 'capacity'],
    load: async () => (await import('./info.js')).registerInfoCommands,
  },
  { names: ['read'], load: async () => (await import('./read.js')).registerRead },
  { names: ['write'], load: async () => (await import('./write.js')).registerWrite },
  { names: ['raw'], load: async () => (await import('./raw.js')).registerRaw },
  { names: ['smart'], load: async () => (await import('./smart.js')).registerSmart },
  { names: ['nvme'], load: async () => (await import('./nvme.js')).registerNvme },
  { names: ['firmware'], load: async () => (await import('./firmware.js')).registerFirmware },
  { names: ['reset'], load: async () => (await import('./reset.js')).registerReset },
  { names: ['handoff'], load: async () => (await import('./handoff.js')).registerHandoff },
  { names: ['bench'], load: async () => (await import('./bench.js')).registerBench },
  { names: ['doctor'], load: async () => (await import('./doctor.js')).registerDoctor },
];

/**
 * The command a command line names: its first word that is not a global option or an option's
 * value, as commander will read it (`-d sim`, `-qd sim`, `--device=sim`, `-dsim`). Undefined
 * when there is none, after `--`, or when the word is not a command.
 */
export function commandNamed(program: Command, argv: readonly string[]): string | undefined {
  const takesValue = new Set<string>();
  for (const option of program.options) {
    if (!option.required && !option.optional) continue;
    if (option.long) takesValue.add(option.long);
    if (option.short) takesValue.add(option.short);
  }
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return undefined;
    if (word.startsWith('--')) {
      if (!word.includes('=') && takesValue.has(word)) i++;
    } else if (word.startsWith('-') && word.length > 1) {
      // A cluster of short flags: a value-taking one takes the rest of the word, or the next word.
      for (let j = 1; j < word.length; j++) {
        if (!takesValue.has(`-${word[j]}`)) continue;
        if (j === word.length - 1) i++;
        break;
      }
    } else {
      return COMMAND_MODULES.some((m) => m.names.includes(word)) ? word : undefined;
    }
  }
  return undefined;
}

/**
 * Registers the command `argv` names, or every command when it names none (help, a typo); none for
 * `--version` without a command or help, which commander answers from the program alone.
 */
export async function registerCommands(program: Command, wrap: Wrap, argv: readonly string[]): Promise<void> {
  const name = commandNamed(program, argv);
  const versionOnly =
    name === undefined &&
    argv.some((w) => w === '--version' || w === '-V') &&
    !argv.some((w) => w === '--help' || w === '-h' || w === 'help');
  if (versionOnly) return;
  const wanted = COMMAND_MODULES.filter((m) => name === undefined || m.names.includes(name));
  for (const register of await Promise.all(wanted.map((m) => m.load()))) register(program, wrap);
}
