#!/usr/bin/env node
// `pnpm bench:startup` (and part of `pnpm bench`): wall time of `usbscsi --device sim inquiry`,
// `usbscsi --help` and `usbscsi --version` against `node -e 0`, each run N times, interleaved so
// that the machine's noise falls on every command alike; prints medians and ratios (`--json`: the
// summary as JSON).
// Needs `pnpm build` (it runs apps/cli/dist).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STARTUP_COMMANDS, startupText, summarizeStartup } from './lib/startup.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs every command `runs` times (plus one untimed warm-up each) and returns the summary. */
export function measureStartup(runs) {
  if (!existsSync(join(repo, 'apps/cli/dist/main.js')))
    return { error: 'apps/cli/dist/main.js is missing: run pnpm build' };
  const samples = Object.fromEntries(STARTUP_COMMANDS.map((c) => [c.name, []]));
  const once = (c) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${String(r.stderr).trim()}`);
    return ms;
  };
  try {
    for (const c of STARTUP_COMMANDS) once(c);
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? STARTUP_COMMANDS : [...STARTUP_COMMANDS].reverse();
      for (const c of order) samples[c.name].push(once(c));
    }
  } catch (err) {
    return { error: err.message };
  }
  return summarizeStartup(samples);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 21;
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
    console.error('usage: node tools/bench/startup.mjs [--runs N (1..1000, default 21)] [--json]');
    process.exit(2);
  }
  const summary = measureStartup(runs);
  console.log(args.includes('--json') ? JSON.stringify(summary) : startupText(summary));
  process.exit(summary.error ? 1 : 0);
}
