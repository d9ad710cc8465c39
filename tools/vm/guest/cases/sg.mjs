// SG_IO pass-through (kernel keeps the device) against sg3-utils and against BOT.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { loadOpen, loadBot } from './core-api.mjs';
import { perBackend } from './device.mjs';
import { withBot, waitForKernelDisk } from './bot.mjs';
import { registerSgJobCases } from './sg-job.mjs';
import {
  assert,
  assertEqual,
  assertBytesEqual,
  kernelRead,
  kernelWrite,
  sdDisks,
  sgOfDisk,
  usbInterfaceOfDisk,
} from '../util.mjs';

const INQUIRY_36 = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const READ_CAPACITY_10 = Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);

function sgPath() {
  const sg = sgOfDisk(sdDisks()[0]);
  return `/dev/${sg}`;
}

/** INQUIRY (36) and READ CAPACITY(10) bytes through SG_IO via openDevice(transport: 'sg'). */
async function viaSg(open) {
  const path = sgPath();
  const dev = await open.openDevice({ selector: path, transport: 'sg' });
  try {
    assertEqual(dev.description.transport, 'sg', 'transport');
    const driverBound = existsSync(`/sys/bus/usb/devices/${usbInterfaceOfDisk(sdDisks()[0])}/driver`);
    assertEqual(
      [sdDisks().length, driverBound],
      [1, true],
      'sd disk present and usb-storage bound while SG_IO is open (no detach)',
    );
    let inq = await dev.execute(INQUIRY_36, { direction: 'in', length: 36 });
    const cap = await dev.execute(READ_CAPACITY_10, { direction: 'in', length: 8 });
    assertEqual([inq.status, cap.status], [0, 0], 'SG_IO statuses');
    return { inquiry: Uint8Array.from(inq.data), capacity: Uint8Array.from(cap.data) };
  } finally {
    await dev.close();
  }
}

function viaSgUtils() {
  const path = sgPath();
  return {
    inquiry: new Uint8Array(execFileSync('sg_inq', ['-r', '-l', '36', path])),
    capacity: new Uint8Array(execFileSync('sg_readcap', ['-r', path])),
  };
}

const MIB4 = 4 * 1024 * 1024;
const disk = () => `/dev/${sdDisks()[0]}`;

/**
 * 4 MiB each way through an SG_IO ScsiDevice, compared with the kernel's own bytes. On EHCI
 * usb-storage's queue takes 120 KiB per command: the device must split to it.
 */
async function sgRoundTrip(dev, lba) {
  assertEqual(dev.description.transport, 'sg', 'transport');
  const out = randomFillSync(new Uint8Array(MIB4));
  await dev.write(lba, out, { allowMediumWrite: true, timeoutMs: 60_000 });
  assertBytesEqual(kernelRead(disk(), lba, MIB4), out, 'kernel read of the SG_IO write');
  const theirs = randomFillSync(new Uint8Array(MIB4));
  kernelWrite(disk(), lba + MIB4 / 512, theirs);
  const back = await dev.read(lba + MIB4 / 512, MIB4 / 512, { timeoutMs: 60_000 });
  assertBytesEqual(back, theirs, 'SG_IO read of the kernel write');
  const hwKb = Number(readFileSync(`/sys/block/${sdDisks()[0]}/queue/max_hw_sectors_kb`, 'utf8'));
  const limit = dev.transport.maxTransferBytes;
  assert(limit !== undefined && limit <= hwKb * 1024, `transport limit ${limit} within max_hw_sectors_kb ${hwKb}`);
  return { hwKb, limit };
}

/** How many of this process's descriptors are open on `node`. */
function descriptorsOn(node) {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === node;
    } catch {
      return false; // the descriptor readdir itself used, closed by now
    }
  }).length;
}

const read10 = (lba, blocks) =>
  Uint8Array.of(0x28, 0, lba >>> 24, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);
const write10 = (lba, blocks) =>
  Uint8Array.of(0x2a, 0, lba >>> 24, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);

/**
 * One descriptor per node for the transport's life (none after close), READ and WRITE through
 * the disk's block device, page-aligned memory moved in place and other memory copied through
 * the node's aligned buffer (the same bytes as the kernel's either way), and a closed node
 * refusing with E_DEVICE_GONE.
 */
