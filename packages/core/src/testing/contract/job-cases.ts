/**
 * Jobs through core's BotTransport (`executeJob`): READs or WRITEs back to back, run by the
 * backend's engine where it has one (native: the next CBW from the previous CSW's completion)
 * and over `botExchange` elsewhere. Each CSW must be a plain success; the first command that is
 * not ends the job and is judged as `execute` judges one, with nothing sent after it.
 */
import assert from 'node:assert/strict';
import type { BotTransport } from '../../bot/bot-transport.js';
import type { ScsiJob } from '../../transport.js';
import type { CaseContext } from './context.js';
import type { ContractCase } from './env.js';
import { SCRATCH_LBA, brief, inquiryWorks, pattern, read10, readBlocks, write10 } from './exchange-cases.js';
import { rejection } from './raw-bot.js';

const GOOD = 0;
const CHECK_CONDITION = 2;
const BLOCK = 512;
const COMMANDS = 8;
/** Blocks per command. */
const PER = 2;
const BUDGET_MS = 1500;
const LATE_MS = 1000;

function readJob(lba: number, data: Uint8Array, extra: Partial<ScsiJob> = {}): ScsiJob {
  const commands = Array.from({ length: data.length / (PER * BLOCK) }, (_, k) => ({
    cdb: read10(lba + k * PER, PER),
    length: PER * BLOCK,
  }));
  return { commands, direction: 'in', data, timeoutMs: 3000, ...extra };
}

/** Runs `job`, which must stop at command `at` with a result; checks that nothing after it reached the device. */
async function stopsAt(ctx: CaseContext, tr: BotTransport, job: ScsiJob, at: number, extraCommands = 0) {
  const before = await ctx.counters();
  const r = await tr.executeJob(job);
  const after = await ctx.counters();
  assert.equal(r.done, at, 'commands done before the one that ended the job');
  assert.ok(r.result, 'the result of the command that ended the job');
  assert.equal(after.commands - before.commands, at + 1 + extraCommands, 'commands that reached the device');
  assert.equal(after.resets - before.resets, 0, 'no reset recovery');
  return r.result;
}

function jobCase(
  id: string,
  title: string,
  faults: string[],
  run: (tr: BotTransport, ctx: CaseContext) => Promise<void>,
  needsBotCases = false,
): ContractCase {
  return {
    id,
    level: 'exchange',
    title,
    faults,
    needsBotCases,
    async run(ctx) {
      const tr = await ctx.openBot();
      await inquiryWorks(tr, 'open');
      await run(tr, ctx);
      await inquiryWorks(tr, `job case ${id}`);
    },
  };
}

export const jobCases: ContractCase[] = [
  jobCase(
    'job-read',
    `a READ job of ${COMMANDS} commands: done ${COMMANDS}, the bytes of single READs`,
    [],
    async (tr) => {
      const data = new Uint8Array(COMMANDS * PER * BLOCK).fill(0xee);
      const r = await tr.executeJob(readJob(0, data));
      assert.deepEqual(r, { done: COMMANDS });
      assert.deepEqual(data, await readBlocks(tr, 0, COMMANDS * PER), 'the job read what single READs read');
    },
  ),
  jobCase(
    'job-write',
    `a WRITE job of ${COMMANDS} commands: done ${COMMANDS}, the medium holds what it sent`,
    [],
    async (tr) => {
      const data = pattern(COMMANDS * PER * BLOCK, 23);
      const commands = Array.from({ length: COMMANDS }, (_, k) => ({
        cdb: write10(SCRATCH_LBA + k * PER, PER),
        length: PER * BLOCK,
      }));
      assert.deepEqual(await tr.executeJob({ commands, direction: 'out', data }), { done: COMMANDS });
      assert.deepEqual(await readBlocks(tr, SCRATCH_LBA, COMMANDS * PER), data, 'the medium after the job');
    },
    true,
  ),
  jobCase(
    'job-check-condition-mid',
    'the 4th READ of a job fails (NOT READY): done 3, that one CHECK CONDITION with its sense, nothing after it sent',
    ['not-ready'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'not-ready', opcode: 0x28, skip: 3 });
      const data = new Uint8Array(COMMANDS * PER * BLOCK);
      const result = await stopsAt(ctx, tr, readJob(0, data), 3, 1); // + its REQUEST SENSE
      assert.equal(result.status, CHECK_CONDITION);
      assert.deepEqual([result.sense?.senseKey, result.sense?.asc, result.sense?.ascq], [2, 4, 1], 'NOT READY');
      const whole = 3 * PER * BLOCK;
      assert.deepEqual(data.subarray(0, whole), await readBlocks(tr, 0, 3 * PER), 'the 3 commands done');
    },
  ),
  jobCase(
    'job-short-data-mid',
    'the 3rd READ of a job sends 512 of its 1024 bytes: done 2, that one GOOD with 512 moved and residue 512',
    ['short-data'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'short-data', opcode: 0x28, skip: 2, bytes: 512 });
      const result = await stopsAt(ctx, tr, readJob(0, new Uint8Array(COMMANDS * PER * BLOCK)), 2);
      assert.deepEqual(brief(result), { status: GOOD, transferred: 512, residue: 512 });
    },
  ),
  jobCase(
    'job-abort-mid',
    'aborted while the 3rd READ of a job waits for its data: E_CANCELLED soon after, reset recovery, ' +
      'nothing after it sent',
    ['delay'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'delay', opcode: 0x28, phase: 'data', ms: 3000, skip: 2 });
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 300);
      const before = await ctx.counters();
      const t0 = Date.now();
      const job = readJob(0, new Uint8Array(COMMANDS * PER * BLOCK), { signal: abort.signal, timeoutMs: 10_000 });
      const err = await rejection(tr.executeJob(job), 'the aborted job');
      const ms = Date.now() - t0;
      assert.equal(err.code, 'E_CANCELLED', err.message);
      assert.ok(ms < 300 + LATE_MS + 400, `cancelled after ${ms} ms (aborted at 300 ms)`);
      const after = await ctx.counters();
      assert.equal(after.commands - before.commands, 3, 'commands that reached the device');
      assert.equal(after.resets - before.resets, 1, 'reset recovery');
    },
  ),
  jobCase(
    'job-deadline-mid',
    `the 3rd READ of a job gets no CSW: E_TIMEOUT after its own ${BUDGET_MS} ms budget, reset recovery, ` +
      'nothing after it sent',
    ['no-response'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw', skip: 2 });
      const before = await ctx.counters();
      const t0 = Date.now();
      const job = readJob(0, new Uint8Array(COMMANDS * PER * BLOCK), { timeoutMs: BUDGET_MS });
      const err = await rejection(tr.executeJob(job), 'the job');
      const ms = Date.now() - t0;
      assert.equal(err.code, 'E_TIMEOUT', err.message);
      assert.ok(ms >= BUDGET_MS - 50 && ms < BUDGET_MS + LATE_MS, `failed after ${ms} ms (budget ${BUDGET_MS})`);
      const after = await ctx.counters();
      assert.equal(after.commands - before.commands, 3, 'commands that reached the device');
      assert.equal(after.resets - before.resets, 1, 'reset recovery');
    },
  ),
];
