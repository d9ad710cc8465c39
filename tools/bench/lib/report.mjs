// The bench's arithmetic and its outputs (summary, ratios, targets, text table, SVG chart).
// Pure functions on plain objects: the guest's raw samples go in, strings come out.

import { MIB } from './args.mjs';
import { pairsText } from './pair-report.mjs';

export const PATH_LABELS = {
  'native-d1': 'native BOT, depth 1',
  'native-d2': 'native BOT, depth 2',
  'native-d4': 'native BOT, depth 4 (default)',
  'native-d8': 'native BOT, depth 8',
  'native-1urb': 'native BOT, 1 URB per transfer',
  'native-pinned': 'native BOT, depth 4, pinned buffer',
  'native-unstaged': 'native BOT, depth 4, ordinary memory moved in place (no staging)',
  'node-usb': 'node-usb BOT',
  sg: 'SG_IO pass-through',
  'sg-aligned': 'SG_IO, aligned buffer',
  'sg-node': 'SG_IO, READ/WRITE on the sg node',
  'sg-d2': 'SG_IO, two commands in flight per job',
  kernel: 'kernel block device, O_DIRECT',
  'c-loop': 'C libusb sync loop',
  'c-sg': 'SG_IO ioctl loop from C (sd node, aligned)',
  daemon: 'through usbscsid vs in process (64 MiB)',
  multi: 'two disks at once vs one (64 MiB each)',
  'kernel-uas': 'kernel uas driver (usb-uas disk), O_DIRECT',
  'kernel-random': 'kernel usb-storage (BOT), O_DIRECT',
  'native-random': 'native BOT (ScsiDevice, serialised)',
  uas: 'native UAS (UasTransport)',
  'uas-batch': 'native UAS, ScsiDevice.readBatch',
  'native-batch': 'native BOT, ScsiDevice.readBatch',
  'sg-batch': 'SG_IO, ScsiDevice.readBatch',
};
/** Paths that measure only the queued 4 KiB random reads (no sequential sizes, no TUR). */
export const RANDOM_ONLY = new Set(['kernel-random', 'native-random', 'uas-batch', 'native-batch', 'sg-batch']);
/** TEST UNIT READY only, the C loop's rounds and ours alternated (summarizeTurAb); no sequential sizes. */
export const TUR_AB = 'tur-ab';
/** Paths with no sequential READ/WRITE and no TUR of their own: left out of those tables. */
const NOT_SEQUENTIAL = new Set([...RANDOM_ONLY, TUR_AB]);
/** The native configuration the targets are judged on: what a user gets without tuning. */
export const NATIVE_DEFAULT = 'native-d4';
/** The same with the data in ScsiDevice.allocateBuffer memory (zero copy in usbfs): the fast path. */
export const NATIVE_PINNED = 'native-pinned';

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; null when empty. */
export function percentile(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const rank = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[rank];
}

