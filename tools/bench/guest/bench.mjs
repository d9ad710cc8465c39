// The in-guest bench (started by bench.sh): every path measured in this one boot, on QEMU's one
// disk, interleaved (the order rotates and reverses from one repetition to the next); the raw
// seconds of every repetition go to the results file and the host takes the medians. Nothing is
// cached: each point is a fresh sequential pass over the disk.
//   node tools/bench/guest/bench.mjs SCENARIO CONFIG_JSON RESULTS_JSON
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadBackends } from '../../vm/guest/backends.mjs';
import { sdDisks as allSdDisks, sgOfDisk, usbInterfaceOfDisk, waitForUasDisk } from '../../vm/guest/util.mjs';
import { percentile } from '../lib/report.mjs';
import { SERIALS, diskOfSerial, selectorOf, waitForBenchDisks } from './disks.mjs';
import { measureDaemon, measureMulti } from './pairs.mjs';
import { randomViaBatch } from './batch.mjs';

const { TransferStatus } = await import(`${process.cwd()}/packages/core/dist/usb/backend.js`);

const [scenario, configPath, resultsPath] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
// BENCH1 by serial: with the `multi` path QEMU has a second disk of the same VID:PID (BENCH2).
const SELECTOR = selectorOf(SERIALS[0]);
/** QEMU's usb-uas disk beside it (UAS only). */
const UAS_SELECTOR = '46f4:0003';
const RANDOM_DEPTHS = [1, 4, 16];
const RANDOM_IO = 4096;
const BLOCK = 512;
const total = cfg.sizeMiB * 1024 * 1024;
const writeOffset = total; // reads cover [0, total), writes [total, 2 total): the image holds both
const maxSize = Math.max(...cfg.sizes);
const log = (msg) => console.log(`BENCH ${scenario} ${msg}`);
/** The sd disks, BENCH1's first: every single-disk path measures it. */
const sdDisks = () => {
  const first = diskOfSerial(SERIALS[0]);
  return first ? [first, ...allSdDisks().filter((d) => d !== first)] : allSdDisks();
};
const waitForKernelDisk = () => waitForBenchDisks(cfg.disks ?? 1);
const readSys = (p) => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};

function environment() {
  const disk = sdDisks()[0];
  const speeds = readdirSync('/sys/bus/usb/devices')
    .filter((d) => readSys(`/sys/bus/usb/devices/${d}/idVendor`) === '46f4')
    .map((d) => readSys(`/sys/bus/usb/devices/${d}/speed`));
  return {
    kernel: readSys('/proc/sys/kernel/osrelease'),
    node: process.version,
    cpus: readSys('/proc/cpuinfo')?.match(/^processor/gm)?.length ?? null,
    usbfsMemoryMb: Number(readSys('/sys/module/usbcore/parameters/usbfs_memory_mb')),
    deviceSpeedMbps: speeds[0] ? Number(speeds[0]) : null,
    maxSectorsKb: Number(readSys(`/sys/block/${disk}/queue/max_sectors_kb`)),
    maxHwSectorsKb: Number(readSys(`/sys/block/${disk}/queue/max_hw_sectors_kb`)),
  };
}

async function timeLoop(fn, count) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function readyDevice(dev) {
  for (let i = 0; i < 3; i++) {
    try {
      await dev.testUnitReady();
      return;
    } catch (err) {
      if (err?.details?.senseKey !== 6) throw err;
    }
  }
  await dev.testUnitReady();
}

/**
 * Sequential READ and WRITE in commands of each size, then TUR latency, through core's ScsiDevice. Like the
 * C loop, one buffer of the largest size serves every size, its pages touched before any timing
 * (a fresh 4 MiB buffer faults 1,024 pages on its first command: a quarter of a 16 MiB point), and
 * one untimed command per size warms the JIT. `pinned`: the buffer is ScsiDevice.allocateBuffer's.
 */
