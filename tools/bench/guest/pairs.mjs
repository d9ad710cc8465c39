// The bench paths that compare two ways of moving the same bytes in one boot (started from
// bench.mjs), each a 64 MiB read then a 64 MiB write of one range, native BOT with default tuning:
//  - `daemon`: through usbscsid on a Unix socket (core's RemoteTransport) against the same calls
//    in process (item "through the daemon");
//  - `multi`: BENCH1 alone, then BENCH1 and BENCH2 at the same time, from one process (two
//    ScsiDevices) and from two processes, against two O_DIRECT C readers/writers (the kernel),
//    which says how far QEMU itself scales to two disks (item "several devices at once").
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sgOfDisk, sleep } from '../../vm/guest/util.mjs';
import { SERIALS, diskOfSerial, selectorOf, waitForBenchDisks } from './disks.mjs';
import { socketFloor } from './socket-floor.mjs';
import { percentile } from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const PAIR_BYTES = 64 * 1024 * 1024;
const BLOCK = 512;
/** Reads cover [0, 64 MiB), writes [64 MiB, 128 MiB) of each disk. */
export const PAIR_WRITE_LBA = PAIR_BYTES / BLOCK;
const MIB = 1024 * 1024;

const since = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Seconds for one readInto and one write of `buffer` (ScsiDevice splits each into its commands). */
export async function readThenWrite(dev, buffer, writeLba) {
  let t0 = process.hrtime.bigint();
  await dev.readInto(0, buffer);
  const read = since(t0);
  t0 = process.hrtime.bigint();
  await dev.write(writeLba, buffer, { allowMediumWrite: true });
  return { read, write: since(t0) };
}

/**
 * readThenWrite with `dev.allocateBuffer` memory (its pages touched first, as the other pairs'
 * buffer's are): { seconds: { read, write }, pinned }.
 */
export async function readThenWriteAllocated(dev) {
  const memory = dev.allocateBuffer(PAIR_BYTES);
  try {
    memory.bytes.fill(0x5a);
    await dev.readInto(0, memory.bytes.subarray(0, MIB)); // the first call's setup, untimed
    return { seconds: await readThenWrite(dev, memory.bytes, PAIR_WRITE_LBA), pinned: memory.pinned };
  } finally {
    memory.release();
  }
}

/**
 * Seconds for one readToFd into a file and one writeFromFd from it (through usbscsid the file is
 * handed to the daemon, which moves the bytes itself). The file is in the guest's RAM (/tmp).
 */
export async function readThenWriteFile(dev, file, writeLba) {
  const blocks = PAIR_BYTES / BLOCK;
  let fd = openSync(file, 'r+');
  let t0;
  let read;
  try {
    t0 = process.hrtime.bigint();
    await dev.readToFd(0, blocks, fd, { position: 0 });
    read = since(t0);
  } finally {
    closeSync(fd);
  }
  fd = openSync(file, 'r');
  try {
    t0 = process.hrtime.bigint();
    await dev.writeFromFd(writeLba, blocks, fd, { position: 0, allowMediumWrite: true });
    return { read, write: since(t0) };
  } finally {
    closeSync(fd);
  }
}

async function warm(dev) {
  await dev.readCapacity();
  await dev.readInto(0, new Uint8Array(MIB));
}

/** The file pair's calls once, 1 MiB each way, so that neither side is timed on code it runs for the first time. */
async function warmFile(dev) {
  await warm(dev);
  let fd = openSync(FILE, 'r+');
  try {
    await dev.readToFd(0, MIB / BLOCK, fd, { position: 0 });
  } finally {
    closeSync(fd);
  }
  fd = openSync(FILE, 'r');
  try {
    await dev.writeFromFd(PAIR_WRITE_LBA, MIB / BLOCK, fd, { position: 0, allowMediumWrite: true });
  } finally {
    closeSync(fd);
  }
}

/** Requests per kind in requestCosts: as many untimed first. */
const REQUEST_COUNT = 60;

/**
 * A request's fixed cost: p50 milliseconds of a TEST UNIT READY, a 4 KiB readInto of ordinary
 * memory and a 1 MiB readInto of allocateBuffer memory, one after another (through usbscsid: the
 * TUR on a kept-alive connection, the 4 KiB streamed, the 1 MiB with the file handed over). What a
 * 64 MiB pair pays once per request beside its transfer.
 */
