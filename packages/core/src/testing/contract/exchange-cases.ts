/**
 * Whole commands through core's BotTransport, as the shared decisions define them: the thirteen
 * cases of BOT 1.0 §6.7, a stall and a timeout in each phase (timeoutMs is one budget for the
 * whole command), cancellation, and a CSW sent in place of the data.
 */
import assert from 'node:assert/strict';
import type { BotTransport, BotTransportOptions } from '../../bot/bot-transport.js';
import type { ScsiRequest, ScsiResult } from '../../transport.js';
import type { CaseContext } from './context.js';
import type { ContractCase } from './env.js';
import { rejection } from './raw-bot.js';

const GOOD = 0;
const CHECK_CONDITION = 2;
const BLOCK = 512;
const TUR = Uint8Array.of(0, 0, 0, 0, 0, 0);
const INQUIRY = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const read10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x28, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);
const write10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x2a, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
/** Blocks the cases may overwrite on a device with programmable faults (the emulator's RAM or scratch disk). */
const SCRATCH_LBA = 200;

const brief = (r: ScsiResult) => ({ status: r.status, transferred: r.transferred, residue: r.residue });

async function inquiryWorks(tr: BotTransport, after: string): Promise<void> {
  const r = await tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36) });
  assert.equal(r.status, GOOD, `INQUIRY after ${after}`);
  assert.ok(r.transferred >= 5, `INQUIRY data after ${after}`);
}

async function readBlocks(tr: BotTransport, lba: number, blocks: number): Promise<Uint8Array> {
  const r = await tr.execute({ cdb: read10(lba, blocks), direction: 'in', data: new Uint8Array(blocks * BLOCK) });
  assert.deepEqual(
    brief(r),
    { status: GOOD, transferred: blocks * BLOCK, residue: 0 },
    `READ(10) of ${blocks} blocks at ${lba}`,
  );
  return r.data.slice();
}

async function writeBlocks(tr: BotTransport, lba: number, data: Uint8Array): Promise<void> {
  const r = await tr.execute({ cdb: write10(lba, data.length / BLOCK), direction: 'out', data });
  assert.equal(r.status, GOOD, `WRITE(10) at ${lba}`);
}

/** The device's block size must be the 512 bytes the cases are written for. */
async function checkBlockSize(tr: BotTransport): Promise<void> {
  const r = await tr.execute({
    cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    direction: 'in',
    data: new Uint8Array(8),
    timeoutMs: 5000,
  });
  if (r.status !== GOOD) await tr.execute({ cdb: TUR, direction: 'none' }); // a unit attention first
  const again = await tr.execute({
    cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    direction: 'in',
    data: new Uint8Array(8),
  });
  assert.equal(new DataView(again.data.buffer, again.data.byteOffset).getUint32(4), BLOCK, 'block size');
}

/**
 * Runs `request`, which must fail with `code` after one reset recovery that reached the device
 * (when it counts), and checks the device then answers. Returns the error and the time it took.
 */
async function failsWithRecovery(
  ctx: CaseContext,
  tr: BotTransport,
  request: ScsiRequest,
  code: string,
): Promise<{ err: Error & { code?: string; cause?: unknown }; ms: number }> {
  const before = await ctx.countersIfAny();
  // The recoveries from before this command (the open's) are not its own, even in the same millisecond.
  const earlier = ctx.resetStarts.length;
  const t0 = Date.now();
  const err = await rejection(tr.execute(request), `CDB ${request.cdb[0]!.toString(16)}`);
  // Until the transport judged the command failed (its reset recovery began), not until the
  // recovery ended: on a loaded TCG guest the recovery alone took a second.
  const ms = (ctx.resetStarts[earlier] ?? Date.now()) - t0;
  assert.equal(err.code, code, `error code (${err.message})`);
  const after = await ctx.countersIfAny();
  if (before && after)
    assert.equal(after.resets - before.resets, 1, 'Bulk-Only Mass Storage Resets that reached the device');
  await inquiryWorks(tr, `the ${code}`);
  return { err, ms };
}

