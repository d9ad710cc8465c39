#!/usr/bin/env node
// `pnpm lint`: eslint (typescript-eslint strict, type-aware where tsconfig.eslint.json reaches),
// `prettier --check`, the 120-character line check for what prettier does not wrap, and `tsc` over
// tsconfig.eslint.json (tests and tools included; the whole program even with a LIST). The four
// run side by side (eslint alone takes most of the time) and each one's output is printed whole
// when it ends, so one run shows every finding; exit 1 when any failed.
//   pnpm lint [--exclude LIST | --only LIST]   LIST: a file of pathspec globs (see files.mjs)
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listFiles, pathspecs, takeSelection } from './files.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
process.chdir(repo);
const args = process.argv.slice(2);
let selection;
try {
  selection = takeSelection(args);
  if (args.length > 0) throw new Error(`unexpected argument ${args[0]}; usage: lint [--exclude LIST | --only LIST]`);
} catch (err) {
  console.error(`lint: ${err.message}`);
  process.exit(2);
}
let eslintTargets = ['.'];
let prettierTargets = ['.'];
let lineLengthArgs = [];
if (selection) {
  const files = listFiles(pathspecs(selection.mode, selection.listFile));
  eslintTargets = ['--no-warn-ignored', ...files.filter((f) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(f))];
  prettierTargets = ['--ignore-unknown', ...files];
  lineLengthArgs = [`--${selection.mode}`, selection.listFile];
}
// Caches under node_modules/.cache (gitignored): a second run checks only what changed. A fresh
// checkout (CI) has none and checks everything. eslint's cache is keyed on each file's content, so a
// type-aware finding caused by a change in another file can be missed locally until that file
// changes too (CI never has the cache); `rm -rf node_modules/.cache/lint` forces a full run.
const cache = 'node_modules/.cache/lint';
const checks = [
  [
    'eslint',
    'pnpm',
    [
      'exec',
      'eslint',
      '--max-warnings',
      '0',
      '--cache',
      '--cache-strategy',
      'content',
      '--cache-location',
      `${cache}/eslint`,
      ...eslintTargets,
    ],
  ],
  [
    'prettier',
    'pnpm',
    [
      'exec',
      'prettier',
      '--check',
      '--log-level',
      'warn',
      '--cache',
      '--cache-location',
      `${cache}/prettier`,
      ...prettierTargets,
    ],
  ],
  ['line length', 'node', ['tools/lint/line-length.mjs', ...lineLengthArgs]],
  // The tests and tools are type-checked nowhere else (each package's build compiles only its src).
  [
    'types',
    'pnpm',
    [
      'exec',
      'tsc',
      '-p',
      'tsconfig.eslint.json',
      '--noEmit',
      '--incremental',
      '--tsBuildInfoFile',
      `${cache}/tsc.tsbuildinfo`,
    ],
  ],
];

function runCheck([name, cmd, args]) {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    let finished = false;
    const finish = (code, why) => {
      if (finished) return; // 'error' and 'close' can both come
      finished = true;
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`== ${name} ==\n${Buffer.concat(output).toString()}`);
      done({ ok: code === 0, line: `${name}: ${code === 0 ? 'ok' : `FAILED (${why})`} in ${seconds} s` });
    };
    child.on('error', (err) => finish(1, err.message));
    child.on('close', (code, signal) => finish(code, signal ?? `exit ${code}`));
  });
}

const results = await Promise.all(checks.map(runCheck));
for (const r of results) console.log(r.line);
process.exit(results.every((r) => r.ok) ? 0 : 1);
