import type { Command } from 'commander';
import type { CommandAction } from '../program.js';
import { registerBench } from './bench.js';
import { registerDoctor } from './doctor.js';
import { registerFirmware } from './firmware.js';
import { registerHandoff } from './handoff.js';
import { registerInfoCommands } from './info.js';
import { registerList } from './list.js';
import { registerNvme } from './nvme.js';
import { registerRaw } from './raw.js';
import { registerRead } from './read.js';
import { registerReset } from './reset.js';
import { registerSmart } from './smart.js';
import { registerWrite } from './write.js';

export type Wrap = (action: CommandAction) => (...params: unknown[]) => Promise<void>;

export function registerCommands(program: Command, wrap: Wrap): void {
  registerList(program, wrap);
  registerInfoCommands(program, wrap);
  registerRead(program, wrap);
  registerWrite(program, wrap);
  registerRaw(program, wrap);
  registerSmart(program, wrap);
  registerNvme(program, wrap);
  registerFirmware(program, wrap);
  registerReset(program, wrap);
  registerHandoff(program, wrap);
  registerBench(program, wrap);
  registerDoctor(program, wrap);
}