async function sgNodes() {
  const root = process.cwd();
  const { PassThroughTransport } = await import(`${root}/packages/core/dist/sg/passthrough.js`);
  const { loadNativeAddon } = await import(`${root}/packages/core/dist/backends/native-addon.js`);
  const sg = sgPath();
  const disk = `/dev/${sdDisks()[0]}`;
  const t = await PassThroughTransport.open(sg);
  assertEqual(t.dataPath, disk, 'READ and WRITE go through the block device');
  assertEqual([descriptorsOn(sg), descriptorsOn(disk)], [1, 1], 'one descriptor per node while open');
  for (let i = 0; i < 50; i++) {
    const r = await t.execute({ cdb: new Uint8Array(6), direction: 'none', timeoutMs: 20_000 });
    assert(r.status === 0 || r.status === 2, `TUR status ${r.status}`);
  }
  const lba = 98304; // 48 MiB: the 4 MiB case below writes its own patterns here afterwards
  const theirs = randomFillSync(new Uint8Array(65536));
  kernelWrite(disk, lba, theirs);
  const aligned = t.allocateBuffer(65536);
  assert(aligned?.pinned === true, 'allocateBuffer gives memory moved in place');
  const r = await t.execute({ cdb: read10(lba, 128), direction: 'in', data: aligned.bytes, timeoutMs: 20_000 });
  assertEqual([r.status, r.transferred], [0, 65536], 'READ(10) into aligned memory');
  assertBytesEqual(aligned.bytes, theirs, 'aligned READ(10) vs the kernel');
  assertEqual([descriptorsOn(sg), descriptorsOn(disk)], [1, 1], 'still one descriptor per node after 52 commands');
  await t.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertEqual([descriptorsOn(sg), descriptorsOn(disk)], [0, 0], 'no descriptor left after close');

  // The node's own facts: whether a data phase went through its aligned buffer.
  const addon = loadNativeAddon().addon;
  const node = await addon.sgOpen(disk);
  try {
    const plain = new Uint8Array(65536 + 1).subarray(1); // never page-aligned
    const viaCopy = await node.execute({ cdb: read10(lba, 128), direction: 'in', buffer: plain, timeoutMs: 20_000 });
    const inPlace = new Uint8Array(addon.alignedBuffer(65536));
    const direct = await node.execute({ cdb: read10(lba, 128), direction: 'in', buffer: inPlace, timeoutMs: 20_000 });
    assertEqual([viaCopy.bounced, direct.bounced], [true, false], 'unaligned memory copied, aligned moved in place');
    assertBytesEqual(plain, theirs, 'READ(10) through the aligned copy vs the kernel');
    assertBytesEqual(inPlace, theirs, 'READ(10) in place vs the kernel');
    const out = randomFillSync(new Uint8Array(65536 + 1).subarray(1));
    const w = await node.execute({ cdb: write10(lba, 128), direction: 'out', buffer: out, timeoutMs: 20_000 });
    assertEqual([w.status, w.bounced], [0, true], 'WRITE(10) from unaligned memory');
    assertBytesEqual(kernelRead(disk, lba, 65536), out, 'kernel read of the copied WRITE(10)');
  } finally {
    node.close();
  }
  let closedError;
  await node.execute({ cdb: new Uint8Array(6), direction: 'none', timeoutMs: 1000 }).catch((e) => (closedError = e));
  assertEqual(closedError?.code, 'E_DEVICE_GONE', 'a command on a closed node');
}

