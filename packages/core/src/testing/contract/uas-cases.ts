/**
 * Whole commands through core's UasTransport: what BOT's cases check that holds for any
 * transport (INQUIRY, READ CAPACITY, data both ways, CHECK CONDITION as a result, a CDB the
 * transport cannot carry refused before anything is sent), then what only UAS has: several
 * commands in flight by tag, ABORT TASK and LOGICAL UNIT RESET on a command that never ends,
 * and a device that breaks the protocol (wrong tag, overlapped tag).
 */
import assert from 'node:assert/strict';
import type { ScsiResult } from '../../transport.js';
import type { UasEvent } from '../../uas/events.js';
import type { UasTransport, UasTransportOptions } from '../../uas/uas-transport.js';
import type { CaseContext } from './context.js';
import type { ContractCase } from './env.js';
import { rejection } from './raw-bot.js';

const GOOD = 0;
const CHECK_CONDITION = 2;
const BLOCK = 512;
const INQUIRY = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const READ_CAPACITY_10 = Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
const TUR = Uint8Array.of(0, 0, 0, 0, 0, 0);
const read10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x28, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);
const write10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x2a, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
/** Blocks the cases may overwrite on a device with programmable faults (the emulator's RAM disk). */
const SCRATCH_LBA = 300;
/** Budget of a command the cases expect to time out. */
const BUDGET_MS = 300;
const TMF_MS = 500;

async function inquiryWorks(tr: UasTransport, after: string): Promise<void> {
  const r = await tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36) });
  assert.equal(r.status, GOOD, `INQUIRY after ${after}`);
  assert.ok(r.transferred >= 5, `INQUIRY data after ${after}`);
}

/** Block count from READ CAPACITY(10), after one unit attention if the device has one to report. */
async function capacity(tr: UasTransport): Promise<{ blocks: number; blockSize: number }> {
  let r: ScsiResult = await tr.execute({ cdb: READ_CAPACITY_10, direction: 'in', data: new Uint8Array(8) });
  if (r.status !== GOOD) {
    await tr.execute({ cdb: TUR, direction: 'none' });
    r = await tr.execute({ cdb: READ_CAPACITY_10, direction: 'in', data: new Uint8Array(8) });
  }
  assert.equal(r.status, GOOD, 'READ CAPACITY(10)');
  assert.equal(r.transferred, 8, 'READ CAPACITY(10) returns 8 bytes');
  const v = new DataView(r.data.buffer, r.data.byteOffset, 8);
  return { blocks: v.getUint32(0) + 1, blockSize: v.getUint32(4) };
}

type UasCaseRun = (tr: UasTransport, ctx: CaseContext, events: UasEvent[]) => Promise<void>;

function uasCase(
  id: string,
  title: string,
  faults: string[] | undefined,
  run: UasCaseRun,
  options: UasTransportOptions = {},
): ContractCase {
  return {
    id,
    level: 'uas',
    title,
    ...(faults ? { faults } : {}),
    async run(ctx) {
      const events: UasEvent[] = [];
      const tr = await ctx.openUas({ ...options, onEvent: (e) => events.push(e) });
      await run(tr, ctx, events);
    },
  };
}

/** The one case of timing: the command failed within its budget plus the task management's. */
function assertEndedInTime(ms: number, budgetMs: number): void {
  assert.ok(
    ms >= budgetMs - 50 && ms <= budgetMs + 3 * TMF_MS + 1500,
    `the command ended after ${ms} ms (${budgetMs} ms budget)`,
  );
}

