// Host half of `pnpm bench`: RSS and JS heap across a long streamed read from the emulator
// (core's ScsiDevice.readToFd → /dev/null over BotTransport on an EmulatorBackend), from the BUILT
// packages. Prints one JSON object. The verdict is "flat or not" (no per-chunk garbage kept);
// the speed is recorded, never asserted.
//   node tools/bench/memory.mjs GIB [CHUNK_KIB]
import { closeSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { slope } from './lib/report.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MIB = 1024 * 1024;
const FLAT_LIMIT_MIB_PER_GIB = 2;
// RSS moves in allocator-sized steps (the emulator allocates a fresh buffer per command), so it
// is judged on its bounds, not on a slope: no net growth, and a bounded working set.
const RSS_GROWTH_LIMIT_MIB = 16;
const RSS_PEAK_LIMIT_MIB = 64;

export async function streamedReadMemory({ gib, chunkBytes = MIB, samples = 64 }) {
  const { openDevice } = await import(`${repo}/packages/core/dist/open.js`);
  const { createSimulatedBackend } = await import(`${repo}/packages/emulator/dist/index.js`);
  const totalBytes = Math.round(gib * 1024 * MIB);
  const blocks = totalBytes / 512;
  // RamBlockStore is sparse: unwritten LBAs read as zeros without being stored.
  const backend = createSimulatedBackend({ luns: [{ blockSize: 512, blockCount: blocks }] });
  const dev = await openDevice({
    backend,
    transport: 'bot',
    tuning: { maxTransferBytes: chunkBytes },
    quirks: { maxTransferBytes: chunkBytes },
  });
  const fd = openSync('/dev/null', 'w');
  const points = [];
  // With --expose-gc each sample follows a full collection, so it shows what is RETAINED (the
  // sawtooth of collectable garbage would otherwise hide or fake a slope).
  const gc = globalThis.gc;
  const sample = (done) => {
    gc?.();
    const m = process.memoryUsage();
    points.push({ bytes: done, rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers });
  };
  try {
    await dev.testUnitReady();
    await dev.readCapacity();
    sample(0);
    const step = Math.max(1, Math.floor(totalBytes / samples / chunkBytes)) * chunkBytes;
    let next = step;
    const t0 = process.hrtime.bigint();
    await dev.readToFd(0, blocks, fd, {
      onProgress: (done) => {
        if (done >= next) {
          sample(done);
          next += step;
        }
      },
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sample(totalBytes);
    // The slope is taken on the second half: the first half includes JIT warm-up and the heap
    // growing to its working size, which is not per-chunk garbage.
    const half = points.filter((p) => p.bytes >= totalBytes / 2);
    const perGiB = (key) => {
      const s = slope(
        half.map((p) => p.bytes / (1024 * MIB)),
        half.map((p) => p[key] / MIB),
      );
      return s == null ? null : s;
    };
    const stat = (key) => ({
      start: points[0][key],
      peak: Math.max(...points.map((p) => p[key])),
      end: points.at(-1)[key],
      slopeMiBPerGiB: perGiB(key),
    });
    const rss = stat('rss');
    const heap = stat('heap');
    // A tiny run (< 256 MiB) has too few points in its second half for a meaningful slope.
    const within = (s, limit) => s.slopeMiBPerGiB != null && Math.abs(s.slopeMiBPerGiB) <= limit;
    const flat =
      within(heap, FLAT_LIMIT_MIB_PER_GIB) &&
      rss.end - rss.start <= RSS_GROWTH_LIMIT_MIB * MIB &&
      rss.peak - rss.start <= RSS_PEAK_LIMIT_MIB * MIB;
    return {
      method: 'ScsiDevice.readToFd to /dev/null, EmulatorBackend in process',
      totalBytes,
      chunkBytes,
      seconds,
      mibPerSecond: totalBytes / MIB / seconds,
      rss,
      heap,
      external: stat('external'),
      flat,
      flatLimits: {
        heapSlopeMiBPerGiB: FLAT_LIMIT_MIB_PER_GIB,
        rssGrowthMiB: RSS_GROWTH_LIMIT_MIB,
        rssPeakAboveStartMiB: RSS_PEAK_LIMIT_MIB,
      },
      gcBeforeSamples: typeof gc === 'function',
      points: points.map((p) => ({
        mib: +(p.bytes / MIB).toFixed(1),
        rssMiB: +(p.rss / MIB).toFixed(2),
        heapMiB: +(p.heap / MIB).toFixed(2),
      })),
    };
  } finally {
    closeSync(fd);
    await dev.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const gib = Number(process.argv[2] ?? 1);
  const chunk = Number(process.argv[3] ?? 1024) * 1024;
  streamedReadMemory({ gib, chunkBytes: chunk })
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((err) => {
      process.stdout.write(
        `${JSON.stringify({ error: `${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}` })}\n`,
      );
      process.exitCode = 1;
    });
}
