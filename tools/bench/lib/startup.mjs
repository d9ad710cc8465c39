// CLI start-up: the pure part (medians, ratios, verdicts, text) of tools/bench/startup.mjs.
import { median } from './report.mjs';

/** What is measured: each command's argv after `node`, and the ratio judged against the baseline. */
export const STARTUP_COMMANDS = [
  { name: 'node -e 0', args: ['-e', '0'], baseline: true },
  { name: 'usbscsi --device sim inquiry', args: ['apps/cli/dist/main.js', '--device', 'sim', 'inquiry'], target: 1.5 },
  { name: 'usbscsi --help', args: ['apps/cli/dist/main.js', '--help'] },
  { name: 'usbscsi --version', args: ['apps/cli/dist/main.js', '--version'] },
];

/**
 * @param samples {Record<string, number[]>} wall milliseconds per command name
 * @returns {{ runs, rows: { name, medianMs, minMs, ratio, target?, met? }[] }} ratio = median / the baseline's median
 */
export function summarizeStartup(samples, commands = STARTUP_COMMANDS) {
  const base = commands.find((c) => c.baseline);
  const baseMedian = base ? median(samples[base.name] ?? []) : NaN;
  const rows = commands.map((c) => {
    const s = samples[c.name] ?? [];
    const medianMs = median(s);
    const row = { name: c.name, medianMs, minMs: s.length ? Math.min(...s) : NaN, ratio: medianMs / baseMedian };
    if (c.target !== undefined) Object.assign(row, { target: c.target, met: row.ratio <= c.target });
    return row;
  });
  return { runs: Math.min(...commands.map((c) => (samples[c.name] ?? []).length)), rows };
}

export function startupText(s) {
  if (s.error) return `== CLI start-up ==\n  ERROR: ${s.error}`;
  const lines = [`== CLI start-up: wall time, median of ${s.runs} runs each (interleaved) ==`];
  for (const r of s.rows) {
    const verdict = r.target === undefined ? '' : `  [${r.met ? 'MET' : 'MISSED'}] <= ${r.target}x node -e 0`;
    lines.push(
      `  ${r.name.padEnd(30)} ${r.medianMs.toFixed(0).padStart(6)} ms (min ${r.minMs.toFixed(0)})  ` +
        `${r.ratio.toFixed(2)}x${verdict}`,
    );
  }
  return lines.join('\n');
}