/** One of the thirteen cases: the host asks `request`, the device's CDB says otherwise. */
function botCase(
  n: number,
  title: string,
  needsBotCases: boolean,
  run: (tr: BotTransport, ctx: CaseContext) => Promise<void>,
): ContractCase {
  return {
    id: `bot-case-${n}`,
    level: 'exchange',
    title: `BOT §6.7 case ${n}: ${title}`,
    // The cases that write use the scratch blocks; only devices that follow the cases (the
    // emulator's RAM disk, in process or behind FunctionFS) are the suite's to write.
    needsBotCases,
    async run(ctx) {
      const tr = await ctx.openBot();
      await run(tr, ctx);
      await inquiryWorks(tr, `case ${n}`);
    },
  };
}

/** The medium at the scratch blocks is unchanged by `fn`. */
async function untouched(tr: BotTransport, blocks: number, fn: () => Promise<void>): Promise<void> {
  const before = await readBlocks(tr, SCRATCH_LBA, blocks);
  await fn();
  assert.deepEqual(await readBlocks(tr, SCRATCH_LBA, blocks), before, 'the medium is untouched');
}

const phaseError = async (ctx: CaseContext, tr: BotTransport, request: ScsiRequest) => {
  await failsWithRecovery(ctx, tr, request, 'E_PHASE_ERROR');
};

export const thirteenCases: ContractCase[] = [
  botCase(1, 'Hn = Dn: TEST UNIT READY with no data is GOOD, residue 0', false, async (tr) => {
    let r = await tr.execute({ cdb: TUR, direction: 'none' });
    if (r.status !== GOOD) r = await tr.execute({ cdb: TUR, direction: 'none' }); // a unit attention once
    assert.deepEqual(brief(r), { status: GOOD, transferred: 0, residue: 0 });
  }),
  botCase(2, 'Hn < Di: INQUIRY sent with no data phase is a phase error, then reset recovery', true, (tr, ctx) =>
    phaseError(ctx, tr, { cdb: INQUIRY, direction: 'none' }),
  ),
  botCase(3, 'Hn < Do: WRITE(10) sent with no data phase is a phase error; nothing is written', true, (tr, ctx) =>
    untouched(tr, 1, () => phaseError(ctx, tr, { cdb: write10(SCRATCH_LBA, 1), direction: 'none' })),
  ),
  botCase(
    4,
    'Hi > Dn: TEST UNIT READY with a 512-byte data-in is GOOD, nothing moved, residue 512',
    true,
    async (tr) => {
      const r = await tr.execute({ cdb: TUR, direction: 'in', data: new Uint8Array(512) });
      assert.deepEqual(brief(r), { status: GOOD, transferred: 0, residue: 512 });
    },
  ),
  botCase(5, 'Hi > Di: INQUIRY (36) into 100 bytes is GOOD with 36 bytes and residue 64', true, async (tr) => {
    const r = await tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(100) });
    assert.deepEqual(brief(r), { status: GOOD, transferred: 36, residue: 64 });
  }),
  botCase(6, 'Hi = Di: READ(10) of 8 blocks moves 4096 bytes, residue 0', false, async (tr) => {
    await checkBlockSize(tr);
    await readBlocks(tr, 0, 8);
  }),
  botCase(7, 'Hi < Di: READ(10) of 2 blocks into 512 bytes is a phase error', true, (tr, ctx) =>
    phaseError(ctx, tr, { cdb: read10(SCRATCH_LBA, 2), direction: 'in', data: new Uint8Array(512) }),
  ),
  botCase(8, 'Hi <> Do: WRITE(10) sent with a data-in phase is a phase error; nothing is written', true, (tr, ctx) =>
    untouched(tr, 1, () =>
      phaseError(ctx, tr, { cdb: write10(SCRATCH_LBA, 1), direction: 'in', data: new Uint8Array(512) }),
    ),
  ),
  botCase(
    9,
    'Ho > Dn: TEST UNIT READY with 512 bytes of data-out is GOOD with residue 512 (bulk-out stalled and cleared)',
    true,
    async (tr) => {
      const r = await tr.execute({ cdb: TUR, direction: 'out', data: new Uint8Array(512) });
      assert.deepEqual([r.status, r.residue], [GOOD, 512]);
    },
  ),
  botCase(10, 'Ho <> Di: INQUIRY sent with a data-out phase is a phase error', true, (tr, ctx) =>
    phaseError(ctx, tr, { cdb: INQUIRY, direction: 'out', data: new Uint8Array(36) }),
  ),
  botCase(
    11,
    'Ho > Do: WRITE(10) of 1 block with 1024 bytes writes the block, GOOD with residue 512',
    true,
    async (tr) => {
      const data = pattern(1024, 11);
      const r = await tr.execute({ cdb: write10(SCRATCH_LBA, 1), direction: 'out', data });
      assert.deepEqual([r.status, r.residue], [GOOD, 512]);
      assert.deepEqual(
        await readBlocks(tr, SCRATCH_LBA, 1),
        data.subarray(0, 512),
        'the block holds the first 512 bytes',
      );
    },
  ),
  botCase(12, 'Ho = Do: WRITE(10) of 2 blocks, read back the same', true, async (tr) => {
    const data = pattern(1024, 12);
    await writeBlocks(tr, SCRATCH_LBA, data);
    assert.deepEqual(await readBlocks(tr, SCRATCH_LBA, 2), data);
  }),
  botCase(13, 'Ho < Do: WRITE(10) of 2 blocks with 512 bytes is a phase error; nothing is written', true, (tr, ctx) =>
    untouched(tr, 2, () =>
      phaseError(ctx, tr, { cdb: write10(SCRATCH_LBA, 2), direction: 'out', data: pattern(512, 13) }),
    ),
  ),
];

