#!/usr/bin/env node
// `pnpm test:all`: every suite the project has, one after another, then one line
// `N passed, N failed` counting all of them. Suites: the vitest run (unit +
// integration + native-without-device), the QEMU end-to-end suite (tools/vm), a tiny
// benchmark run proving the bench pipeline (tools/bench --tiny), the prebuilt native binaries
// (tools/prebuild: one check per target) and the packaging stage (tools/ci/pack-install.mjs:
// pack, install offline, run the installed CLI; the VM stage then runs that install in a guest),
// the macOS compile check (tools/macos-check; counts as one check when an
// SDK is present, and says loudly when it is skipped), and `pnpm lint` (one check; see LINT below).
// Env: USBSCSI_SKIP_VM=1 skips the VM stage (printed loudly, counted as skipped).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const reports = join(repo, 'reports');
mkdirSync(reports, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
// Each failed test by name with the first line of its message, printed in the summary just above
// the totals: CI shows only the tail of a run, and a count alone does not say what to look at.
const failures = [];

function run(cmd, args, env = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit', env: { ...process.env, ...env } });
  return { code: r.status ?? 1, seconds: (Date.now() - t0) / 1000 };
}

function relativeTo(file) {
  return file.startsWith(`${repo}/`) ? file.slice(repo.length + 1) : file;
}

function addVitestLike(name, file, exitCode, seconds) {
  if (!existsSync(file)) {
    totals.failed += 1;
    lines.push(`${name}: no report (${file}); exit ${exitCode} — counted as 1 failure`);
    return;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const passed = r.numPassedTests ?? 0;
  const failed = (r.numFailedTests ?? 0) + (exitCode !== 0 && (r.numFailedTests ?? 0) === 0 ? 1 : 0);
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  for (const suite of r.testResults ?? []) {
    for (const a of suite.assertionResults ?? []) {
      if (a.status !== 'failed') continue;
      const message = String(a.failureMessages?.[0] ?? suite.message ?? '')
        .split('\n')[0]
        .slice(0, 300);
      // A guest case's kernel messages (tools/vm/guest/runner.mjs): the summary is often all a CI log keeps.
      const kernel = (a.kernelLog ?? []).slice(-25).map((line) => `\n    kernel: ${String(line).slice(0, 200)}`);
      failures.push(
        `${name}: ${suite.name ? `${relativeTo(suite.name)} > ` : ''}${a.fullName ?? a.title} — ${message}` +
          kernel.join(''),
      );
    }
    if ((suite.assertionResults ?? []).length === 0 && suite.status === 'failed') {
      failures.push(
        `${name}: ${relativeTo(suite.name ?? '?')} — ${String(suite.message ?? '')
          .split('\n')[0]
          .slice(0, 300)}`,
      );
    }
  }
  lines.push(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped in ${seconds.toFixed(1)} s`);
}

// 1. Build everything (turbo), then vitest over the whole workspace.
const build = run('pnpm', ['-s', 'build']);
if (build.code !== 0) {
  totals.failed += 1;
  lines.push('build: FAILED (pnpm build) — counted as 1 failure');
}
rmSync(join(reports, 'vitest.json'), { force: true });
const unit = run('pnpm', [
  'exec',
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${join(reports, 'vitest.json')}`,
]);
addVitestLike('vitest (unit + integration + native)', join(reports, 'vitest.json'), unit.code, unit.seconds);

// 2. The prebuilt native binaries (one check per target; a target without its toolchain, e.g.
//    macOS without an SDK, is a loud skip), then the packages as a user installs them.
function addChecks(name, file, exitCode, seconds, entries, summarize) {
  if (!existsSync(file)) {
    totals.failed += 1;
    lines.push(`${name}: no report (${file}); exit ${exitCode} — counted as 1 failure`);
    return;
  }
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const e of entries(JSON.parse(readFileSync(file, 'utf8')))) counts[e] += 1;
  totals.passed += counts.passed;
  totals.failed += counts.failed;
  totals.skipped += counts.skipped;
  lines.push(
    `${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} ` +
      `skipped in ${seconds.toFixed(1)} s${summarize ? ` (${summarize(JSON.parse(readFileSync(file, 'utf8')))})` : ''}`,
  );
}
const prebuildReport = join(reports, 'prebuild.json');
rmSync(prebuildReport, { force: true });
const prebuild = run('node', ['tools/prebuild/run.mjs', '--report', prebuildReport]);
addChecks(
  'prebuild',
  prebuildReport,
  prebuild.code,
  prebuild.seconds,
  (r) =>
    Object.values(r.results).map((t) => (t.status === 'ok' ? 'passed' : t.status === 'skipped' ? 'skipped' : 'failed')),
  (r) =>
    Object.entries(r.results)
      .map(([k, t]) => `${k} ${t.status}${t.reason ? `: ${t.reason}` : ''}`)
      .join('; '),
);
const packReport = join(reports, 'pack.json');
rmSync(packReport, { force: true });
const pack = run('node', ['tools/ci/pack-install.mjs', '--report', packReport]);
addChecks('packaging (pack, offline install, installed CLI)', packReport, pack.code, pack.seconds, (r) =>
  r.checks.map((c) => (c.ok ? 'passed' : 'failed')),
);

// 3. Real kernel: QEMU guests (the xhci guest also runs the installed packages).
if (process.env.USBSCSI_SKIP_VM === '1') {
  lines.push('vm: SKIPPED because USBSCSI_SKIP_VM=1 — the real-kernel suite did not run');
} else {
  const vmResults = join(repo, '.vm-work', 'results.json');
  rmSync(vmResults, { force: true });
  const vm = run('node', ['tools/vm/run-e2e.mjs']);
  addVitestLike('vm (QEMU end-to-end)', vmResults, vm.code, vm.seconds);
}

// 4. Benchmark proof of life: one tiny run through every path (numbers are not judged here;
//    benchmarks are never timed tests). Exit 0 when every path produced numbers.
if (process.env.USBSCSI_SKIP_VM === '1') {
  lines.push('bench --tiny: SKIPPED because USBSCSI_SKIP_VM=1 (it boots the VM)');
} else {
  const bench = run('node', ['tools/bench/run.mjs', '--tiny']);
  if (bench.code === 0) {
    totals.passed += 1;
    lines.push(`bench --tiny: every path measured in ${bench.seconds.toFixed(1)} s (1 check)`);
  } else {
    totals.failed += 1;
    lines.push(`bench --tiny: FAILED (exit ${bench.code}) — a path produced no numbers`);
  }
}

// 5. macOS compile/link check.
const macCheck = join(repo, 'tools/macos-check/run.sh');
if (existsSync(macCheck)) {
  const r = spawnSync('bash', [macCheck], { cwd: repo, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  if (/skipped: no macOS SDK/.test(r.stdout ?? '')) {
    totals.skipped += 1;
    lines.push('macos-check: SKIPPED — skipped: no macOS SDK (set MACOS_SDK to check the darwin sources)');
  } else if (r.status === 0) {
    totals.passed += 1;
    lines.push('macos-check: passed');
  } else {
    totals.failed += 1;
    lines.push(`macos-check: FAILED (exit ${r.status})`);
  }
}

// 6. Lint: eslint, prettier --check, the 120-character line check and the type check of tests and
//    tools (tools/lint/run.mjs), one check.
{
  const lint = run('pnpm', ['-s', 'lint']);
  if (lint.code === 0) {
    totals.passed += 1;
    lines.push(`lint: passed in ${lint.seconds.toFixed(1)} s (eslint, prettier, line length, types)`);
  } else {
    totals.failed += 1;
    lines.push(`lint: FAILED (exit ${lint.code}) — pnpm lint prints each finding`);
  }
}

console.log('\n== summary ==');
for (const l of lines) console.log(l);
if (failures.length > 0) {
  console.log(`failed tests (${failures.length}):`);
  for (const f of failures) console.log(`  ${f}`);
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed === 0 ? 0 : 1);
