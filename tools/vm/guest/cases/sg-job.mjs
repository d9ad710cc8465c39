// SG_IO jobs (PassThroughTransport.executeJob over the addon's node.job): a READ or WRITE range run
// in the engine with no JavaScript per command, against the kernel's own bytes.
import { randomFillSync } from 'node:crypto';
import { test } from '../runner.mjs';
import { assert, assertBytesEqual, assertEqual, cdb10, kernelRead, kernelWrite, sdDisks, sgOfDisk } from '../util.mjs';

const root = process.cwd();
const LBA = 122880; // 60 MiB: clear of the other cases' regions (sg.mjs ends below 56 MiB)
const RANGE = 2 * 1024 * 1024;
const PER = 65536;

const read10 = (lba, blocks) => cdb10(0x28, lba, blocks);
const write10 = (lba, blocks) => cdb10(0x2a, lba, blocks);

function commandsOf(make, lba, bytes, per = PER) {
  const out = [];
  for (let at = 0; at < bytes; at += per) out.push({ cdb: make(lba + at / 512, per / 512), length: per });
  return out;
}

const disk = () => `/dev/${sdDisks()[0]}`;

async function transport() {
  const { PassThroughTransport } = await import(`${root}/packages/core/dist/sg/passthrough.js`);
  return PassThroughTransport.open(`/dev/${sgOfDisk(sdDisks()[0])}`);
}

/** Both directions through the transport; the node's own count of copied commands for each memory kind. */
async function roundTrip() {
  const t = await transport();
  try {
    const out = randomFillSync(new Uint8Array(RANGE + 1).subarray(1)); // never page-aligned
    const w = await t.executeJob({ commands: commandsOf(write10, LBA, RANGE), direction: 'out', data: out });
    assertEqual(w, { done: RANGE / PER }, 'WRITE job from unaligned memory');
    assertBytesEqual(kernelRead(disk(), LBA, RANGE), out, 'kernel read of the WRITE job');
    const theirs = randomFillSync(new Uint8Array(RANGE));
    kernelWrite(disk(), LBA, theirs);
    const back = new Uint8Array(RANGE + 1).subarray(1);
    const r = await t.executeJob({ commands: commandsOf(read10, LBA, RANGE), direction: 'in', data: back });
    assertEqual(r, { done: RANGE / PER }, 'READ job into unaligned memory');
    assertBytesEqual(back, theirs, 'READ job vs the kernel');
  } finally {
    await t.close();
  }
  const { loadNativeAddon } = await import(`${root}/packages/core/dist/backends/native-addon.js`);
  const { encodeSgJobTable } = await import(`${root}/packages/core/dist/sg/sg-job.js`);
  const addon = loadNativeAddon().addon;
  const node = await addon.sgOpen(disk());
  try {
    const table = encodeSgJobTable(commandsOf(read10, LBA, RANGE));
    const options = { direction: 'in', timeoutMs: 20_000, depth: 2, jobId: 1 };
    const plain = new Uint8Array(RANGE + 1).subarray(1);
    const copied = await node.job(table, plain, options);
    const inPlace = new Uint8Array(addon.alignedBuffer(RANGE));
    const direct = await node.job(table, inPlace, { ...options, jobId: 2 });
    assertEqual(
      [copied.done, copied.bouncedCommands, direct.done, direct.bouncedCommands],
      [RANGE / PER, RANGE / PER, RANGE / PER, 0],
      'unaligned memory copied through the aligned buffers, aligned memory moved in place',
    );
    const theirs = kernelRead(disk(), LBA, RANGE);
    assertBytesEqual(plain, theirs, 'copied READ job vs the kernel');
    assertBytesEqual(inPlace, theirs, 'in-place READ job vs the kernel');
  } finally {
    node.close();
  }
}

/** A READ past the last block ends the job: the ones before it done, its CHECK CONDITION judged. */
async function stopsAtTheFailingCommand() {
  const t = await transport();
  try {
    const cap = new Uint8Array(8);
    await t.execute({ cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), direction: 'in', data: cap });
    const last = new DataView(cap.buffer).getUint32(0);
    const commands = [
      { cdb: read10(last - 15, 8), length: 4096 },
      { cdb: read10(last - 7, 8), length: 4096 },
      { cdb: read10(last + 1, 8), length: 4096 },
      { cdb: read10(0, 8), length: 4096 },
    ];
    // Never page-aligned: the commands go through the node's aligned buffer; the bytes of the ones
    // done before the failing one are copied out, and nothing after it is sent.
    const data = new Uint8Array(4 * 4096 + 1).subarray(1).fill(0xee);
    const r = await t.executeJob({ commands, direction: 'in', data });
    assertEqual(r.done, 2, 'commands done before the one past the end');
    assertEqual(
      [r.result?.status, r.result?.sense?.senseKey, r.result?.sense?.asc],
      [2, 5, 0x21],
      'CHECK CONDITION, ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE',
    );
    assertBytesEqual(data.subarray(0, 2 * 4096), kernelRead(disk(), last - 15, 2 * 4096), 'the done READs, copied');
    assert(
      data.subarray(3 * 4096).every((b) => b === 0xee),
      'the command after the one that ended the job was not sent: its memory untouched',
    );
  } finally {
    await t.close();
  }
}

/** An AbortSignal ends a long job between two commands. */
async function cancelled() {
  const t = await transport();
  try {
    const total = 32 * 1024 * 1024;
    const ac = new AbortController();
    const run = t.executeJob({
      commands: commandsOf(read10, 0, total),
      direction: 'in',
      data: new Uint8Array(total),
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 20);
    const err = await run.then(
      () => null,
      (e) => e,
    );
    assertEqual(err?.code, 'E_CANCELLED', 'the aborted job');
    assert(err.details.done < total / PER, `done ${err.details.done} of ${total / PER}`);
    const after = await t.execute({ cdb: new Uint8Array(6), direction: 'none', timeoutMs: 20_000 });
    assert(after.status === 0 || after.status === 2, 'the node works after a cancelled job');
  } finally {
    await t.close();
  }
}

export function registerSgJobCases(scenario) {
  test(
    `[${scenario}/sg] jobs: a 2 MiB WRITE and READ range as one job each; the kernel sees the same bytes; ` +
      'unaligned memory goes through the aligned buffers, aligned memory in place',
    roundTrip,
    { timeoutMs: 120_000 },
  );
  test(
    `[${scenario}/sg] jobs: a READ past the last block ends the job; the commands before it are done and its ` +
      'CHECK CONDITION comes back judged (ILLEGAL REQUEST, LBA out of range)',
    stopsAtTheFailingCommand,
  );
  test(`[${scenario}/sg] jobs: an AbortSignal ends a long job between commands (E_CANCELLED)`, cancelled, {
    timeoutMs: 120_000,
  });
}