async function measureDevice(dev, notes, { pinned = false } = {}) {
  await readyDevice(dev);
  const cap = await dev.readCapacity();
  if (cap.blockSize !== BLOCK) throw new Error(`expected ${BLOCK}-byte blocks, the disk has ${cap.blockSize}`);
  const out = { read: {}, write: {}, tur: {} };
  const memory = pinned ? dev.allocateBuffer(maxSize) : { bytes: new Uint8Array(maxSize), pinned: false, release() {} };
  if (pinned && !memory.pinned)
    throw new Error('ScsiDevice.allocateBuffer gave ordinary memory: no pinned buffer on this backend');
  if (pinned) notes.push('data in ScsiDevice.allocateBuffer memory (moved in place)');
  try {
    const buffer = memory.bytes;
    buffer.fill(0xa5);
    // Each call moves a window of the largest size in commands of `size` bytes (commandBytes), as
    // a long readInto or write does; where the transport runs jobs, no JavaScript runs between them.
    const window = buffer.subarray(0, Math.min(maxSize, total));
    const perWindow = window.length / BLOCK;
    const calls = total / window.length;
    for (const size of cfg.sizes) {
      await dev.readInto(0, buffer.subarray(0, size));
      const before = jobSnapshot(dev);
      out.read[size] = await timeLoop((i) => dev.readInto(i * perWindow, window, { commandBytes: size }), calls);
      jobSplit(dev, before, `read ${size >> 10} KiB`, out.read[size], notes);
    }
    window.fill(0x5a);
    for (const size of cfg.sizes) {
      const base = writeOffset / BLOCK;
      await dev.write(base, buffer.subarray(0, size), { allowMediumWrite: true });
      const before = jobSnapshot(dev);
      out.write[size] = await timeLoop(
        (i) => dev.write(base + i * perWindow, window, { allowMediumWrite: true, commandBytes: size }),
        calls,
      );
      jobSplit(dev, before, `write ${size >> 10} KiB`, out.write[size], notes);
    }
  } finally {
    memory.release();
  }
  // As many untimed TURs first, as each size above gets an untimed command: every path runs in this
  // one process, and without them the first path measured paid for compiling the code the later
  // ones reused (sg's p50 was 342 us through ScsiDevice, then 143 us through transport.execute
  // straight after; sg-aligned's, measured next, 228 us).
  out.tur = await turLatency(dev, cfg.turCount);
  const raw = await rawExchangeTur(dev);
  if (raw) out.turRaw = raw;
  if (dev.transport?.kind === 'sg') notes.push(await sgTurSplit(dev));
  out.writeViaTransport = await writeViaTransport(dev);
  out.notes = notes;
  return out;
}

/** SG_IO jobs' own profile (PassThroughTransport.jobProfile), to split a point's time. */
function jobSnapshot(dev) {
  return dev.transport?.jobProfile ? { ...dev.transport.jobProfile } : null;
}

/** Where one point's seconds went: inside the native jobs (SG_IO, copies) and outside them (JS, checks). */
function jobSplit(dev, before, what, seconds, notes) {
  if (!before) return;
  const now = dev.transport.jobProfile;
  const ms = (k) => ((now[k] - before[k]) / 1e6).toFixed(1);
  const text =
    `${what}: ${(seconds * 1e3).toFixed(1)} ms in all, ${ms('wallNs')} ms in ${now.jobs - before.jobs} jobs ` +
    `(${now.commands - before.commands} commands, ${now.bouncedCommands - before.bouncedCommands} copied): ` +
    `${ms('ioctlNs')} ms inside SG_IO, ${ms('copyNs')} ms copying`;
  log(`${dev.transport.path}: ${text}`);
  notes.push(text);
}

/**
 * WRITE(10) at the smallest size straight through the transport (no ScsiDevice: no consent and
 * mount checks per command), seconds for the same total: splits ScsiDevice's per-command cost off.
 */
