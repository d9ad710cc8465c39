// A tiny test runner for the guest (no vitest: starting it over 9p costs more than the cases).
// Writes vitest-JSON-compatible counts plus one entry per test to the results file.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const tests = [];

/** Registers a case. `fn` returns nothing, or throws to fail. */
export function test(name, fn, { timeoutMs = 60_000 } = {}) {
  tests.push({ name, fn, timeoutMs });
}

/** Registers a case that cannot run here; the reason is printed loudly and kept in the results. */
export function skip(name, reason) {
  tests.push({ name, skipReason: reason });
}

export class SkipError extends Error {}
/** Skips the running case from inside it (e.g. a backend that did not load). */
export function skipNow(reason) {
  throw new SkipError(reason);
}

function withTimeout(promise, ms, name) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`case timed out after ${ms} ms: ${name}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function summarize(suiteName, started, results, complete) {
  const count = (s) => results.filter((r) => r.status === s).length;
  return {
    suite: suiteName,
    // false while running: a guest that dies mid-suite leaves an incomplete file the host counts as a failure
    complete,
    success: complete && count('failed') === 0,
    numTotalTests: results.length,
    numPassedTests: count('passed'),
    numFailedTests: count('failed'),
    numPendingTests: count('skipped'),
    startTime: started,
    durationMs: Date.now() - started,
    testResults: [{ name: suiteName, assertionResults: results }],
  };
}

/**
 * After a failure: the kernel's messages of the case's time (the console shows only warnings: `quiet`),
 * printed and returned for the results file (CI's summary shows them under the failure).
 */
function kernelLogOfCase(durationMs) {
  let lines;
  try {
    lines = execFileSync('dmesg', { encoding: 'utf8', timeout: 5000 }).trimEnd().split('\n');
  } catch (err) {
    return [`(dmesg failed: ${err.message})`];
  }
  const uptime = Number.parseFloat(readFileSync('/proc/uptime', 'utf8'));
  const since = uptime - durationMs / 1000 - 1;
  const stamp = (line) => Number.parseFloat(/^\[\s*([\d.]+)\]/.exec(line)?.[1] ?? 'NaN');
  return lines.filter((line) => !(stamp(line) < since)).slice(-40);
}

export async function run(suiteName, resultsPath) {
  const started = Date.now();
  const results = [];
  const save = (complete) =>
    writeFileSync(resultsPath, JSON.stringify(summarize(suiteName, started, results, complete), null, 2));
  for (const t of tests) {
    save(false);
    if (t.skipReason) {
      console.log(`VM_TEST SKIP ${t.name} -- SKIPPED: ${t.skipReason}`);
      results.push({ fullName: t.name, status: 'skipped', failureMessages: [], skipReason: t.skipReason, duration: 0 });
      continue;
    }
    const t0 = Date.now();
    try {
      await withTimeout(Promise.resolve().then(t.fn), t.timeoutMs, t.name);
      const duration = Date.now() - t0;
      console.log(`VM_TEST PASS ${t.name} (${duration} ms)`);
      results.push({ fullName: t.name, status: 'passed', failureMessages: [], duration });
    } catch (err) {
      const duration = Date.now() - t0;
      if (err instanceof SkipError) {
        console.log(`VM_TEST SKIP ${t.name} -- SKIPPED: ${err.message}`);
        results.push({ fullName: t.name, status: 'skipped', failureMessages: [], skipReason: err.message, duration });
      } else {
        const msg = err?.stack ?? String(err);
        console.log(`VM_TEST FAIL ${t.name} (${duration} ms)\n${msg}${err?.code ? `\ncode: ${err.code}` : ''}`);
        const kernelLog = kernelLogOfCase(duration);
        console.log(`VM_KERNEL ${kernelLog.length} line(s) since the case began:`);
        for (const line of kernelLog) console.log(`VM_KERNEL ${line}`);
        results.push({ fullName: t.name, status: 'failed', failureMessages: [msg], kernelLog, duration });
      }
    }
  }
  const summary = summarize(suiteName, started, results, true);
  save(true);
  console.log(
    `VM_SUMMARY ${suiteName} total=${summary.numTotalTests} passed=${summary.numPassedTests} ` +
      `failed=${summary.numFailedTests} skipped=${summary.numPendingTests} in ${summary.durationMs} ms`,
  );
  return summary;
}
