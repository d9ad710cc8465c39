/** Runs the CLI in-process with captured output, or spawns the built one. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/program.js';
import type { CliDeps } from '../src/context.js';
import type { OutputStream } from '../src/io.js';

export interface RunResult {
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

class Capture implements OutputStream {
  chunks: Buffer[] = [];
  constructor(readonly isTTY: boolean) {}
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    return true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function run(
  argv: string[],
  options: {
    deps?: CliDeps;
    stdoutTTY?: boolean;
    stderrTTY?: boolean;
    env?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<RunResult> {
  const stdout = new Capture(options.stdoutTTY ?? false);
  const stderr = new Capture(options.stderrTTY ?? false);
  const code = await runCli(
    argv,
    { stdout, stderr, env: options.env ?? {}, ...(options.signal ? { signal: options.signal } : {}) },
    options.deps ?? {},
  );
  return {
    code,
    stdout: stdout.bytes.toString('utf8'),
    stdoutBytes: stdout.bytes,
    stderr: stderr.bytes.toString('utf8'),
  };
}

export function json(r: RunResult): Record<string, any> {
  return JSON.parse(r.stdout) as Record<string, any>;
}

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliMain = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export const hasTshark = spawnSync('tshark', ['--version']).status === 0;
export const hasScript = spawnSync('script', ['--version']).status === 0;

/** tshark's fields for a capture; stderr (a root warning) is ignored, the exit code is not. */
export function tsharkFields(file: string, fields: string[]): string[][] {
  const r = spawnSync(
    'tshark',
    ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
}
