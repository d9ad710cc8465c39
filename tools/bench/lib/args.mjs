// Options of `pnpm bench`: command-line flags first, then BENCH_* environment knobs, then defaults.
// Pure (no I/O) so that the bench's test can prove every branch.

export const KIB = 1024;
export const MIB = 1024 * 1024;
export const DEFAULT_SIZES = [64 * KIB, 256 * KIB, MIB, 4 * MIB];
export const KNOWN_SCENARIOS = ['xhci', 'ehci'];
/** Every path the guest knows how to measure (see guest/bench.mjs). */
export const KNOWN_PATHS = [
  'native-d1',
  'native-d2',
  'native-d4',
  'native-d8',
  'native-1urb',
  'native-pinned',
  'native-unstaged',
  'node-usb',
  'sg',
  'sg-aligned',
  'sg-node',
  'sg-d2',
  'kernel',
  'c-sg',
  'c-loop',
  'tur-ab',
  'daemon',
  'multi',
  'kernel-uas',
  'kernel-random',
  'native-random',
  'uas',
  'uas-batch',
  'native-batch',
  'sg-batch',
];
export const DEFAULT_PATHS = KNOWN_PATHS;
/** Queue depths of the 4 KiB random-read paths. */
export const RANDOM_DEPTHS = [1, 4, 16];

export class BenchArgumentError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BenchArgumentError';
    this.code = 'E_BAD_INPUT';
  }
}

const USAGE = `usage: pnpm bench [-- --tiny] [--size-mib N] [--tur-count N] [--reps N] [--scenarios xhci,ehci]
                  [--paths p1,p2] [--sizes-kib 64,256,1024,4096] [--no-memory] [--memory-gib N] [--cpu-prof]
                  [--no-startup] [--random-count N]
env: BENCH_SIZE_MIB, BENCH_TUR_COUNT, BENCH_REPS, BENCH_SCENARIOS, BENCH_PATHS, BENCH_SIZES_KIB, BENCH_RANDOM_COUNT,
     BENCH_TINY=1, BENCH_MEMORY_GIB, BENCH_CPU_PROF=1, BENCH_CHUNK_KIB (native URB size; engine default if unset)
paths: ${KNOWN_PATHS.join(', ')} (default: all)
random paths (kernel-uas, kernel-random, native-random, uas, uas-batch, native-batch, sg-batch):
  N random 4 KiB READs at queue depth ${RANDOM_DEPTHS.join(', ')}`;

export function usage() {
  return USAGE;
}

function positiveInt(name, raw, max) {
  const text = String(raw).trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new BenchArgumentError(`${name} must be a whole number from 1 to ${max}; got "${raw}"`);
  }
  return Number(text);
}

function list(name, raw, known) {
  const items = String(raw)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new BenchArgumentError(`${name} is empty; choose from ${known.join(', ')}`);
  const bad = items.filter((s) => !known.includes(s));
  if (bad.length) throw new BenchArgumentError(`unknown ${name} ${bad.join(', ')}; choose from ${known.join(', ')}`);
  return [...new Set(items)];
}