const readRequest = (timeoutMs = 3000): ScsiRequest => ({
  cdb: read10(SCRATCH_LBA, 8),
  direction: 'in',
  data: new Uint8Array(4096),
  timeoutMs,
});
const writeRequest = (timeoutMs = 3000): ScsiRequest => ({
  cdb: write10(SCRATCH_LBA, 8),
  direction: 'out',
  data: pattern(4096, 5),
  timeoutMs,
});

function exchangeCase(
  id: string,
  title: string,
  faults: string[],
  run: (tr: BotTransport, ctx: CaseContext) => Promise<void>,
  options: BotTransportOptions = {},
): ContractCase {
  return {
    id,
    level: 'exchange',
    title,
    faults,
    async run(ctx) {
      const tr = await ctx.openBot(options);
      await inquiryWorks(tr, 'open');
      await run(tr, ctx);
    },
  };
}

/** The budget of the timing cases, and how late the transport may judge it spent (reset recovery not included). */
const BUDGET_MS = 2000;
const LATE_MS = 1000;
/** A phase held back this long: per-transfer budgets would fail after HELD_MS + BUDGET_MS, past BUDGET_MS + LATE_MS. */
const HELD_MS = 1500;

/** The command failed when its whole budget ran out: not earlier, and not a second budget later. */
function assertFailedAtBudget(ms: number): void {
  assert.ok(
    ms >= BUDGET_MS - 50 && ms <= BUDGET_MS + LATE_MS,
    `the command failed after ${ms} ms with a ${BUDGET_MS} ms budget`,
  );
}

function timeoutCase(phase: 'cbw' | 'data-in' | 'data-out' | 'csw'): ContractCase {
  const request = phase === 'data-out' ? writeRequest(BUDGET_MS) : readRequest(BUDGET_MS);
  const opcode = request.cdb[0]!;
  const faultPhase = phase === 'cbw' ? 'cbw' : phase === 'csw' ? 'csw' : 'data';
  return exchangeCase(
    `timeout-${phase}`,
    `timeout in the ${phase} phase: E_TIMEOUT within the ${BUDGET_MS} ms budget, reset recovery, device answers`,
    ['no-response'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'no-response', opcode, phase: faultPhase });
      const { ms } = await failsWithRecovery(ctx, tr, request, 'E_TIMEOUT');
      assertFailedAtBudget(ms);
    },
  );
}