export async function registerSgCases(scenario, backends) {
  const open = await loadOpen();
  const title =
    `[${scenario}/sg] SG_IO INQUIRY and READ CAPACITY bytes equal sg_inq -r / sg_readcap -r, ` + 'with no detach';
  if (!open.mod && open.reason.startsWith('NOT LANDED')) skip(title, open.reason);
  else if (!open.mod)
    test(title, () => {
      throw new Error(open.reason);
    });
  else
    test(title, async () => {
      const mine = await viaSg(open.mod);
      const theirs = viaSgUtils();
      assertBytesEqual(mine.inquiry, theirs.inquiry, 'INQUIRY: SG_IO vs sg_inq');
      assertBytesEqual(mine.capacity, theirs.capacity, 'READ CAPACITY: SG_IO vs sg_readcap');
    });

  const titleNodes =
    `[${scenario}/sg] one descriptor per node; READ/WRITE through the block device, aligned memory ` +
    'in place, other memory through the aligned copy; a closed node is E_DEVICE_GONE';
  if (!open.mod) skip(titleNodes, open.reason);
  else test(titleNodes, sgNodes, { timeoutMs: 120_000 });

  const bot = await loadBot();
  const both = open.mod && bot.mod ? { mod: { open: open.mod, bot: bot.mod }, reason: null } : open.mod ? bot : open;
  perBackend(
    scenario,
    backends,
    both,
    'BOT returns the same INQUIRY and READ CAPACITY bytes as SG_IO',
    async ({ open: o, bot: botMod }, b) => {
      const sg = await viaSg(o);
      const overBot = await withBot(botMod, b, async (tr) => {
        const inq = await tr.execute({ cdb: INQUIRY_36, direction: 'in', data: new Uint8Array(36) });
        const cap = await tr.execute({ cdb: READ_CAPACITY_10, direction: 'in', data: new Uint8Array(8) });
        return { inquiry: Uint8Array.from(inq.data), capacity: Uint8Array.from(cap.data) };
      });
      assertBytesEqual(overBot.inquiry, sg.inquiry, 'INQUIRY: BOT vs SG_IO');
      assertBytesEqual(overBot.capacity, sg.capacity, 'READ CAPACITY: BOT vs SG_IO');
    },
  );

  // Clear of the other cases' regions (bot.mjs ends below 38 MiB, device.mjs below 46 MiB).
  const title4 =
    `[${scenario}/sg] 4 MiB written and read through /dev/sdX (SG_IO), split to the queue's limit; ` +
    'the kernel sees the same bytes';
  if (!open.mod) skip(title4, open.reason);
  else
    test(
      title4,
      async () => {
        const dev = await open.mod.openDevice({ selector: `/dev/${sdDisks()[0]}`, transport: 'sg' });
        try {
          const { hwKb, limit } = await sgRoundTrip(dev, 98304);
          if (scenario === 'ehci')
            assertEqual(
              [hwKb, limit],
              [120, 120 * 1024],
              'high-speed usb-storage queue limit (KiB) and the transport limit (bytes)',
            );
        } finally {
          await dev.close();
        }
      },
      { timeoutMs: 120_000 },
    );

  if (open.mod) registerSgJobCases(scenario);

  // readBatch on a transport that runs one READ at a time goes as transport jobs: SG_IO's on a
  // pool thread, BOT's in the engine (or node-usb's generic job). Scattered reads, one longer than
  // a command, against what the kernel wrote there.
  const BATCH_BASE = 40960;
  const batchReads = [
    { lba: BATCH_BASE + 5000, blocks: 1 },
    { lba: BATCH_BASE + 17, blocks: 8 },
    { lba: BATCH_BASE + 3001, blocks: 2100 }, // 1,075,200 bytes: two commands of at most 1 MiB
    { lba: BATCH_BASE + 8191, blocks: 1 },
    { lba: BATCH_BASE, blocks: 64 },
  ];
  const batchImage = () => {
    const image = randomFillSync(new Uint8Array(8192 * 512));
    kernelWrite(disk(), BATCH_BASE, image);
    return image;
  };
  const checkBatch = (out, image, what) =>
    batchReads.forEach(({ lba, blocks }, i) =>
      assertBytesEqual(
        out[i],
        image.subarray((lba - BATCH_BASE) * 512, (lba - BATCH_BASE + blocks) * 512),
        `${what}: read ${i}`,
      ),
    );
  const titleBatch = `[${scenario}/sg] readBatch through SG_IO (as jobs): every buffer holds the kernel's bytes`;
  if (!open.mod) skip(titleBatch, open.reason);
  else
    test(titleBatch, async () => {
      const image = batchImage();
      const dev = await open.mod.openDevice({ selector: disk(), transport: 'sg' });
      try {
        checkBatch(await dev.readBatch(batchReads, { queueDepth: 8 }), image, 'SG_IO');
      } finally {
        await dev.close();
      }
    });
  perBackend(
    scenario,
    backends,
    open,
    "readBatch through BOT under the lease (as jobs): every buffer holds the kernel's bytes",
    async (o, b) => {
      const image = batchImage();
      const dev = await o.openDevice({ selector: '46f4:0001', backend: b, transport: 'bot' });
      try {
        checkBatch(await dev.readBatch(batchReads), image, 'BOT');
      } finally {
        await dev.close();
      }
      await waitForKernelDisk();
    },
    { timeoutMs: 120_000 },
  );

  perBackend(
    scenario,
    backends,
    open,
    'openDevice --transport auto picks SG_IO; 4 MiB written and read split to the queue limit; ' +
      'the kernel sees the same bytes',
    async (o, b) => {
      const dev = await o.openDevice({ selector: '46f4:0001', backend: b, transport: 'auto' });
      try {
        await sgRoundTrip(dev, 114688);
      } finally {
        await dev.close();
      }
    },
    { timeoutMs: 120_000 },
  );
}