async function writeViaTransport(dev) {
  const size = Math.min(...cfg.sizes);
  const per = size / BLOCK;
  const base = writeOffset / BLOCK;
  const data = new Uint8Array(size).fill(0x3c);
  const seconds = await timeLoop(async (i) => {
    const lba = base + i * per;
    const cdb = Uint8Array.of(
      0x2a,
      0,
      lba >>> 24,
      (lba >>> 16) & 0xff,
      (lba >>> 8) & 0xff,
      lba & 0xff,
      0,
      per >>> 8,
      per & 0xff,
      0,
    );
    const r = await dev.transport.execute({ cdb, direction: 'out', data, lun: 0, timeoutMs: 20_000 });
    if (r.status !== 0 || r.transferred !== size)
      throw new Error(`WRITE(10) via the transport: status ${r.status}, ${r.transferred} of ${size} bytes`);
  }, total / size);
  return { [size]: seconds };
}

/** p50 and p99 of `count` ScsiDevice TURs, after as many untimed (see measureDevice). */
async function turLatency(dev, count) {
  for (let i = 0; i < count; i++) await dev.testUnitReady();
  const lat = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await dev.testUnitReady();
    lat[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  const samples = Array.from(lat);
  return { p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) };
}

/** Rounds of the tur-ab path: how many, and TURs per side per round (as many untimed first). */
const TUR_AB_ROUNDS = 8;
const turAbCount = () => Math.max(50, Math.ceil(cfg.turCount / 4));

/**
 * TUR latency of the C baseline and of ours in alternated rounds (ABBA: C first in rounds 0 and 3 of
 * every four), so that each round's ratio is taken under one state of the machine; the separate
 * c-loop, kernel and native paths run minutes apart, and the C loop's own p50 has moved 3x between
 * reps. SG_IO: sg-loop's ioctl on the sg node against openDevice's SG_IO transport, both open at
 * once. BOT: usb-storage is unbound for all rounds, so neither side detaches or re-attaches it;
 * bot-loop and a native openDevice take the interface in turn.
 */