export const phaseCases: ContractCase[] = [
  exchangeCase(
    'stall-cbw',
    'a stalled CBW: typed E_STALL after reset recovery, then the device answers',
    ['stall-cbw'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'stall-cbw', opcode: 0x28 });
      await failsWithRecovery(ctx, tr, readRequest(), 'E_STALL');
    },
  ),
  exchangeCase(
    'stall-data-in',
    'a stalled data-in: the halt is cleared, the CSW read: CHECK CONDITION, nothing moved, sense DATA PHASE ERROR',
    ['stall-data-in'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'stall-data-in', opcode: 0x28 });
      const r = await tr.execute(readRequest());
      assert.deepEqual(brief(r), { status: CHECK_CONDITION, transferred: 0, residue: 4096 });
      assert.deepEqual([r.sense?.senseKey, r.sense?.asc], [0x0b, 0x4b], 'ABORTED COMMAND / DATA PHASE ERROR');
      await inquiryWorks(tr, 'the data-in stall');
    },
  ),
  exchangeCase(
    'stall-data-out',
    'a stalled data-out: the halt is cleared, the CSW read: CHECK CONDITION',
    ['stall-data-out'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'stall-data-out', opcode: 0x2a });
      const r = await tr.execute(writeRequest());
      assert.equal(r.status, CHECK_CONDITION);
      await inquiryWorks(tr, 'the data-out stall');
    },
  ),
  exchangeCase(
    'stall-csw',
    'a stalled CSW read is retried once after clearing the halt: GOOD with the data',
    ['stall-csw'],
    async (tr, ctx) => {
      await writeBlocks(tr, SCRATCH_LBA, pattern(4096, 7));
      await ctx.inject({ kind: 'stall-csw', opcode: 0x28 });
      const r = await tr.execute(readRequest());
      assert.deepEqual(brief(r), { status: GOOD, transferred: 4096, residue: 0 });
      assert.deepEqual(r.data, pattern(4096, 7));
    },
  ),
  exchangeCase(
    'stall-csw-twice',
    'a CSW read that stalls twice: typed E_STALL after reset recovery, then the device answers',
    ['stall-csw'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'stall-csw', opcode: 0x28, stalls: 2 });
      await failsWithRecovery(ctx, tr, readRequest(), 'E_STALL');
    },
  ),
  timeoutCase('cbw'),
  timeoutCase('data-in'),
  timeoutCase('data-out'),
  timeoutCase('csw'),
  exchangeCase(
    'timeout-whole-command',
    `timeoutMs is one budget for the whole command: data held back ${HELD_MS} ms, then no CSW: ` +
      `fails at about ${BUDGET_MS} ms, not ${HELD_MS} + ${BUDGET_MS}`,
    ['delay', 'no-response'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'delay', opcode: 0x28, phase: 'data', ms: HELD_MS });
      await ctx.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw' });
      const { ms } = await failsWithRecovery(ctx, tr, readRequest(BUDGET_MS), 'E_TIMEOUT');
      assertFailedAtBudget(ms);
    },
  ),
  exchangeCase(
    'timeout-after-data-stall',
    `after a data stall the CSW read gets only the time left: data held ${HELD_MS} ms then stalled, no CSW: ` +
      `fails at about ${BUDGET_MS} ms`,
    ['delay', 'stall-data-in', 'no-response'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'delay', opcode: 0x28, phase: 'data', ms: HELD_MS });
      await ctx.inject({ kind: 'stall-data-in', opcode: 0x28 });
      await ctx.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw' });
      const { ms } = await failsWithRecovery(ctx, tr, readRequest(BUDGET_MS), 'E_TIMEOUT');
      assertFailedAtBudget(ms);
    },
  ),
  exchangeCase(
    'reset-fails-keeps-error',
    'when reset recovery itself fails, the original E_TIMEOUT stays the error, the reset failure its cause',
    ['no-response', 'reset-stall'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw' });
      await ctx.inject({ kind: 'reset-stall' });
      const err = await rejection(tr.execute(readRequest(BUDGET_MS)), 'READ(10) with no CSW and a failing reset');
      assert.equal(err.code, 'E_TIMEOUT', `the thrown error is the timeout (${err.message})`);
      assert.ok(err.cause && typeof err.cause === 'object', 'the reset failure is kept as the cause');
      assert.equal((err.cause as { code?: string }).code, 'E_IO', `the cause: ${(err.cause as Error).message}`);
      // The device is still mid-command: a reset that works brings it back.
      await tr.reset();
      await inquiryWorks(tr, 'a reset that worked');
    },
  ),
  {
    id: 'cancel-before-sent',
    level: 'exchange',
    title: 'an AbortSignal aborted before the command: E_CANCELLED and nothing reaches the device',
    async run(ctx) {
      const tr = await ctx.openBot();
      const before = await ctx.countersIfAny();
      const abort = new AbortController();
      abort.abort();
      const err = await rejection(
        tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36), signal: abort.signal }),
        'INQUIRY with an aborted signal',
      );
      assert.equal(err.code, 'E_CANCELLED', err.message);
      const after = await ctx.countersIfAny();
      if (before && after) assert.deepEqual(after, before, 'nothing reached the device');
      await inquiryWorks(tr, 'the cancelled command');
    },
  },
  exchangeCase(
    'cancel-during',
    'aborted while the device holds the CSW back: E_CANCELLED soon after, reset recovery, device answers',
    ['no-response'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw' });
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 200);
      const { ms } = await failsWithRecovery(ctx, tr, { ...readRequest(10_000), signal: abort.signal }, 'E_CANCELLED');
      assert.ok(ms < 200 + LATE_MS + 400, `cancelled after ${ms} ms (aborted at 200 ms, budget 10 s)`);
    },
  ),
  exchangeCase(
    'csw-instead-of-data',
    'a device that skips its data phase and sends the CSW (13 bytes, USBS) in its place: taken as the CSW — ' +
      'CHECK CONDITION, nothing moved, sense NOT READY',
    ['csw-instead-of-data', 'not-ready'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'not-ready', opcode: 0x28 });
      await ctx.inject({ kind: 'csw-instead-of-data', opcode: 0x28 });
      const before = await ctx.counters();
      const r = await tr.execute(readRequest());
      assert.deepEqual(brief(r), { status: CHECK_CONDITION, transferred: 0, residue: 4096 });
      assert.deepEqual([r.sense?.senseKey, r.sense?.asc, r.sense?.ascq], [2, 4, 1], 'NOT READY / BECOMING READY');
      assert.equal((await ctx.counters()).resets - before.resets, 0, 'no reset recovery');
      await inquiryWorks(tr, 'the skipped data phase');
    },
  ),
  exchangeCase(
    'csw-like-data',
    '13 bytes starting USBS after a full chunk of a longer data phase are data: GOOD, 1037 moved, residue 499',
    ['short-data'],
    async (tr, ctx) => {
      const blocks = pattern(1536, 9);
      blocks.set([0x55, 0x53, 0x42, 0x53, 1, 2, 3, 4, 0, 0, 0, 0, 0], 1024); // "USBS", a tag, residue 0, status 0
      await writeBlocks(tr, SCRATCH_LBA, blocks);
      await ctx.inject({ kind: 'short-data', opcode: 0x28, bytes: 1037 });
      const r = await tr.execute({
        cdb: read10(SCRATCH_LBA, 3),
        direction: 'in',
        data: new Uint8Array(1536),
        timeoutMs: 3000,
      });
      assert.deepEqual(brief(r), { status: GOOD, transferred: 1037, residue: 499 });
      assert.deepEqual(r.data, blocks.subarray(0, 1037));
      await inquiryWorks(tr, 'the CSW-like data');
    },
    // the smallest URBs a fast path takes, so that the 13 bytes arrive alone after a full one
    { chunkSize: 1024, depth: 2 },
  ),
];

export const exchangeCases: ContractCase[] = [
  {
    id: 'exchange-round-trip',
    level: 'exchange',
    title: 'BotTransport over the backend: INQUIRY and READ CAPACITY are GOOD, the block size is 512',
    async run(ctx) {
      const tr = await ctx.openBot();
      await inquiryWorks(tr, 'open');
      await checkBlockSize(tr);
    },
  },
  ...thirteenCases,
  ...phaseCases,
];