export const uasCases: ContractCase[] = [
  uasCase(
    'uas-inquiry-capacity',
    'INQUIRY and READ CAPACITY(10) through UAS: GOOD, whole data',
    undefined,
    async (tr) => {
      await inquiryWorks(tr, 'open');
      const { blocks, blockSize } = await capacity(tr);
      assert.ok(blocks > 0 && blockSize > 0, `capacity ${blocks} × ${blockSize}`);
    },
  ),

  uasCase(
    'uas-data-both-ways',
    'WRITE(10) then READ(10) through UAS: the same bytes come back (scratch blocks of a programmable device)',
    [],
    async (tr, ctx) => {
      if (typeof ctx.env.device === 'string') ctx.skip(`writes only where the case owns the medium: ${ctx.env.device}`);
      const { blockSize } = await capacity(tr);
      if (blockSize !== BLOCK) ctx.skip(`the cases are written for ${BLOCK}-byte blocks, not ${blockSize}`);
      const data = pattern(8 * BLOCK, 5);
      const w = await tr.execute({ cdb: write10(SCRATCH_LBA, 8), direction: 'out', data });
      assert.deepEqual([w.status, w.transferred, w.residue], [GOOD, 8 * BLOCK, 0], 'WRITE(10)');
      const r = await tr.execute({ cdb: read10(SCRATCH_LBA, 8), direction: 'in', data: new Uint8Array(8 * BLOCK) });
      assert.deepEqual([r.status, r.transferred, r.residue], [GOOD, 8 * BLOCK, 0], 'READ(10)');
      assert.deepEqual(r.data, data, 'the blocks read back are the blocks written');
    },
  ),

  uasCase(
    'uas-check-condition',
    'READ(10) past the last block: CHECK CONDITION with ILLEGAL REQUEST sense from the Sense IU, as a result',
    undefined,
    async (tr) => {
      const { blocks } = await capacity(tr);
      const r = await tr.execute({ cdb: read10(blocks, 1), direction: 'in', data: new Uint8Array(BLOCK) });
      assert.equal(r.status, CHECK_CONDITION, 'status');
      assert.equal(r.sense?.senseKey, 0x05, 'sense key ILLEGAL REQUEST');
      await inquiryWorks(tr, 'a CHECK CONDITION');
    },
  ),

  uasCase(
    'uas-long-cdb-refused',
    'a 17-byte CDB is refused with E_BAD_INPUT before anything is sent (no additional CDB length)',
    undefined,
    async (tr, ctx) => {
      const before = await ctx.countersIfAny();
      const err = await rejection(tr.execute({ cdb: new Uint8Array(17), direction: 'none' }), '17-byte CDB');
      assert.equal(err.code, 'E_BAD_INPUT');
      const after = await ctx.countersIfAny();
      if (before?.uasCommands !== undefined)
        assert.equal(after?.uasCommands, before.uasCommands, 'nothing reached the device');
      await inquiryWorks(tr, 'a refused CDB');
    },
  ),

  uasCase(
    'uas-queued-reads',
    'READ(10)s issued at once run concurrently by tag; each returns its own blocks',
    undefined,
    async (tr) => {
      const { blockSize, blocks } = await capacity(tr);
      const n = Math.min(8, tr.queueDepth * 2);
      const lbas = Array.from({ length: n }, (_, i) => (i * 37) % Math.max(1, blocks - 1));
      const alone: Uint8Array[] = [];
      for (const lba of lbas) {
        const r = await tr.execute({ cdb: read10(lba, 1), direction: 'in', data: new Uint8Array(blockSize) });
        assert.equal(r.status, GOOD, `READ(10) of block ${lba}`);
        alone.push(r.data.slice());
      }
      tr.maxOutstanding = 0;
      const together = await Promise.all(
        lbas.map((lba) => tr.execute({ cdb: read10(lba, 1), direction: 'in', data: new Uint8Array(blockSize) })),
      );
      together.forEach((r, i) => {
        assert.equal(r.status, GOOD, `queued READ(10) of block ${lbas[i]}`);
        assert.deepEqual(r.data, alone[i], `queued READ(10) of block ${lbas[i]} returns that block`);
      });
      assert.ok(
        tr.maxOutstanding >= Math.min(2, tr.queueDepth),
        `at most ${tr.maxOutstanding} commands were outstanding at once (queue depth ${tr.queueDepth})`,
      );
    },
  ),

  uasCase(
    'uas-timeout-abort-task',
    'a command whose status never comes: E_TIMEOUT at its budget, ABORT TASK for its tag completes, the device answers',
    ['uas-lost-status'],
    async (tr, ctx, events) => {
      await ctx.inject({ kind: 'uas-lost-status', opcode: 0x28 });
      const started = performance.now();
      const err = await rejection(
        tr.execute({ cdb: read10(0, 1), direction: 'in', data: new Uint8Array(BLOCK), timeoutMs: BUDGET_MS }),
        'READ(10) with its status lost',
      );
      assertEndedInTime(performance.now() - started, BUDGET_MS);
      assert.equal(err.code, 'E_TIMEOUT');
      const abort = events.find((e) => e.type === 'abort-task');
      assert.ok(abort, `ABORT TASK reported (events: ${JSON.stringify(events)})`);
      assert.match(abort.type === 'abort-task' ? abort.outcome : '', /complete|succeeded/);
      assert.ok(!events.some((e) => e.type === 'lun-reset' || e.type === 'usb-reset'), 'no further recovery');
      await inquiryWorks(tr, 'ABORT TASK');
    },
    { taskManagementTimeoutMs: TMF_MS },
  ),

  uasCase(
    'uas-cancel-abort-task',
    'a command cancelled by its AbortSignal mid-flight: E_CANCELLED, ABORT TASK, the device answers',
    ['uas-lost-status'],
    async (tr, ctx, events) => {
      await ctx.inject({ kind: 'uas-lost-status', opcode: 0x28 });
      const controller = new AbortController();
      const pending = tr.execute({
        cdb: read10(0, 1),
        direction: 'in',
        data: new Uint8Array(BLOCK),
        timeoutMs: 10_000,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 50);
      const err = await rejection(pending, 'cancelled READ(10)');
      assert.equal(err.code, 'E_CANCELLED');
      assert.ok(
        events.some((e) => e.type === 'abort-task'),
        'ABORT TASK reported',
      );
      await inquiryWorks(tr, 'a cancelled command');
    },
    { taskManagementTimeoutMs: TMF_MS },
  ),

  uasCase(
    'uas-lun-reset-escalation',
    'ABORT TASK refused (TMF FAILED): LOGICAL UNIT RESET follows and completes; E_TIMEOUT; the device answers',
    ['uas-lost-status', 'uas-abort-fails'],
    async (tr, ctx, events) => {
      await ctx.inject({ kind: 'uas-lost-status', opcode: 0x28 });
      await ctx.inject({ kind: 'uas-abort-fails' });
      const err = await rejection(
        tr.execute({ cdb: read10(0, 1), direction: 'in', data: new Uint8Array(BLOCK), timeoutMs: BUDGET_MS }),
        'READ(10) with its status lost',
      );
      assert.equal(err.code, 'E_TIMEOUT');
      assert.deepEqual(
        events.filter((e) => e.type === 'abort-task' || e.type === 'lun-reset').map((e) => e.type),
        ['abort-task', 'lun-reset'],
      );
      const reset = events.find((e) => e.type === 'lun-reset');
      assert.match(reset?.type === 'lun-reset' ? reset.outcome : '', /complete/);
      await inquiryWorks(tr, 'LOGICAL UNIT RESET');
    },
    { taskManagementTimeoutMs: TMF_MS },
  ),

  uasCase(
    'uas-wrong-tag',
    'a Sense IU carrying a tag no command holds: E_PHASE_ERROR (never a hang), recovery, the device answers',
    ['uas-wrong-tag'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'uas-wrong-tag', opcode: 0x00 });
      const err = await rejection(tr.execute({ cdb: TUR, direction: 'none', timeoutMs: 5000 }), 'TEST UNIT READY');
      assert.equal(err.code, 'E_PHASE_ERROR');
      await inquiryWorks(tr, 'a wrong tag');
    },
    { taskManagementTimeoutMs: TMF_MS },
  ),

  uasCase(
    'uas-overlapped-tag',
    'a Response IU OVERLAPPED TAG ATTEMPTED in place of the status: E_PHASE_ERROR naming it; the device answers',
    ['uas-overlapped-tag'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'uas-overlapped-tag', opcode: 0x00 });
      const err = await rejection(tr.execute({ cdb: TUR, direction: 'none' }), 'TEST UNIT READY');
      assert.equal(err.code, 'E_PHASE_ERROR');
      assert.match(err.message, /overlapped tag/);
      await inquiryWorks(tr, 'an overlapped tag');
    },
  ),

  uasCase(
    'uas-ready-reposted',
    'a bridge that sends Read/Write Ready on streams: the status read is posted again inside the plan; data intact',
    ['uas-ready-on-streams'],
    async (tr, ctx) => {
      if (tr.streams === 0) ctx.skip('Ready IUs on streams: this device runs without streams');
      if (typeof ctx.env.device === 'string') ctx.skip(`writes only where the case owns the medium: ${ctx.env.device}`);
      await ctx.inject({ kind: 'uas-ready-on-streams', opcode: 0x2a });
      await ctx.inject({ kind: 'uas-ready-on-streams', opcode: 0x28 });
      const data = pattern(4 * BLOCK, 9);
      const before = tr.readyIus;
      const w = await tr.execute({ cdb: write10(SCRATCH_LBA, 4), direction: 'out', data });
      assert.deepEqual([w.status, w.transferred], [GOOD, 4 * BLOCK], 'WRITE(10) after Write Ready');
      const r = await tr.execute({ cdb: read10(SCRATCH_LBA, 4), direction: 'in', data: new Uint8Array(4 * BLOCK) });
      assert.deepEqual([r.status, r.transferred], [GOOD, 4 * BLOCK], 'READ(10) after Read Ready');
      assert.deepEqual(r.data, data, 'the blocks read back are the blocks written');
      assert.equal(tr.readyIus - before, 2, 'one Ready IU per command, each re-posted on by the backend');
    },
  ),

  uasCase(
    'uas-ready-malformed',
    'a Ready IU on streams that is not the 4 bytes the spec gives it: E_PHASE_ERROR (never a hang), ' +
      'ABORT TASK, the device answers',
    ['uas-ready-on-streams'],
    async (tr, ctx, events) => {
      if (tr.streams === 0) ctx.skip('Ready IUs on streams: this device runs without streams');
      await ctx.inject({ kind: 'uas-ready-on-streams', opcode: 0x28, bytes: 8 });
      const err = await rejection(
        tr.execute({ cdb: read10(0, 1), direction: 'in', data: new Uint8Array(BLOCK), timeoutMs: 5000 }),
        'READ(10) announced by an 8-byte Read Ready',
      );
      assert.equal(err.code, 'E_PHASE_ERROR');
      assert.ok(
        events.some((e) => e.type === 'abort-task'),
        'ABORT TASK reported',
      );
      await inquiryWorks(tr, 'a malformed Ready IU');
    },
    { taskManagementTimeoutMs: TMF_MS },
  ),

  uasCase(
    'uas-job-queued',
    'a job of 16 READs: several in flight by tag, every byte in its place (the blocks read one by one)',
    undefined,
    async (tr) => {
      const { blockSize } = await capacity(tr);
      const per = 4;
      const commands = Array.from({ length: 16 }, (_, i) => ({ cdb: read10(i * per, per), length: per * blockSize }));
      const data = new Uint8Array(16 * per * blockSize);
      tr.maxOutstanding = 0;
      const r = await tr.executeJob({ commands, direction: 'in', data });
      assert.deepEqual(r, { done: 16 });
      assert.ok(tr.maxOutstanding >= Math.min(2, tr.queueDepth), `at most ${tr.maxOutstanding} outstanding at once`);
      for (let i = 0; i < 16; i += 5) {
        const one = await tr.execute({
          cdb: read10(i * per, per),
          direction: 'in',
          data: new Uint8Array(per * blockSize),
        });
        assert.deepEqual(
          data.subarray(i * per * blockSize, (i + 1) * per * blockSize),
          one.data,
          `command ${i}'s blocks`,
        );
      }
    },
  ),

  uasCase(
    'uas-job-check-condition-mid',
    "the 4th READ of a queued job ends CHECK CONDITION (NOT READY) in its Sense IU: done 3, that one's result",
    ['not-ready'],
    async (tr, ctx) => {
      await ctx.inject({ kind: 'not-ready', opcode: 0x28, skip: 3 });
      const commands = Array.from({ length: 8 }, (_, i) => ({ cdb: read10(i * 2, 2), length: 2 * BLOCK }));
      const r = await tr.executeJob({ commands, direction: 'in', data: new Uint8Array(8 * 2 * BLOCK) });
      assert.equal(r.done, 3);
      assert.equal(r.result?.status, CHECK_CONDITION);
      assert.deepEqual(
        [r.result?.sense?.senseKey, r.result?.sense?.asc, r.result?.sense?.ascq],
        [2, 4, 1],
        'NOT READY',
      );
      await inquiryWorks(tr, 'a job that stopped');
    },
  ),
];