async function measureTurInterleaved() {
  const count = turAbCount();
  // c() gives the C p50 (cUs), and for SG_IO also the sg driver's write/poll/read p50 (cAsyncUs);
  // ours() gives ours (oursUs), and for BOT also the engine's botExchange alone (rawUs).
  const rounds = async (c, ours) => {
    const out = [];
    for (let r = 0; r < TUR_AB_ROUNDS; r++) {
      const cFirst = r % 4 === 0 || r % 4 === 3;
      const first = cFirst ? await c() : await ours();
      const second = cFirst ? await ours() : await c();
      out.push({ ...first, ...second });
    }
    return { count, rounds: out };
  };
  const cJson = (bin, args) =>
    JSON.parse(execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  const result = {};
  const disk = sdDisks()[0];
  const sgNode = `/dev/${sgOfDisk(disk)}`;
  const sgDev = await open.openDevice({ selector: sgNode, transport: 'sg' });
  try {
    await readyDevice(sgDev);
    result.sg = await rounds(
      () => {
        const j = cJson('/out/bin/sg-loop', ['tur', sgNode, String(count)]);
        return { cUs: j.tur.p50_us, cAsyncUs: j.turAsync.p50_us };
      },
      async () => ({ oursUs: (await turLatency(sgDev, count)).p50Us }),
    );
  } finally {
    await sgDev.close();
  }
  const b = backends.find((x) => x.name === 'native');
  if (!b?.backend) throw new Error(`the native backend did not load: ${b?.reason ?? 'unknown'}`);
  const intf = usbInterfaceOfDisk(disk);
  if (!intf) throw new Error(`no USB interface found for ${disk}`);
  writeFileSync('/sys/bus/usb/drivers/usb-storage/unbind', intf);
  try {
    result.bot = await rounds(
      () => ({ cUs: cJson('/out/bin/bot-loop', [SELECTOR, 'tur', String(count)]).p50_us }),
      async () => {
        const dev = await open.openDevice({ selector: SELECTOR, backend: b.backend, transport: 'bot' });
        try {
          await readyDevice(dev);
          const oursUs = (await turLatency(dev, count)).p50Us;
          // Not part of the round's ratio: the engine's own exchange, right after, for the split.
          return { oursUs, rawUs: (await rawExchangeTur(dev, count))?.p50Us };
        } finally {
          await dev.close();
        }
      },
    );
  } finally {
    if (!existsSync(`/sys/bus/usb/drivers/usb-storage/${intf}`))
      writeFileSync('/sys/bus/usb/drivers/usb-storage/bind', intf);
    await waitForKernelDisk();
  }
  return {
    turAb: result,
    notes: [
      `TUR rounds of ${count}: sg-loop's SG_IO ioctl vs openDevice SG_IO; ` +
        'bot-loop vs native BOT with usb-storage unbound throughout',
    ],
  };
}

/**
 * The same TUR straight through the backend's botExchange (one native call: CBW, CSW), without
 * BotTransport and ScsiDevice: splits the latency into "engine + thread hop" and "core's JS".
 */
async function rawExchangeTur(dev, count = cfg.turCount) {
  const handle = dev.transport?.handle;
  if (dev.transport?.kind !== 'bot') return null; // a CBW means nothing to a UAS device
  if (!handle?.botExchange || handle.info?.backend !== 'native') return null; // the engine's own exchange only
  const lat = new Float64Array(count);
  let tag = 0x42000000;
  // The first half of the loop is untimed, as the ScsiDevice TURs' warm-up above.
  for (let i = -count; i < count; i++) {
    const cbw = new Uint8Array(31);
    const view = new DataView(cbw.buffer);
    view.setUint32(0, 0x43425355, true); // "USBC"
    view.setUint32(4, ++tag, true);
    cbw[14] = 6; // TEST UNIT READY: 6 zero bytes
    const t0 = process.hrtime.bigint();
    // QEMU usb-storage's endpoints (docs/testing-vm.md): bulk-out 0x02, bulk-in 0x81.
    const r = await handle.botExchange({ cbw, outEndpoint: 0x02, inEndpoint: 0x81, timeoutMs: 20_000 });
    if (i >= 0) lat[i] = Number(process.hrtime.bigint() - t0) / 1e3;
    if (r.cbw.status !== TransferStatus.OK || r.csw?.status !== TransferStatus.OK || r.csw.bytes[12] !== 0)
      throw new Error(
        `raw botExchange TUR failed: ` +
          JSON.stringify({ cbw: r.cbw, csw: r.csw && { status: r.csw.status, s: r.csw.bytes?.[12] } }),
      );
  }
  const samples = Array.from(lat);
  return { p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) };
}

/**
 * Where an SG_IO TUR's time goes: p50 of the same TUR straight through transport.execute (no
 * ScsiDevice) and of the node's own measure (from queueing the command to reading its completion).
 */
async function sgTurSplit(dev) {
  const wall = [];
  const node = [];
  for (let i = 0; i < cfg.turCount; i++) {
    const t0 = process.hrtime.bigint();
    const r = await dev.transport.execute({ cdb: new Uint8Array(6), direction: 'none', timeoutMs: 20_000 });
    wall.push(Number(process.hrtime.bigint() - t0) / 1e3);
    node.push(r.durationNs / 1e3);
  }
  const text =
    `TUR p50 through transport.execute ${percentile(wall, 50).toFixed(1)} us, ` +
    `of which queue-to-completion in the node ${percentile(node, 50).toFixed(1)} us`;
  log(`${dev.transport.path}: ${text}`);
  return text;
}

function fromCJson(text) {
  const j = JSON.parse(text);
  return { read: j.read, write: j.write, tur: { p50Us: j.tur.p50_us, p99Us: j.tur.p99_us } };
}

