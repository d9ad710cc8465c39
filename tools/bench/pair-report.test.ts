// The daemon and multi paths' arithmetic on fixed numbers: medians over repetitions, scaling
// ratios against the kernel's, the target verdicts and the text.
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM JavaScript without declarations (run by node in the guest too)
import { judgePairs, pairsText, summarizePairs } from './lib/pair-report.mjs';

const MIB = 1024 * 1024;
const BYTES = 64 * MIB;

/** One repetition: seconds for 64 MiB (so 64 / s MiB/s). */
function rep(daemonRead: number, kernelTwo: [number, number], oursTwo: [number, number]) {
  const pair = (read: number) => ({ read, write: read * 2 });
  const two = (t: [number, number]) => t.map(pair);
  return {
    results: {
      daemon: {
        pairs: {
          daemon: {
            bytes: BYTES,
            inProcess: pair(1),
            throughDaemon: pair(daemonRead),
            files: { inProcess: pair(1), throughDaemon: pair(1.05) },
            allocated: { inProcess: pair(1), throughDaemon: pair(1.6) },
            requests: {
              inProcess: { tur: 0.2, read4k: 0.5, read1mAllocated: 0.5 },
              throughDaemon: { tur: daemonRead * 10, read4k: 12, read1mAllocated: 20 },
            },
          },
        },
      },
      multi: {
        pairs: {
          multi: {
            bytes: BYTES,
            kernel: { one: pair(1), two: two(kernelTwo) },
            oneProcess: { one: pair(1), two: two(oursTwo) },
            twoProcesses: { one: pair(1), two: two([oursTwo[0] * 2, oursTwo[1] * 2]) },
          },
        },
      },
      kernel: { error: 'not this test' },
    },
  };
}

describe('pair report', () => {
  const raw = { reps: [rep(1.25, [1, 1], [1, 1.25]), rep(2, [1, 1], [1, 1.25]), rep(1.25, [1, 1], [1, 1.25])] };

  it('medians: daemon vs in process, and each way of scaling to two disks against the kernel', () => {
    const s = summarizePairs(raw);
    expect(s.daemon.read.inProcess).toBeCloseTo(64);
    expect(s.daemon.read.throughDaemon).toBeCloseTo(64 / 1.25);
    expect(s.daemon.read.ratio).toBeCloseTo(0.8);
    expect(s.daemon.write.ratio).toBeCloseTo(0.8);
    expect(s.daemon.files.read.ratio).toBeCloseTo(1 / 1.05);
    expect(s.daemon.files.write.throughDaemon).toBeCloseTo(64 / 2.1);
    expect(s.daemon.allocated.read.ratio).toBeCloseTo(1 / 1.6);
    // One small request of each kind: the median p50 over repetitions.
    expect(s.daemon.requests.tur).toEqual({ inProcess: 0.2, throughDaemon: 12.5 });
    expect(s.daemon.requests.read1mAllocated).toEqual({ inProcess: 0.5, throughDaemon: 20 });
    // Two disks together: all the bytes over the slower one's time.
    expect(s.multi.read.kernel).toMatchObject({ one: 64, two: 128, ratio: 2 });
    expect(s.multi.read.oneProcess.two).toBeCloseTo(128 / 1.25);
    expect(s.multi.read.oneProcess.vsKernel).toBeCloseTo(0.8);
    expect(s.multi.read.twoProcesses.vsKernel).toBeCloseTo(0.4);
    expect(summarizePairs({ reps: [{ results: { kernel: {} } }] })).toBeNull();
  });

  it('verdicts: 0.8 meets the daemon target, scaling below 0.9 misses; nothing measured is unmeasured', () => {
    const byId = Object.fromEntries(
      judgePairs(summarizePairs(raw)).map((v: { id: string; status: string }) => [v.id, v.status]),
    );
    expect(byId).toEqual({
      'daemon>=0.8': 'met',
      'daemon-files>=0.8': 'met',
      'daemon-allocated>=0.8': 'missed',
      'multi1p>=0.9k': 'missed',
      'multi2p>=0.9k': 'missed',
    });
    expect(judgePairs(null).every((v: { status: string }) => v.status === 'unmeasured')).toBe(true);
  });

  it('the text names both comparisons with MiB/s and ratios', () => {
    const text = pairsText(summarizePairs(raw));
    expect(text).toContain('in process 64.0  through the daemon 51.2  (0.80x)');
    expect(text).toContain('file handed over: in process 64.0  through the daemon 61.0  (0.95x)');
    expect(text).toContain('allocateBuffer memory: in process 64.0  through the daemon 40.0  (0.63x)');
    expect(text).toContain(
      'one request, p50 ms through the daemon: TUR 12.50 (in process 0.20), 4 KiB read 12.00 (in process 0.50), ' +
        '1 MiB read of allocateBuffer memory (file handed over) 20.00 (in process 0.50)',
    );
    expect(text).toContain('kernel O_DIRECT 64.0 -> 128.0 (2.00x)');
    expect(text).toContain("one process     64.0 -> 102.4 (1.60x)  0.80x the kernel's");
  });

  it('the socket floor: medians of both ways of reading, against the read in process', () => {
    const withFloor = {
      reps: raw.reps.map((r, i) => {
        const d = r.results.daemon.pairs.daemon;
        return {
          results: { daemon: { pairs: { daemon: { ...d, socket: { events: 2 + i, direct: 0.5, copy: 0.25 } } } } },
        };
      }),
    };
    const s = summarizePairs(withFloor);
    expect(s.daemon.socket).toEqual({ events: 64 / 3, direct: 128, copy: 256 });
    expect(pairsText(s)).toContain(
      "'data' events + copy 21.3, read in place 128.0  (2.00x the read in process); one copy in user space 256.0",
    );
  });
});
