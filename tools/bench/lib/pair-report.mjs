// The `daemon` and `multi` paths' arithmetic (guest/pairs.mjs measures them): each compares two
// ways of moving the same bytes in one boot, so what is reported is a ratio of throughputs, taken
// on the medians over repetitions. Pure functions on plain objects, like report.mjs.

const MIB = 1024 * 1024;

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
const rate = (bytes, seconds) => (seconds > 0 ? bytes / MIB / seconds : null);
const div = (a, b) => (a != null && b != null && b > 0 ? a / b : null);
/** MiB/s of several disks moving `bytes` each at once: all the bytes over the slowest one's time. */
const together = (bytes, runs) => (runs?.length ? rate(bytes * runs.length, Math.max(...runs)) : null);

/**
 * Medians over repetitions: { daemon: { read|write: { inProcess, throughDaemon, ratio }, files?: { read|write:
 * the same, for readToFd / writeFromFd with the file handed over } }, multi: {...} } or null.
 */
export function summarizePairs(raw) {
  const of = (key) =>
    raw.reps.map((r) => Object.values(r.results ?? {}).find((p) => p?.pairs?.[key])?.pairs[key]).filter(Boolean);
  const out = {};
  const daemon = of('daemon');
  if (daemon.length) {
    out.daemon = {};
    for (const op of ['read', 'write']) {
      const inProcess = median(daemon.map((d) => rate(d.bytes, d.inProcess[op])));
      const throughDaemon = median(daemon.map((d) => rate(d.bytes, d.throughDaemon[op])));
      out.daemon[op] = { inProcess, throughDaemon, ratio: div(throughDaemon, inProcess) };
    }
    // files: readToFd / writeFromFd, the file handed over; allocated: readInto / write of
    // ScsiDevice.allocateBuffer memory (through the daemon, memory shared with it).
    for (const key of ['files', 'allocated']) {
      const runs = daemon.filter((d) => d[key]?.inProcess && d[key]?.throughDaemon).map((d) => d[key]);
      if (!runs.length) continue;
      out.daemon[key] = {};
      for (const op of ['read', 'write']) {
        const inProcess = median(runs.map((d) => rate(daemon[0].bytes, d.inProcess[op])));
        const throughDaemon = median(runs.map((d) => rate(daemon[0].bytes, d.throughDaemon[op])));
        out.daemon[key][op] = { inProcess, throughDaemon, ratio: div(throughDaemon, inProcess) };
      }
    }
    // requests: p50 ms of one small request of each kind (guest/pairs.mjs requestCosts).
    const costed = daemon.filter((d) => d.requests?.inProcess && d.requests?.throughDaemon);
    if (costed.length) {
      out.daemon.requests = {};
      for (const kind of ['tur', 'read4k', 'read1mAllocated'])
        out.daemon.requests[kind] = {
          inProcess: median(costed.map((d) => d.requests.inProcess[kind])),
          throughDaemon: median(costed.map((d) => d.requests.throughDaemon[kind])),
        };
    }
    const floors = daemon.filter((d) => d.socket);
    if (floors.length)
      out.daemon.socket = Object.fromEntries(
        ['events', 'direct', 'copy'].map((way) => [way, median(floors.map((d) => rate(d.bytes, d.socket[way])))]),
      );
  }
  const multi = of('multi');
  if (multi.length) {
    out.multi = {};
    for (const op of ['read', 'write']) {
      const scaling = (key) => {
        const one = median(multi.map((m) => rate(m.bytes, m[key].one[op])));
        const two = median(
          multi.map((m) =>
            together(
              m.bytes,
              m[key].two.map((r) => r[op]),
            ),
          ),
        );
        return { one, two, ratio: div(two, one) };
      };
      const kernel = scaling('kernel');
      const oneProcess = scaling('oneProcess');
      const twoProcesses = scaling('twoProcesses');
      out.multi[op] = {
        kernel,
        oneProcess: { ...oneProcess, vsKernel: div(oneProcess.ratio, kernel.ratio) },
        twoProcesses: { ...twoProcesses, vsKernel: div(twoProcesses.ratio, kernel.ratio) },
      };
    }
  }
  return Object.keys(out).length ? out : null;
}

function verdict(id, text, cells) {
  const metCount = cells.filter((c) => c.met).length;
  return {
    id,
    text,
    cells,
    status: cells.length === 0 ? 'unmeasured' : metCount === cells.length ? 'met' : metCount ? 'partly met' : 'missed',
    metCount,
  };
}

