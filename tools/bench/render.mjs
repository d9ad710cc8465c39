#!/usr/bin/env node
// Re-renders the table and the SVG from a stored reports/bench.json (its raw per-rep seconds), so
// that a change in the report's arithmetic or layout needs no new measurement:
//   node tools/bench/render.mjs [reports/bench.json] [out.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { judgePairs, summarizePairs } from './lib/pair-report.mjs';
import { best, judgeTargets, renderSvg, renderText, summarizeScenario, summarizeTurAb } from './lib/report.mjs';

const file = process.argv[2] ?? 'reports/bench.json';
const report = JSON.parse(readFileSync(file, 'utf8'));
for (const s of report.scenarios) {
  if (!s.raw) continue;
  const raw = { totalBytes: s.totalBytes, sizes: s.sizes, paths: s.paths, reps: s.raw };
  s.summary = summarizeScenario(raw);
  s.turAb = summarizeTurAb(raw);
  s.pairs = summarizePairs(raw);
  s.targets = [...judgeTargets(s.summary, s.sizes, s.turAb), ...judgePairs(s.pairs)];
  s.bestSummary = summarizeScenario(raw, best);
}
writeFileSync(file, JSON.stringify(report, null, 1));
writeFileSync(process.argv[3] ?? file.replace(/bench\.json$/, 'bench-throughput.svg'), renderSvg(report));
console.log(renderText(report));