/** Least-squares slope of y over x; null with fewer than two distinct x. */
export function slope(xs, ys) {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return null;
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

/** Highest finite value (the best of N: on a shared, loaded machine noise only ever adds time). */
export function best(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
}

export function lowest(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
}

export const mibPerSecond = (bytes, seconds) => (seconds > 0 ? bytes / MIB / seconds : null);
export const ratio = (a, b) => (a != null && b != null && b > 0 ? a / b : null);

/**
 * Medians over repetitions for one scenario's raw run:
 * raw = { totalBytes, sizes, paths,
 *         reps: [{ results: { path: { read: {size: s}, write: {size: s}, tur: {p50Us, p99Us}, error? } } }] }
 * -> { path: { read: {size: MiB/s}, write: {...}, tur: {p50Us, p99Us}, errors: [] } }
 */
export function summarizeScenario(raw, pick = median) {
  const out = {};
  for (const path of raw.paths) {
    const per = raw.reps.map((r) => r.results?.[path]).filter(Boolean);
    const entry = { read: {}, write: {}, tur: { p50Us: null, p99Us: null }, errors: [], notes: [] };
    for (const op of ['read', 'write']) {
      for (const size of raw.sizes) {
        const samples = per
          .map((p) => p[op]?.[size])
          .filter((s) => typeof s === 'number')
          .map((s) => mibPerSecond(raw.totalBytes, s));
        entry[op][size] = pick(samples);
      }
    }
    // Latency: lower is better, so "best" is the minimum.
    const pickLatency = pick === best ? lowest : pick;
    entry.tur.p50Us = pickLatency(per.map((p) => p.tur?.p50Us));
    entry.tur.p99Us = pickLatency(per.map((p) => p.tur?.p99Us));
    const size0 = raw.sizes[0];
    const viaTransport = per
      .map((p) => p.writeViaTransport?.[size0])
      .filter((x) => typeof x === 'number')
      .map((x) => mibPerSecond(raw.totalBytes, x));
    if (viaTransport.length) entry.writeViaTransport = { [size0]: pick(viaTransport) };
    const rawP50 = pickLatency(per.map((p) => p.turRaw?.p50Us));
    if (rawP50 != null) entry.turRaw = { p50Us: rawP50, p99Us: pickLatency(per.map((p) => p.turRaw?.p99Us)) };
    const depths = [...new Set(per.flatMap((p) => Object.keys(p.random ?? {})))].map(Number);
    if (depths.length) {
      entry.random = {};
      for (const d of depths.sort((a, b) => a - b)) {
        const iops = per
          .map((p) => p.random?.[d])
          .filter((x) => x && x.seconds > 0)
          .map((x) => x.count / x.seconds);
        entry.random[d] = pick(iops);
      }
    }
    for (const p of per) {
      if (p.error) entry.errors.push(p.error);
      for (const n of p.notes ?? []) if (!entry.notes.includes(n)) entry.notes.push(n);
    }
    out[path] = entry;
  }
  return out;
}

/**
 * The interleaved TUR path (tur-ab) over every rep, per transport (bot: the C libusb loop against
 * native BOT; sg: the SG_IO ioctl from C against usbscsi's SG_IO): each round is the p50 of the
 * same number of TURs from each side, one right after the other, so the ratio of a round is
 * taken under one state of the machine. The median of those ratios, and the lowest and highest.
 * Null when the path did not run.
 */
export function summarizeTurAb(raw) {
  const out = {};
  for (const kind of ['bot', 'sg']) {
    const rounds = raw.reps
      .flatMap((r) => r.results?.[TUR_AB]?.turAb?.[kind]?.rounds ?? [])
      .filter((x) => x.cUs > 0 && x.oursUs > 0);
    if (!rounds.length) continue;
    const ratios = rounds.map((x) => x.oursUs / x.cUs);
    out[kind] = {
      rounds: rounds.length,
      ratio: median(ratios),
      lowest: lowest(ratios),
      highest: best(ratios),
      cUs: median(rounds.map((x) => x.cUs)),
      oursUs: median(rounds.map((x) => x.oursUs)),
    };
    // SG_IO: the sg driver's write/poll/read from C, the interface usbscsi uses for small commands.
    const async = rounds.filter((x) => x.cAsyncUs > 0);
    if (async.length) out[kind].asyncRatio = median(async.map((x) => x.oursUs / x.cAsyncUs));
    // BOT: the engine's botExchange alone (no BotTransport, no ScsiDevice), right after ours.
    const exchange = rounds.filter((x) => x.rawUs > 0);
    if (exchange.length) out[kind].rawRatio = median(exchange.map((x) => x.rawUs / x.cUs));
  }
  return Object.keys(out).length ? out : null;
}

const TARGETS = [
  {
    id: 'native>=kernel',
    text: `native BOT (${NATIVE_DEFAULT}) >= 1.0x kernel O_DIRECT`,
    path: NATIVE_DEFAULT,
    base: 'kernel',
    min: 1.0,
  },
  {
    id: 'native>=0.95c',
    text: `native BOT (${NATIVE_DEFAULT}) >= 0.95x C loop`,
    path: NATIVE_DEFAULT,
    base: 'c-loop',
    min: 0.95,
  },
  {
    id: 'pinned>=kernel',
    text: `native BOT (${NATIVE_PINNED}) >= 1.0x kernel O_DIRECT`,
    path: NATIVE_PINNED,
    base: 'kernel',
    min: 1.0,
  },
  {
    id: 'pinned>=0.95c',
    text: `native BOT (${NATIVE_PINNED}) >= 0.95x C loop`,
    path: NATIVE_PINNED,
    base: 'c-loop',
    min: 0.95,
  },
  {
    id: 'nodeusb>=0.7native',
    text: `node-usb >= 0.7x native (${NATIVE_DEFAULT})`,
    path: 'node-usb',
    base: NATIVE_DEFAULT,
    min: 0.7,
  },
  {
    id: 'sg>=0.9kernel',
    text: 'SG_IO (sg, what `auto` picks on Linux) >= 0.9x kernel O_DIRECT from 256 KiB, >= 0.7x below',
    path: 'sg',
    base: 'kernel',
    min: 0.9,
    minBelow256KiB: 0.7,
  },
];

/** Issue 18's targets: queued random reads at depth 16 and the largest sequential read. */
const UAS_TARGETS = [
  {
    id: 'uas-qd16>=kernel-uas',
    text: "UAS 4 KiB random reads at QD16 >= 1.0x the kernel's uas driver",
    op: 'random QD16',
    size: () => 4096,
    value: (s) => s.uas?.random?.[16],
    base: (s) => s['kernel-uas']?.random?.[16],
    min: 1.0,
  },
  {
    id: 'uas-qd16>=2bot',
    text: 'UAS 4 KiB random reads at QD16 >= 2x our BOT',
    op: 'random QD16',
    size: () => 4096,
    value: (s) => s.uas?.random?.[16],
    base: (s) => s['native-random']?.random?.[16],
    min: 2.0,
  },
  {
    id: 'uas-batch-qd16>=kernel-uas',
    text: "UAS 4 KiB random reads at QD16 through readBatch >= 1.0x the kernel's uas driver",
    op: 'random QD16',
    size: () => 4096,
    value: (s) => s['uas-batch']?.random?.[16],
    base: (s) => s['kernel-uas']?.random?.[16],
    min: 1.0,
  },
  {
    id: 'uas-batch-qd16>=2bot-batch',
    text: 'UAS 4 KiB random reads at QD16 through readBatch >= 2x our BOT through readBatch',
    op: 'random QD16',
    size: () => 4096,
    value: (s) => s['uas-batch']?.random?.[16],
    base: (s) => s['native-batch']?.random?.[16],
    min: 2.0,
  },
  {
    id: 'uas-seq>=kernel-uas',
    text: "UAS largest sequential READ >= 1.0x the kernel's uas driver",
    op: 'read',
    size: (sizes) => Math.max(...sizes),
    value: (s, sizes) => s.uas?.read?.[Math.max(...sizes)],
    base: (s, sizes) => s['kernel-uas']?.read?.[Math.max(...sizes)],
    min: 1.0,
  },
];

/**
 * Judges the targets on one scenario's summary. Throughput targets are judged per op and size;
 * TUR on p50. A target whose paths were not measured is `unmeasured`, never `met`.
 */
export function judgeTargets(summary, sizes, turAb = null) {
  const verdicts = [];
  for (const t of TARGETS) {
    const cells = [];
    for (const op of ['read', 'write']) {
      for (const size of sizes) {
        const r = ratio(summary[t.path]?.[op]?.[size], summary[t.base]?.[op]?.[size]);
        const min = size < 256 * 1024 ? (t.minBelow256KiB ?? t.min) : t.min;
        if (r != null) cells.push({ op, size, ratio: r, met: r >= min });
      }
    }
    verdicts.push({
      id: t.id,
      text: t.text,
      cells,
      status:
        cells.length === 0
          ? 'unmeasured'
          : cells.every((c) => c.met)
            ? 'met'
            : cells.some((c) => c.met)
              ? 'partly met'
              : 'missed',
      metCount: cells.filter((c) => c.met).length,
    });
  }
  for (const t of UAS_TARGETS) {
    const r = ratio(t.value(summary, sizes), t.base(summary, sizes));
    verdicts.push({
      id: t.id,
      text: t.text,
      cells: r == null ? [] : [{ op: t.op, size: t.size(sizes), ratio: r, met: r >= t.min }],
      status: r == null ? 'unmeasured' : r >= t.min ? 'met' : 'missed',
      metCount: r != null && r >= t.min ? 1 : 0,
    });
  }
  // Interleaved rounds (tur-ab) when they ran: p50s of separate paths are taken minutes apart.
  const rounds = (kind) => (turAb?.[kind] ? ` (median of ${turAb[kind].rounds} interleaved rounds)` : '');
  const turRatio = turAb?.bot?.ratio ?? ratio(summary[NATIVE_DEFAULT]?.tur?.p50Us, summary['c-loop']?.tur?.p50Us);
  verdicts.push({
    id: 'tur<=1.2c',
    text: `TUR p50 latency, native BOT <= 1.2x C loop${rounds('bot')}`,
    cells: turRatio == null ? [] : [{ op: 'tur', size: 0, ratio: turRatio, met: turRatio <= 1.2 }],
    status: turRatio == null ? 'unmeasured' : turRatio <= 1.2 ? 'met' : 'missed',
    metCount: turRatio != null && turRatio <= 1.2 ? 1 : 0,
  });
  // The kernel path's TUR is the same SG_IO ioctl issued from C.
  const sgTur = turAb?.sg?.ratio ?? ratio(summary.sg?.tur?.p50Us, summary.kernel?.tur?.p50Us);
  verdicts.push({
    id: 'sgtur<=1.5c',
    text: `TUR p50 latency, SG_IO (sg) <= 1.5x the SG_IO ioctl from C${rounds('sg')}`,
    cells: sgTur == null ? [] : [{ op: 'tur', size: 0, ratio: sgTur, met: sgTur <= 1.5 }],
    status: sgTur == null ? 'unmeasured' : sgTur <= 1.5 ? 'met' : 'missed',
    metCount: sgTur != null && sgTur <= 1.5 ? 1 : 0,
  });
  return verdicts;
}

export function formatSize(bytes) {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / 1024} KiB`;
}

const fmt = (v, digits = 1) => (v == null ? '—' : v.toFixed(digits));
const fmtRatio = (v) => (v == null ? '—' : `${v.toFixed(2)}x`);

function pad(cells, widths) {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

function grid(header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
  return [pad(header, widths), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => pad(r, widths))].join(
    '\n',
  );
}

/** Throughput table of one op: each cell "MiB/s (x kernel / x C)". */
export function throughputTable(summary, paths, sizes, op) {
  const header = ['path', ...sizes.map((s) => `${formatSize(s)} MiB/s (xK / xC)`)];
  const rows = paths.map((p) => [
    PATH_LABELS[p] ?? p,
    ...sizes.map((s) => {
      const v = summary[p]?.[op]?.[s];
      if (v == null) return '—';
      const xK = fmtRatio(ratio(v, summary.kernel?.[op]?.[s]));
      const xC = fmtRatio(ratio(v, summary['c-loop']?.[op]?.[s]));
      return `${fmt(v)} (${xK} / ${xC})`;
    }),
  ]);
  return grid(header, rows);
}

export function turTable(summary, paths) {
  const header = ['path', 'TUR p50 us', 'TUR p99 us', 'p50 x C loop', 'raw botExchange p50 us'];
  const rows = paths.map((p) => {
    const t = summary[p]?.tur ?? {};
    return [
      p === 'kernel' ? 'kernel: SG_IO ioctl from C' : (PATH_LABELS[p] ?? p),
      fmt(t.p50Us),
      fmt(t.p99Us),
      fmtRatio(ratio(t.p50Us, summary['c-loop']?.tur?.p50Us)),
      fmt(summary[p]?.turRaw?.p50Us),
    ];
  });
  return grid(header, rows);
}

/** The interleaved TUR rounds (summarizeTurAb), one row per transport; null when they did not run. */
export function turAbTable(turAb) {
  if (!turAb) return null;
  const labels = { bot: 'native BOT vs C libusb loop', sg: 'SG_IO vs SG_IO ioctl from C' };
  const rows = Object.entries(turAb).map(([kind, t]) => [
    labels[kind] ?? kind,
    String(t.rounds),
    fmt(t.cUs),
    fmt(t.oursUs),
    fmtRatio(t.ratio),
    `${fmtRatio(t.lowest)} – ${fmtRatio(t.highest)}`,
    fmtRatio(t.asyncRatio),
    fmtRatio(t.rawRatio),
  ]);
  return grid(
    [
      'pair',
      'rounds',
      'C p50 us',
      'ours p50 us',
      'ours / C (median)',
      'range',
      'ours / C write-poll-read',
      'botExchange / C',
    ],
    rows,
  );
}

/** Queued 4 KiB random reads: IOPS per depth, with the ratio to the kernel's uas driver and to our BOT. */
export function randomTable(summary, paths) {
  const measured = paths.filter((p) => summary[p]?.random);
  if (!measured.length) return null;
  const depths = [...new Set(measured.flatMap((p) => Object.keys(summary[p].random)))]
    .map(Number)
    .sort((a, b) => a - b);
  const header = ['path', ...depths.map((d) => `QD${d} IOPS (x kernel uas / x our BOT)`)];
  const rows = measured.map((p) => [
    PATH_LABELS[p] ?? p,
    ...depths.map((d) => {
      const v = summary[p].random[d];
      if (v == null) return '—';
      const xK = fmtRatio(ratio(v, summary['kernel-uas']?.random?.[d]));
      const xB = fmtRatio(ratio(v, summary['native-random']?.random?.[d]));
      return `${fmt(v, 0)} (${xK} / ${xB})`;
    }),
  ]);
  return grid(header, rows);
}

export function targetsText(verdicts) {
  return verdicts
    .map((v) => {
      const worst = v.cells.length
        ? v.cells.reduce((a, b) => (v.id === 'tur<=1.2c' ? (b.ratio > a.ratio ? b : a) : b.ratio < a.ratio ? b : a))
        : null;
      const detail =
        v.cells.length === 0
          ? ''
          : ` (${v.metCount}/${v.cells.length} cells; worst ${fmtRatio(worst.ratio)}` +
            `${worst.op !== 'tur' ? ` at ${worst.op} ${formatSize(worst.size)}` : ''})`;
      return `  [${v.status.toUpperCase()}] ${v.text}${detail}`;
    })
    .join('\n');
}

/** The whole stdout report for all scenarios (+ the host memory run when given). */
export function renderText(report) {
  const parts = [];
  for (const s of report.scenarios) {
    parts.push(
      `== ${s.scenario}: ${formatSize(s.totalBytes)} per point, median of ${s.reps} reps, TUR x${s.turCount} ==`,
    );
    if (s.error) parts.push(`  ERROR: ${s.error}`);
    const seqPaths = s.paths.filter((p) => !NOT_SEQUENTIAL.has(p));
    for (const op of ['read', 'write'])
      parts.push(`-- sequential ${op.toUpperCase()} --\n${throughputTable(s.summary, seqPaths, s.sizes, op)}`);
    parts.push(`-- TEST UNIT READY latency --\n${turTable(s.summary, seqPaths)}`);
    const turAb = turAbTable(s.turAb);
    if (turAb) parts.push(`-- TEST UNIT READY, interleaved rounds (C and ours alternated, ABBA) --\n${turAb}`);
    const random = randomTable(s.summary, s.paths);
    if (random) parts.push(`-- 4 KiB random READ, queued (IOPS) --\n${random}`);
    const z = s.sizes[0];
    const split = s.paths.filter((p) => s.summary[p]?.writeViaTransport?.[z] != null);
    if (split.length) {
      parts.push(
        `-- WRITE ${formatSize(z)}: through ScsiDevice.write vs straight through the transport (MiB/s) --\n${grid(
          ['path', 'ScsiDevice.write', 'transport.execute'],
          split.map((p) => [PATH_LABELS[p] ?? p, fmt(s.summary[p].write[z]), fmt(s.summary[p].writeViaTransport[z])]),
        )}`,
      );
    }
    if (s.pairs) parts.push(pairsText(s.pairs));
    parts.push(`-- targets (on medians) --\n${targetsText(s.targets)}`);
    if (s.bestSummary) {
      for (const op of ['read', 'write'])
        parts.push(
          `-- best of ${s.reps}: sequential ${op.toUpperCase()} --\n` +
            throughputTable(s.bestSummary, seqPaths, s.sizes, op),
        );
      parts.push(`-- best of ${s.reps}: TEST UNIT READY latency --\n${turTable(s.bestSummary, seqPaths)}`);
      const bestRandom = randomTable(s.bestSummary, s.paths);
      if (bestRandom) parts.push(`-- best of ${s.reps}: 4 KiB random READ, queued (IOPS) --\n${bestRandom}`);
      parts.push(`-- targets (on best of ${s.reps}) --\n${targetsText(judgeTargets(s.bestSummary, s.sizes))}`);
    }
    const problems = s.paths.flatMap((p) => (s.summary[p]?.errors ?? []).map((e) => `  ${p}: ${e}`));
    if (problems.length) parts.push(`-- errors --\n${problems.join('\n')}`);
  }
  if (report.memory) parts.push(memoryText(report.memory));
  return parts.join('\n\n');
}

export function memoryText(m) {
  if (m.error) return `== host memory (emulator) ==\n  ERROR: ${m.error}`;
  const mb = (b) => (b / MIB).toFixed(1);
  return [
    `== host memory: ${formatSize(m.totalBytes)} streamed (${m.method}) from the emulator, ` +
      `${formatSize(m.chunkBytes)} commands ==`,
    `  RSS      start ${mb(m.rss.start)} MiB, peak ${mb(m.rss.peak)} MiB, end ${mb(m.rss.end)} MiB, ` +
      `slope ${fmt(m.rss.slopeMiBPerGiB, 2)} MiB/GiB (second half)`,
    `  JS heap  start ${mb(m.heap.start)} MiB, peak ${mb(m.heap.peak)} MiB, end ${mb(m.heap.end)} MiB, ` +
      `slope ${fmt(m.heap.slopeMiBPerGiB, 2)} MiB/GiB (second half)`,
    `  ${m.flat ? 'flat' : 'NOT FLAT'} (limits, after a GC per sample: ` +
      `|heap slope| <= ${m.flatLimits?.heapSlopeMiBPerGiB} MiB/GiB; ` +
      `RSS end <= start + ${m.flatLimits?.rssGrowthMiB} MiB, ` +
      `peak <= start + ${m.flatLimits?.rssPeakAboveStartMiB} MiB); ` +
      `${fmt(m.mibPerSecond)} MiB/s (for the record, not a target)`,
  ].join('\n');
}

const PALETTE = {
  'native-d1': '#9ecae1',
  'native-d2': '#6baed6',
  'native-d4': '#2171b5',
  'native-d8': '#08306b',
  'native-1urb': '#17becf',
  'native-pinned': '#9467bd',
  'native-unstaged': '#6baed6',
  'node-usb': '#ff7f0e',
  sg: '#2ca02c',
  'sg-aligned': '#98df8a',
  'sg-node': '#bcbd22',
  'sg-d2': '#31a354',
  kernel: '#d62728',
  'c-loop': '#7f7f7f',
  'c-sg': '#bdbdbd',
  'kernel-uas': '#e377c2',
  uas: '#8c564b',
};
const DASHED = new Set(['kernel', 'c-loop', 'c-sg', 'kernel-uas']);

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** "Nice" axis maximum and tick step for a positive maximum value. */
export function niceAxis(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

/**
 * Hand-written SVG: one panel per scenario and op (throughput in MiB/s against transfer size on
 * a log2 axis), one line per path, a shared legend.
 */
export function renderSvg(report) {
  const panels = report.scenarios.flatMap((s) => ['read', 'write'].map((op) => ({ s, op })));
  const pw = 460;
  const ph = 300;
  const m = { l: 62, r: 28, t: 34, b: 46 };
  const cols = 2;
  const rows = Math.max(1, Math.ceil(panels.length / cols));
  const paths = [...new Set(report.scenarios.flatMap((s) => s.paths))].filter((p) => !NOT_SEQUENTIAL.has(p));
  const legendH = 24 + Math.ceil(paths.length / 3) * 20;
  const W = cols * pw;
  const H = rows * ph + legendH + 30;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
  );
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">` +
      `${esc(report.title ?? 'usbscsi throughput against transfer size')}</text>`,
  );
  panels.forEach(({ s, op }, i) => {
    const ox = (i % cols) * pw;
    const oy = 30 + Math.floor(i / cols) * ph;
    const x0 = ox + m.l;
    const x1 = ox + pw - m.r;
    const y0 = oy + ph - m.b;
    const y1 = oy + m.t;
    const sizes = s.sizes;
    const lx = (size) =>
      sizes.length === 1
        ? (x0 + x1) / 2
        : x0 + ((Math.log2(size) - Math.log2(sizes[0])) / (Math.log2(sizes.at(-1)) - Math.log2(sizes[0]))) * (x1 - x0);
    const values = s.paths.flatMap((p) => sizes.map((z) => s.summary[p]?.[op]?.[z])).filter((v) => v != null);
    const { top, step } = niceAxis(Math.max(0, ...values));
    const ly = (v) => y0 - (v / top) * (y0 - y1);
    out.push(
      `<text x="${(x0 + x1) / 2}" y="${oy + 20}" text-anchor="middle" font-size="13" font-weight="bold">` +
        `${esc(`${s.scenario}: sequential ${op.toUpperCase()}`)}</text>`,
    );
    for (let v = 0; v <= top + step / 2; v += step) {
      const y = ly(v).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e0e0e0"/>`);
      out.push(`<text x="${x0 - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" fill="#444">${+v.toFixed(6)}</text>`);
    }
    for (const z of sizes) {
      const x = lx(z).toFixed(1);
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 4}" stroke="#444"/>`);
      out.push(`<text x="${x}" y="${y0 + 17}" text-anchor="middle" fill="#444">${esc(formatSize(z))}</text>`);
    }
    out.push(
      `<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#444"/>` +
        `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#444"/>`,
    );
    out.push(
      `<text x="${(x0 + x1) / 2}" y="${y0 + 34}" text-anchor="middle" fill="#444">transfer size per command</text>`,
    );
    out.push(
      `<text transform="translate(${ox + 16} ${(y0 + y1) / 2}) rotate(-90)" ` +
        'text-anchor="middle" fill="#444">MiB/s</text>',
    );
    for (const p of s.paths) {
      const pts = sizes.map((z) => [z, s.summary[p]?.[op]?.[z]]).filter(([, v]) => v != null);
      if (pts.length === 0) continue;
      const color = PALETTE[p] ?? '#000000';
      const dash = DASHED.has(p) ? ' stroke-dasharray="6 4"' : '';
      if (pts.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} ` +
            `points="${pts.map(([z, v]) => `${lx(z).toFixed(1)},${ly(v).toFixed(1)}`).join(' ')}"/>`,
        );
      }
      for (const [z, v] of pts)
        out.push(
          `<circle cx="${lx(z).toFixed(1)}" cy="${ly(v).toFixed(1)}" r="3" fill="${color}">` +
            `<title>${esc(`${PATH_LABELS[p] ?? p}: ${v.toFixed(1)} MiB/s at ${formatSize(z)}`)}</title></circle>`,
        );
    }
  });
  const ly0 = 30 + rows * ph + 10;
  out.push(`<text x="16" y="${ly0 + 4}" font-weight="bold">paths (dashed: baselines)</text>`);
  paths.forEach((p, i) => {
    const x = 16 + (i % 3) * (W / 3);
    const y = ly0 + 22 + Math.floor(i / 3) * 20;
    const dash = DASHED.has(p) ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 28}" y2="${y - 4}" ` +
        `stroke="${PALETTE[p] ?? '#000'}" stroke-width="3"${dash}/>`,
    );
    out.push(`<text x="${x + 36}" y="${y}">${esc(PATH_LABELS[p] ?? p)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