/** The pair targets, in judgeTargets' shape (cells per op; size is the bytes per disk). */
export function judgePairs(pairs) {
  const cells = (get, min) =>
    ['read', 'write']
      .map((op) => ({ op, size: 64 * MIB, ratio: get(op) }))
      .filter((c) => c.ratio != null)
      .map((c) => ({ ...c, met: c.ratio >= min }));
  return [
    verdict(
      'daemon>=0.8',
      'through usbscsid >= 0.8x the same 64 MiB in process (readInto / write of memory)',
      cells((op) => pairs?.daemon?.[op].ratio ?? null, 0.8),
    ),
    verdict(
      'daemon-files>=0.8',
      'through usbscsid, the file handed over, >= 0.8x the same 64 MiB readToFd / writeFromFd in process',
      cells((op) => pairs?.daemon?.files?.[op].ratio ?? null, 0.8),
    ),
    verdict(
      'daemon-allocated>=0.8',
      'through usbscsid, allocateBuffer memory (shared with the daemon), >= 0.8x the same 64 MiB readInto / write ' +
        'of allocateBuffer memory in process',
      cells((op) => pairs?.daemon?.allocated?.[op].ratio ?? null, 0.8),
    ),
    verdict(
      'multi1p>=0.9k',
      "two disks / one, one process >= 0.9x the kernel's two / one",
      cells((op) => pairs?.multi?.[op].oneProcess.vsKernel ?? null, 0.9),
    ),
    verdict(
      'multi2p>=0.9k',
      "two disks / one, two processes >= 0.9x the kernel's two / one",
      cells((op) => pairs?.multi?.[op].twoProcesses.vsKernel ?? null, 0.9),
    ),
  ];
}

const f = (v) => (v == null ? '—' : v.toFixed(1));
const x = (v) => (v == null ? '—' : `${v.toFixed(2)}x`);

export function pairsText(pairs) {
  const parts = [];
  if (pairs.daemon) {
    parts.push('-- through usbscsid (Unix socket) vs in process, 64 MiB, MiB/s --');
    for (const op of ['read', 'write']) {
      const d = pairs.daemon[op];
      parts.push(
        `  ${op.padEnd(5)}  in process ${f(d.inProcess)}  through the daemon ${f(d.throughDaemon)}  (${x(d.ratio)})`,
      );
    }
    for (const op of ['read', 'write']) {
      const d = pairs.daemon.files?.[op];
      if (d)
        parts.push(
          `  ${op.padEnd(5)}  file handed over: in process ${f(d.inProcess)}  through the daemon ` +
            `${f(d.throughDaemon)}  (${x(d.ratio)})`,
        );
    }
    for (const op of ['read', 'write']) {
      const d = pairs.daemon.allocated?.[op];
      if (d)
        parts.push(
          `  ${op.padEnd(5)}  allocateBuffer memory: in process ${f(d.inProcess)}  through the daemon ` +
            `${f(d.throughDaemon)}  (${x(d.ratio)})`,
        );
    }
    const r = pairs.daemon.requests;
    if (r) {
      const ms = (v) => (v == null ? '—' : v.toFixed(2));
      const row = (label, c) => `${label} ${ms(c.throughDaemon)} (in process ${ms(c.inProcess)})`;
      parts.push(
        `  one request, p50 ms through the daemon: ${row('TUR', r.tur)}, ${row('4 KiB read', r.read4k)}, ` +
          `${row('1 MiB read of allocateBuffer memory (file handed over)', r.read1mAllocated)}`,
      );
    }
    const s = pairs.daemon.socket;
    if (s)
      parts.push(
        `  the socket alone (no device, no HTTP): 'data' events + copy ${f(s.events)}, ` +
          `read in place ${f(s.direct)}  (${x(div(s.direct, pairs.daemon.read.inProcess))} the read in process); ` +
          `one copy in user space ${f(s.copy)}`,
      );
  }
  if (pairs.multi) {
    parts.push('-- two disks at once vs one, 64 MiB each, MiB/s: one -> two together (two / one) --');
    for (const op of ['read', 'write']) {
      const m = pairs.multi[op];
      const row = (label, s, vs) =>
        `  ${op.padEnd(5)}  ${label.padEnd(15)} ${f(s.one)} -> ${f(s.two)} (${x(s.ratio)})` +
        (vs ? `  ${x(s.vsKernel)} the kernel's` : '');
      parts.push(
        row('kernel O_DIRECT', m.kernel, false),
        row('one process', m.oneProcess, true),
        row('two processes', m.twoProcesses, true),
      );
    }
  }
  return parts.join('\n');
}
