// The 120-column check for what prettier does not wrap, run on a throwaway git work tree.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./line-length.mjs', import.meta.url));
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'usbscsi-line-length-'));
  spawnSync('git', ['init', '-q'], { cwd: dir });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(path: string, text: string): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function check(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('node', [script, ...args], { cwd: dir, encoding: 'utf8' });
}

it('names each source line over 120 characters, in C++, shell, CMake and TypeScript comments', () => {
  write('native/src/a.cc', `int a;\n// ${'x'.repeat(118)}\n`);
  write('tools/run.sh', `echo ${'y'.repeat(116)}\n`);
  write('native/CMakeLists.txt', `set(${'z'.repeat(120)})\n`);
  write('packages/core/src/b.ts', `/** ${'w'.repeat(120)} */\n`);
  const r = check();
  expect(r.status).toBe(1);
  expect(
    r.stdout
      .split('\n')
      .filter((l) => /: \d+ characters$/.test(l))
      .sort(),
  ).toEqual([
    'native/CMakeLists.txt:1: 125 characters',
    'native/src/a.cc:2: 121 characters',
    'packages/core/src/b.ts:1: 127 characters',
    'tools/run.sh:1: 121 characters',
  ]);
});

it('passes lines of exactly 120 characters, counts characters rather than bytes, and leaves prose alone', () => {
  write('a.cc', `${'x'.repeat(120)}\n`);
  write('b.ts', `// ${'é'.repeat(117)}\r\n`);
  write('docs/notes.md', `${'prose '.repeat(40)}\n`);
  write('pnpm-lock.yaml', `${'k'.repeat(200)}: 1\n`);
  const r = check();
  expect(r.stdout).toContain('no line over 120 characters');
  expect(r.status).toBe(0);
});

it('takes another limit and a narrower set of paths', () => {
  write('one/a.sh', `${'x'.repeat(90)}\n`);
  write('two/b.sh', `${'x'.repeat(90)}\n`);
  const r = check('--max', '80', 'one');
  expect(r.status).toBe(1);
  expect(r.stdout).toContain('one/a.sh:1: 90 characters');
  expect(r.stdout).not.toContain('two/b.sh');
});

it('refuses a limit that is not a positive integer, with exit 2', () => {
  const r = check('--max', 'wide');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('--max takes a positive integer');
});