/** xorshift32 LBAs of 4 KiB-aligned reads inside the read region [0, total). */
function randomLbas(count, seed) {
  let x = seed >>> 0 || 1;
  const slots = total / RANDOM_IO;
  return Array.from({ length: count }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % slots) * (RANDOM_IO / BLOCK);
  });
}

/** The kernel's queued random reads (C, O_DIRECT, one thread per request in flight) on a block device. */
function randomViaKernel(dev) {
  const out = {};
  for (const depth of RANDOM_DEPTHS) {
    const text = execFileSync(
      '/out/bin/random-read',
      [dev, String(depth), String(cfg.randomCount), String(total), String(depth)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const j = JSON.parse(text);
    out[depth] = { count: j.count, seconds: j.seconds };
  }
  return out;
}

/**
 * The same through core's ScsiDevice: `depth` readInto() calls outstanding at once (each with its
 * own 4 KiB buffer); BOT serialises them in its transport, UAS queues them at the device.
 */
async function randomViaDevice(dev) {
  const out = {};
  for (const depth of RANDOM_DEPTHS) {
    const lbas = randomLbas(cfg.randomCount, depth);
    const buffers = Array.from({ length: depth }, () => new Uint8Array(RANDOM_IO));
    await dev.readInto(lbas[0], buffers[0]); // warm
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      buffers.map(async (buf) => {
        while (next < lbas.length) await dev.readInto(lbas[next++], buf);
      }),
    );
    out[depth] = { count: lbas.length, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  }
  return out;
}

/**
 * core's UasTransport on the usb-uas disk under core's lease (the lease unbinds `uas` and gives
 * it back), as a ScsiDevice; `close()` ends both and waits for the kernel's disk.
 */
async function openUas(backend) {
  await waitForUasDisk();
  const core = await import(`${process.cwd()}/packages/core/dist/index.js`);
  const { UasTransport } = await import(`${process.cwd()}/packages/core/dist/uas/index.js`);
  const info = (await backend.list()).find((d) => `${hex4(d.vendorId)}:${hex4(d.productId)}` === UAS_SELECTOR);
  if (!info) throw new Error(`${UAS_SELECTOR} is not listed`);
  const intf = info.configurations[0].interfaces.find((i) => i.interfaceProtocol === 0x62);
  const lease = await core.acquireLease(core.leaseDeviceOf(info, intf.interfaceNumber), {
    journal: null,
    registry: null,
  });
  let transport = null;
  try {
    const handle = await backend.open(info);
    lease.onRelease(() => (transport ? transport.close() : handle.close()));
    transport = await UasTransport.open(handle);
  } catch (err) {
    await lease.release().catch(() => undefined);
    throw err;
  }
  const dev = new core.ScsiDevice(transport, { maxTransferBytes: maxSize });
  return {
    dev,
    close: async () => {
      await lease.release();
      await waitForUasDisk();
    },
  };
}

const hex4 = (n) => n.toString(16).padStart(4, '0');

let open;
let backends;

async function measurePath(path) {
  const env = cfg.environment;
  if (path === 'daemon' || path === 'multi') {
    const native = backends.find((x) => x.name === 'native')?.backend;
    if (!native) throw new Error('the native backend did not load');
    const core = await import(`${process.cwd()}/packages/core/dist/index.js`);
    const ctx = { open, native, core, disks: cfg.disks ?? 1, scenario };
    return path === 'daemon' ? measureDaemon(ctx) : measureMulti(ctx);
  }
  if (path === 'kernel') {
    const disk = sdDisks()[0];
    const text = execFileSync(
      '/out/bin/direct-io',
      [
        'suite',
        `/dev/${disk}`,
        `/dev/${sgOfDisk(disk)}`,
        String(total),
        cfg.sizes.join(','),
        String(writeOffset),
        String(cfg.turCount),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return {
      ...fromCJson(text),
      notes: ['O_DIRECT pread/pwrite on the sd node; TUR through the SG_IO ioctl on the sg node (C)'],
    };
  }
  if (path === 'kernel-uas') {
    const node = await waitForUasDisk();
    const disk = node.slice('/dev/'.length);
    const text = execFileSync(
      '/out/bin/direct-io',
      [
        'suite',
        node,
        `/dev/${sgOfDisk(disk)}`,
        String(total),
        cfg.sizes.join(','),
        String(writeOffset),
        String(cfg.turCount),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return {
      ...fromCJson(text),
      random: randomViaKernel(node),
      notes: [
        "the kernel's uas driver on QEMU's usb-uas disk: O_DIRECT pread/pwrite, TUR through SG_IO (C); " +
          'random reads: one thread per request in flight',
      ],
    };
  }
  if (path === 'kernel-random') {
    return {
      random: randomViaKernel(`/dev/${sdDisks()[0]}`),
      notes: ["usb-storage's disk (BOT): O_DIRECT random reads, one thread per request in flight (C)"],
    };
  }
  if (path === 'c-loop') {
    try {
      const text = execFileSync(
        '/out/bin/bot-loop',
        [SELECTOR, 'suite', String(total), cfg.sizes.join(','), String(writeOffset / BLOCK), String(cfg.turCount)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      return { ...fromCJson(text), notes: [] };
    } finally {
      await waitForKernelDisk();
    }
  }
  if (path === 'tur-ab') return measureTurInterleaved();
  if (path === 'c-sg') {
    const disk = sdDisks()[0];
    const text = execFileSync(
      '/out/bin/sg-loop',
      [
        'suite',
        `/dev/${disk}`,
        `/dev/${sgOfDisk(disk)}`,
        String(total),
        cfg.sizes.join(','),
        String(writeOffset),
        String(cfg.turCount),
        String(env.maxHwSectorsKb > 0 ? Math.min(maxSize, env.maxHwSectorsKb * 1024) : maxSize),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const j = JSON.parse(text);
    log(`c-sg: TUR through the sg driver's write()/poll()/read() from C: p50 ${j.turAsync.p50_us} us`);
    return {
      ...fromCJson(text),
      notes: [
        'SG_IO ioctl from C: READ(10)/WRITE(10) on the sd node from page-aligned memory, TUR on the sg node',
        `TUR through the sg driver's write()/poll()/read() from C: ` +
          `p50 ${j.turAsync.p50_us} us, p99 ${j.turAsync.p99_us} us`,
      ],
    };
  }
  if (path === 'sg-batch') {
    const sgNode = `/dev/${sgOfDisk(sdDisks()[0])}`;
    const dev = await open.openDevice({ selector: sgNode, transport: 'sg' });
    try {
      await readyDevice(dev);
      const random = await randomViaBatch(dev, RANDOM_DEPTHS, (d) => randomLbas(cfg.randomCount, d), RANDOM_IO / BLOCK);
      return { random, notes: ['SG_IO: ScsiDevice.readBatch (one command at a time, as jobs)'] };
    } finally {
      await dev.close();
    }
  }
  if (path === 'sg' || path === 'sg-aligned' || path === 'sg-node' || path === 'sg-d2') {
    const disk = sdDisks()[0];
    const sgNode = `/dev/${sgOfDisk(disk)}`;
    const cap = env.maxHwSectorsKb > 0 ? env.maxHwSectorsKb * 1024 : maxSize;
    const perCommand = Math.min(maxSize, cap);
    const notes =
      perCommand < maxSize
        ? [
            `SG_IO commands capped at max_hw_sectors_kb (${env.maxHwSectorsKb} KiB): ` +
              'larger sizes are split by ScsiDevice',
          ]
        : [];
    // sg and sg-aligned: what openDevice gives (READ and WRITE through the disk's block device);
    // sg-node: READ and WRITE kept on the sg node, whose driver copies every data phase.
    const dev =
      path === 'sg-node'
        ? await openSg(sgNode, perCommand, { blockDevice: false })
        : path === 'sg-d2'
          ? await openSg(sgNode, perCommand, { jobDepth: 2 })
          : await open.openDevice({ selector: sgNode, transport: 'sg', tuning: { maxTransferBytes: perCommand } });
    if (path === 'sg-d2') notes.push('SG_IO jobs with two commands in flight (jobDepth 2)');
    notes.push(`READ/WRITE through ${dev.transport.dataPath}, other commands through ${sgNode}`);
    try {
      return await measureDevice(dev, notes, { pinned: path === 'sg-aligned' });
    } finally {
      await dev.close();
    }
  }
  if (path === 'uas') {
    const b = backends.find((x) => x.name === 'native');
    if (!b?.backend) throw new Error(`the native backend did not load: ${b?.reason ?? 'unknown'}`);
    const { dev, close } = await openUas(b.backend);
    try {
      const result = await measureDevice(dev, [
        `UasTransport: ${dev.transport.streams} streams, queue depth ${dev.transport.queueDepth}`,
      ]);
      result.random = await randomViaDevice(dev);
      return result;
    } finally {
      await close();
    }
  }
  if (path === 'uas-batch') {
    const b = backends.find((x) => x.name === 'native');
    if (!b?.backend) throw new Error(`the native backend did not load: ${b?.reason ?? 'unknown'}`);
    const { dev, close } = await openUas(b.backend);
    try {
      await readyDevice(dev);
      const random = await randomViaBatch(dev, RANDOM_DEPTHS, (d) => randomLbas(cfg.randomCount, d), RANDOM_IO / BLOCK);
      return { random, notes: ['native UAS: ScsiDevice.readBatch, queueDepth reads in flight by tag'] };
    } finally {
      await close();
    }
  }
  const m = /^native-(?:d(\d+)|(1urb)|(pinned)|(unstaged)|(random)|(batch))$/.exec(path);
  const backendName = m ? 'native' : 'node-usb';
  const b = backends.find((x) => x.name === backendName);
  if (!b?.backend) throw new Error(`the ${backendName} backend did not load: ${b?.reason ?? 'unknown'}`);
  const tuning = { maxTransferBytes: maxSize };
  if (m?.[1]) {
    tuning.depth = Number(m[1]);
    if (cfg.chunkKiB) tuning.chunkSize = cfg.chunkKiB * 1024;
  } else if (m?.[2]) {
    tuning.depth = 1;
    tuning.chunkSize = maxSize;
  }
  const notes = [];
  // native-unstaged: ordinary memory in place, as before the engine staged it through pinned memory.
  if (m?.[4]) {
    process.env.USBSCSI_NATIVE_STAGING = '0';
    notes.push('USBSCSI_NATIVE_STAGING=0: the kernel copies every URB of ordinary memory');
  }
  const dev = await open.openDevice({
    selector: SELECTOR,
    backend: b.backend,
    transport: 'bot',
    tuning,
    quirks: { maxTransferBytes: maxSize },
  });
  try {
    if (m?.[6]) {
      await readyDevice(dev);
      const random = await randomViaBatch(dev, RANDOM_DEPTHS, (d) => randomLbas(cfg.randomCount, d), RANDOM_IO / BLOCK);
      return { random, notes: ['native BOT: ScsiDevice.readBatch (serialised: one command at a time)'] };
    }
    if (m?.[5]) {
      await readyDevice(dev);
      return {
        random: await randomViaDevice(dev),
        notes: ['native BOT (default tuning): concurrent readInto() calls'],
      };
    }
    return await measureDevice(dev, notes, { pinned: Boolean(m?.[3]) });
  } finally {
    delete process.env.USBSCSI_NATIVE_STAGING;
    await dev.close();
    await waitForKernelDisk();
  }
}

/** PassThroughTransport with options openDevice does not take (sg-node: no block device; sg-d2: jobDepth). */
async function openSg(path, maxTransferBytes, options) {
  const { PassThroughTransport } = await import(`${process.cwd()}/packages/core/dist/sg/passthrough.js`);
  const { ScsiDevice } = await import(`${process.cwd()}/packages/core/dist/device.js`);
  const { linuxMountsOfNode } = await import(`${process.cwd()}/packages/core/dist/topology/index.js`);
  const transport = await PassThroughTransport.open(path, options);
  return new ScsiDevice(transport, { maxTransferBytes, mounts: () => linuxMountsOfNode(path) });
}

/** What every measurement needs: the kernel's disk back, the guest's facts, core, the backends. */
async function prepare() {
  await waitForKernelDisk();
  cfg.environment = environment();
  open = await import(`${process.cwd()}/packages/core/dist/open.js`);
  backends = await loadBackends();
}

function describeError(err) {
  const code = err?.code ? `${err.code}: ` : '';
  const stderr = err?.stderr ? ` (stderr: ${String(err.stderr).trim()})` : '';
  return `${code}${err?.message ?? err}${stderr}`;
}

async function main() {
  const t0 = Date.now();
  await prepare();
  log(`environment ${JSON.stringify(cfg.environment)}`);
  for (const b of backends) if (!b.backend) log(`backend ${b.name} unavailable: ${b.reason}`);
  for (const bin of ['/out/bin/direct-io', '/out/bin/bot-loop', '/out/bin/sg-loop'])
    if (!existsSync(bin)) log(`missing ${bin}`);
  const reps = [];
  for (let r = 0; r < cfg.reps; r++) {
    const rot = r % cfg.paths.length;
    let order = [...cfg.paths.slice(rot), ...cfg.paths.slice(0, rot)];
    if (r % 2 === 1) order = order.reverse();
    const results = {};
    for (const path of order) {
      const tp = Date.now();
      try {
        results[path] = await measurePath(path);
        const r4 = results[path].read?.[maxSize];
        const rnd = results[path].random;
        if (results[path].pairs) log(`rep ${r + 1}/${cfg.reps} ${path}: ok ${JSON.stringify(results[path].pairs)}`);
        else
          log(
            `rep ${r + 1}/${cfg.reps} ${path}: ok in ${((Date.now() - tp) / 1000).toFixed(1)} s (` +
              (r4 ? `read ${maxSize >> 10} KiB: ${(total / 1048576 / r4).toFixed(1)} MiB/s, ` : '') +
              (results[path].tur ? `TUR p50 ${results[path].tur.p50Us?.toFixed(0)} us` : '') +
              (results[path].turAb
                ? Object.entries(results[path].turAb)
                    .map(([k, v]) => `${k} ours/C ${v.rounds.map((x) => (x.oursUs / x.cUs).toFixed(2)).join(' ')}`)
                    .join('; ')
                : '') +
              (rnd
                ? ` 4 KiB random IOPS ${Object.entries(rnd)
                    .map(([d, x]) => `QD${d} ${Math.round(x.count / x.seconds)}`)
                    .join(' ')}`
                : '') +
              ')',
          );
      } catch (err) {
        const msg = describeError(err);
        results[path] = { error: msg };
        log(`rep ${r + 1}/${cfg.reps} ${path}: FAILED ${msg}`);
        await waitForKernelDisk().catch(() => undefined);
        await waitForUasDisk().catch(() => undefined);
      }
    }
    reps.push({ order, results });
  }
  writeFileSync(
    resultsPath,
    JSON.stringify(
      {
        scenario,
        totalBytes: total,
        sizes: cfg.sizes,
        paths: cfg.paths,
        turCount: cfg.turCount,
        environment: cfg.environment,
        seconds: (Date.now() - t0) / 1000,
        reps,
      },
      null,
      1,
    ),
  );
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  log(`FATAL ${err?.stack ?? err}`);
  process.exitCode = 1;
});