export async function requestCosts(dev) {
  const memory = dev.allocateBuffer(MIB);
  const ordinary = new Uint8Array(4096);
  const kinds = {
    tur: () => dev.testUnitReady(),
    read4k: () => dev.readInto(0, ordinary),
    read1mAllocated: () => dev.readInto(0, memory.bytes),
  };
  const out = {};
  try {
    for (const [kind, call] of Object.entries(kinds)) {
      for (let i = 0; i < REQUEST_COUNT; i++) await call();
      const ms = [];
      for (let i = 0; i < REQUEST_COUNT; i++) {
        const t0 = process.hrtime.bigint();
        await call();
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      out[kind] = percentile(ms, 50);
    }
  } finally {
    memory.release();
  }
  return out;
}

async function openNative(ctx, serial) {
  return ctx.open.openDevice({ selector: selectorOf(serial), backend: ctx.native, transport: 'bot' });
}

async function startDaemon(scenario) {
  const socket = '/tmp/usbscsid-bench.sock';
  rmSync(socket, { force: true });
  // With --cpu-prof the daemon is profiled too, beside the bench's own profile.
  const profile = existsSync('/out/cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=/out/prof-${scenario}`] : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      'apps/daemon/dist/main.js',
      '--socket',
      socket,
      '--backend',
      'native',
      '--transport',
      'bot',
      '--journal',
      '/tmp/usbscsid-bench-journal.json',
      '--idle-close-ms',
      '600000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d) => (output = (output + d).slice(-2000)));
  child.stderr.on('data', (d) => (output = (output + d).slice(-2000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // A loaded TCG guest takes many seconds to start node and load the daemon's modules.
  const t0 = Date.now();
  while (!existsSync(socket) && child.exitCode === null && Date.now() - t0 < 120_000) await sleep(100);
  if (!existsSync(socket)) {
    child.kill('SIGKILL');
    throw new Error(
      `usbscsid did not start within ${((Date.now() - t0) / 1000).toFixed(0)} s ` +
        `(exit ${child.exitCode}): ${output.trim().slice(-600)}`,
    );
  }
  return {
    via: `unix:${socket}`,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The file of the `daemon` path's file pair (guest RAM). */
const FILE = '/tmp/usbscsi-bench-pair.bin';

/**
 * `daemon`: the same 64 MiB read and write in process, then through usbscsid: once into and from
 * memory (the bytes cross the socket), once into and from a file (the file is handed over).
 */
export async function measureDaemon(ctx) {
  const buffer = new Uint8Array(PAIR_BYTES).fill(0x5a);
  writeFileSync(FILE, buffer);
  const local = await openNative(ctx, SERIALS[0]);
  let inProcess;
  let inProcessFile;
  let inProcessAllocated;
  let requestsInProcess;
  try {
    await warmFile(local);
    // One untimed pass first: the first read of the image comes from the host's disk and the first
    // write allocates the sparse image's blocks, which made whichever side ran first up to ten
    // times slower; both sides are then timed on the same settled ranges.
    await readThenWrite(local, buffer, PAIR_WRITE_LBA);
    inProcess = await readThenWrite(local, buffer, PAIR_WRITE_LBA);
    inProcessFile = await readThenWriteFile(local, FILE, PAIR_WRITE_LBA);
    inProcessAllocated = await readThenWriteAllocated(local);
    requestsInProcess = await requestCosts(local);
  } finally {
    await local.close();
  }
  await waitForBenchDisks(ctx.disks);
  const daemon = await startDaemon(ctx.scenario);
  let throughDaemon;
  let throughDaemonFile;
  let throughDaemonAllocated;
  let requestsThroughDaemon;
  try {
    const remote = await ctx.core.openRemoteDevice({ via: daemon.via, selector: selectorOf(SERIALS[0]) });
    try {
      await warmFile(remote);
      // One untimed pass, as in process: either side's first 64 MiB call sets up memory it then
      // reuses (in process the engine's pinned buffers, through the daemon the staging area).
      await readThenWrite(remote, buffer, PAIR_WRITE_LBA);
      throughDaemon = await readThenWrite(remote, buffer, PAIR_WRITE_LBA);
      throughDaemonFile = await readThenWriteFile(remote, FILE, PAIR_WRITE_LBA);
      throughDaemonAllocated = await readThenWriteAllocated(remote);
      requestsThroughDaemon = await requestCosts(remote);
    } finally {
      await remote.close();
    }
  } finally {
    await daemon.stop();
    rmSync(FILE, { force: true });
    await waitForBenchDisks(ctx.disks);
  }
  // What the socket alone costs here, no device and no HTTP: the floor under the daemon's numbers.
  const socket = await socketFloor(PAIR_BYTES);
  return {
    read: {},
    write: {},
    tur: {},
    pairs: {
      daemon: {
        bytes: PAIR_BYTES,
        inProcess,
        throughDaemon,
        files: { inProcess: inProcessFile, throughDaemon: throughDaemonFile },
        allocated: { inProcess: inProcessAllocated.seconds, throughDaemon: throughDaemonAllocated.seconds },
        requests: { inProcess: requestsInProcess, throughDaemon: requestsThroughDaemon },
        socket,
      },
    },
    notes: [
      'daemon: usbscsid (native BOT) on a Unix socket, ScsiDevice over RemoteTransport, vs in process: ' +
        'readInto/write of memory, then readToFd/writeFromFd of a file in /tmp (handed to usbscsid), then ' +
        'readInto/write of ScsiDevice.allocateBuffer memory (in process: ' +
        `${inProcessAllocated.pinned ? 'usbfs-mapped' : 'ordinary, usbfs_memory_mb cannot map it'}; ` +
        `through usbscsid: ${throughDaemonAllocated.pinned ? 'shared with the daemon' : 'ordinary'})`,
    ],
  };
}

/** The kernel: direct-io (O_DIRECT, 1 MiB) on each disk, all at once; seconds per disk. */
async function kernelRun(disks) {
  const run = (disk) =>
    promisify(execFile)(
      '/out/bin/direct-io',
      ['suite', `/dev/${disk}`, `/dev/${sgOfDisk(disk)}`, String(PAIR_BYTES), String(MIB), String(PAIR_BYTES), '0'],
      { encoding: 'utf8' },
    ).then(({ stdout }) => {
      const j = JSON.parse(stdout);
      return { read: j.read[MIB], write: j.write[MIB] };
    });
  return Promise.all(disks.map(run));
}

/** Two processes, each opening its disk first and starting on the same "go". */
async function twoProcesses() {
  const workers = SERIALS.map((serial) => {
    const child = spawn(
      process.execPath,
      [join(here, 'multi-worker.mjs'), selectorOf(serial), String(PAIR_BYTES), String(PAIR_WRITE_LBA)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (what) => {
      const r = await lines.next();
      if (r.done) throw new Error(`multi-worker ${serial} ended before ${what}: ${stderr.trim().slice(-400)}`);
      return r.value;
    };
    return { child, next };
  });
  try {
    for (const w of workers) if ((await w.next('ready')) !== 'ready') throw new Error('multi-worker: no ready');
    for (const w of workers) w.child.stdin.write('go\n');
    return await Promise.all(workers.map(async (w) => JSON.parse(await w.next('its result'))));
  } finally {
    for (const w of workers) w.child.stdin.end();
    await Promise.all(
      workers.map((w) => new Promise((r) => (w.child.exitCode !== null ? r() : w.child.once('exit', r)))),
    );
  }
}

/** `multi`: one disk, then two at once, for the kernel, one process and two processes. */
export async function measureMulti(ctx) {
  const disks = SERIALS.map(diskOfSerial);
  if (disks.some((d) => d === null)) throw new Error(`multi needs both ${SERIALS.join(' and ')} held by the kernel`);
  const kernel = { one: (await kernelRun([disks[0]]))[0], two: await kernelRun(disks) };
  const devices = [];
  let oneProcess;
  try {
    for (const serial of SERIALS) devices.push(await openNative(ctx, serial));
    const buffers = devices.map(() => new Uint8Array(PAIR_BYTES).fill(0x5a));
    for (const d of devices) await warm(d);
    const one = await readThenWrite(devices[0], buffers[0], PAIR_WRITE_LBA);
    const two = await Promise.all(devices.map((d, i) => readThenWrite(d, buffers[i], PAIR_WRITE_LBA)));
    oneProcess = { one, two };
  } finally {
    for (const d of devices) await d.close();
    await waitForBenchDisks(2);
  }
  let two;
  try {
    two = await twoProcesses();
  } finally {
    await waitForBenchDisks(2);
  }
  return {
    read: {},
    write: {},
    tur: {},
    pairs: { multi: { bytes: PAIR_BYTES, kernel, oneProcess, twoProcesses: { one: oneProcess.one, two } } },
    notes: ['multi: two usb-storage disks on one controller, 64 MiB each, 1 MiB commands'],
  };
}