function sizesKib(raw) {
  const sizes = String(raw)
    .split(',')
    .map((s) => positiveInt('a transfer size (KiB)', s, 32 * 1024) * KIB);
  if (sizes.some((s) => s % (4 * KIB) !== 0))
    throw new BenchArgumentError('transfer sizes must be multiples of 4 KiB (whole blocks of 512 and 4096 bytes)');
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * Parses argv (after `node run.mjs`) and env into the bench's configuration.
 * Throws BenchArgumentError (code E_BAD_INPUT) with what to write instead.
 */
export function parseBenchArgs(argv, env = {}) {
  const flags = {};
  const args = [...argv];
  while (args.length) {
    const a = args.shift();
    if (a === '--') continue;
    if (a === '-h' || a === '--help') {
      flags.help = true;
      continue;
    }
    if (a === '--tiny' || a === '--cpu-prof' || a === '--no-memory' || a === '--no-startup') {
      flags[a.slice(2)] = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (
      !m ||
      !['size-mib', 'tur-count', 'reps', 'scenarios', 'paths', 'sizes-kib', 'memory-gib', 'random-count'].includes(m[1])
    ) {
      throw new BenchArgumentError(`unknown argument "${a}"\n${USAGE}`);
    }
    const value = m[2] ?? args.shift();
    if (value === undefined) throw new BenchArgumentError(`--${m[1]} needs a value\n${USAGE}`);
    flags[m[1]] = value;
  }
  const pick = (flag, envName) =>
    flags[flag] ?? (env[envName] !== undefined && env[envName] !== '' ? env[envName] : undefined);
  const tiny = flags.tiny === true || env.BENCH_TINY === '1';

  const sizeRaw = pick('size-mib', 'BENCH_SIZE_MIB');
  const turRaw = pick('tur-count', 'BENCH_TUR_COUNT');
  const repsRaw = pick('reps', 'BENCH_REPS');
  const scenariosRaw = pick('scenarios', 'BENCH_SCENARIOS');
  const pathsRaw = pick('paths', 'BENCH_PATHS');
  const sizesRaw = pick('sizes-kib', 'BENCH_SIZES_KIB');
  const memRaw = pick('memory-gib', 'BENCH_MEMORY_GIB');
  const randomRaw = pick('random-count', 'BENCH_RANDOM_COUNT');
  const chunkRaw = env.BENCH_CHUNK_KIB !== undefined && env.BENCH_CHUNK_KIB !== '' ? env.BENCH_CHUNK_KIB : undefined;

  const config = {
    help: flags.help === true,
    tiny,
    sizeMiB: sizeRaw !== undefined ? positiveInt('BENCH_SIZE_MIB', sizeRaw, 4096) : tiny ? 4 : 64,
    turCount: turRaw !== undefined ? positiveInt('BENCH_TUR_COUNT', turRaw, 1_000_000) : tiny ? 50 : 2000,
    reps: repsRaw !== undefined ? positiveInt('BENCH_REPS', repsRaw, 99) : tiny ? 1 : 3,
    scenarios:
      scenariosRaw !== undefined
        ? list('scenario', scenariosRaw, KNOWN_SCENARIOS)
        : tiny
          ? ['xhci']
          : [...KNOWN_SCENARIOS],
    paths: pathsRaw !== undefined ? list('path', pathsRaw, KNOWN_PATHS) : [...DEFAULT_PATHS],
    sizes: sizesRaw !== undefined ? sizesKib(sizesRaw) : [...DEFAULT_SIZES],
    memoryGiB: flags['no-memory']
      ? 0
      : memRaw !== undefined
        ? positiveInt('BENCH_MEMORY_GIB', memRaw, 64)
        : tiny
          ? 0.0625
          : 1,
    cpuProf: flags['cpu-prof'] === true || env.BENCH_CPU_PROF === '1',
    // CLI start-up (tools/bench/startup.mjs), on the host after the boots: runs per command.
    startupRuns: flags['no-startup'] ? 0 : tiny ? 5 : 21,
    randomCount: randomRaw !== undefined ? positiveInt('BENCH_RANDOM_COUNT', randomRaw, 1_000_000) : tiny ? 64 : 1024,
    chunkKiB: chunkRaw !== undefined ? positiveInt('BENCH_CHUNK_KIB', chunkRaw, 64 * 1024) : undefined,
  };
  const total = config.sizeMiB * MIB;
  const tooBig = config.sizes.filter((s) => total % s !== 0);
  if (tooBig.length) {
    throw new BenchArgumentError(
      `BENCH_SIZE_MIB (${config.sizeMiB}) must be a whole multiple of every transfer size; ` +
        `${tooBig.map((s) => (s % MIB === 0 ? `${s / MIB} MiB` : `${s / KIB} KiB`)).join(', ')} does not divide it`,
    );
  }
  return config;
}
