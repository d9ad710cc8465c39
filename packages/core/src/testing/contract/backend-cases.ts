/**
 * The UsbBackend contract (usb/backend.ts TSDoc), checked with raw BOT bytes: enumeration,
 * claim, control, bulk round trips, stalls, one pending transfer per endpoint, close, timeouts.
 */
import assert from 'node:assert/strict';
import type { TransferResult } from '../../usb/backend.js';
import { botAlternate } from './context.js';
import type { ContractCase } from './env.js';
import {
  INQUIRY_36,
  cbwBytes,
  expectCsw,
  named,
  rawInquiry,
  rawResetRecovery,
  settledWithin,
  statusOf,
} from './raw-bot.js';

const SPEEDS = ['low', 'full', 'high', 'super', 'super-plus', 'unknown'];
const GET_MAX_LUN = { requestType: 0xa1, request: 0xfe, value: 0 };

export const backendCases: ContractCase[] = [
  {
    id: 'list',
    level: 'backend',
    title: 'list() returns well-formed device descriptions, the device under test among them',
    async run(ctx) {
      const devices = await ctx.env.backend.list();
      assert.ok(Array.isArray(devices));
      for (const d of devices) {
        assert.equal(d.backend, ctx.env.backend.name);
        assert.ok(typeof d.id === 'string' && d.id.length > 0, 'id');
        for (const n of [d.vendorId, d.productId])
          assert.ok(Number.isInteger(n) && n >= 0 && n <= 0xffff, `VID/PID ${n}`);
        assert.ok(Number.isInteger(d.busNumber) && d.busNumber >= 0, 'busNumber');
        assert.ok(Number.isInteger(d.deviceAddress) && d.deviceAddress >= 0, 'deviceAddress');
        assert.ok(
          d.portNumbers.every((p) => Number.isInteger(p) && p >= 0),
          'portNumbers',
        );
        assert.ok(SPEEDS.includes(d.speed), `speed ${d.speed}`);
        for (const c of d.configurations) {
          for (const i of c.interfaces) {
            for (const e of i.endpoints)
              assert.ok(e.address >= 0 && e.address <= 0xff && e.maxPacketSize > 0, `endpoint ${JSON.stringify(e)}`);
          }
        }
      }
      const chosen = ctx.select(devices);
      assert.ok(chosen, 'a BOT mass-storage device must be listed');
      assert.ok(
        botAlternate(chosen)!.endpoints.filter((e) => e.transferType === 'bulk').length >= 2,
        'two bulk endpoints',
      );
    },
  },
  {
    id: 'open-claim',
    level: 'backend',
    title: 'open, claim the BOT interface and select its alternate setting',
    async run(ctx) {
      const t = await ctx.openRaw();
      assert.equal(t.handle.info.id, t.info.id);
      assert.equal(typeof (await t.handle.kernelDriverActive(t.interfaceNumber)), 'boolean');
      assert.equal(typeof t.handle.capabilities.kernelDriver, 'boolean');
    },
  },
  {
    id: 'get-max-lun',
    level: 'backend',
    title: 'Get Max LUN (class request 0xFE) answers one byte 0..15, or stalls (single LUN)',
    async run(ctx) {
      const t = await ctx.openRaw();
      const r = await t.handle.controlTransfer({ ...GET_MAX_LUN, index: t.interfaceNumber }, 1, ctx.timeoutMs);
      assert.ok(['ok', 'stall'].includes(statusOf(r)), `status ${statusOf(r)}`);
      if (statusOf(r) === 'ok') {
        assert.equal(r.actualLength, 1);
        assert.ok(r.data![0]! <= 15);
      }
    },
  },
  {
    id: 'round-trip',
    level: 'backend',
    title: 'a CBW → data-in → CSW round trip in raw bytes (INQUIRY): tag, residue, status',
    async run(ctx) {
      const t = await ctx.openRaw();
      const inquiry = await rawInquiry(t, ctx.timeoutMs);
      assert.ok(inquiry[4]! + 5 >= Math.min(36, inquiry.length), 'additional length covers what came');
      const again = await rawInquiry(t, ctx.timeoutMs); // and the device is in sync for the next command
      assert.deepEqual(Array.from(again), Array.from(inquiry));
    },
  },
  {
    id: 'idle-in',
    level: 'backend',
    title: 'an idle IN NAKs (stays pending) or stalls, as the device does; a stall is cleared by clearHalt',
    async run(ctx) {
      const t = await ctx.openRaw();
      if (ctx.env.idleIn === 'stall') {
        const idle = await t.handle.bulkIn(t.inEp, new Uint8Array(13), 2000);
        assert.deepEqual(named(idle), { status: 'stall', actualLength: 0 }, 'an IN with no command');
        await t.handle.clearHalt(t.inEp);
      } else {
        const abort = new AbortController();
        const idle = t.handle.bulkIn(t.inEp, new Uint8Array(13), 2000, abort.signal);
        assert.equal(await settledWithin(idle, 100), false, 'an IN with no command stays pending (NAK)');
        abort.abort();
        assert.equal(statusOf(await idle), 'cancelled');
      }
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'invalid-cbw-stall',
    level: 'backend',
    title:
      'an invalid CBW is refused with a stall (BOT §6.6.1); reset recovery + clear halt make the next command work',
    async run(ctx) {
      const t = await ctx.openRaw();
      const bad = cbwBytes(36, true, INQUIRY_36, 0x21434241); // wrong signature
      const out = await t.handle.bulkOut(t.outEp, bad.bytes, ctx.timeoutMs);
      assert.equal(statusOf(out), ctx.env.invalidCbwOut, 'the invalid CBW');
      if (ctx.env.invalidCbwOut === 'ok') {
        assert.equal(
          statusOf(await t.handle.bulkIn(t.inEp, new Uint8Array(13), ctx.timeoutMs)),
          'stall',
          'bulk-in after the invalid CBW',
        );
      }
      await rawResetRecovery(t, ctx.timeoutMs);
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'data-stall-clear-halt',
    level: 'backend',
    title: 'a stall in the data phase is cleared with clearHalt; the CSW then reads and the next command works',
    faults: ['stall-data-in'],
    async run(ctx) {
      const t = await ctx.openRaw();
      await ctx.inject({ kind: 'stall-data-in', opcode: 0x12 });
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      assert.equal(statusOf(await t.handle.bulkOut(t.outEp, bytes, ctx.timeoutMs)), 'ok');
      const din = await t.handle.bulkIn(t.inEp, new Uint8Array(36), ctx.timeoutMs);
      assert.equal(statusOf(din), 'stall');
      const still = await t.handle.bulkIn(t.inEp, new Uint8Array(13), ctx.timeoutMs);
      assert.equal(statusOf(still), 'stall', 'a halted endpoint keeps stalling until cleared');
      await t.handle.clearHalt(t.inEp);
      const csw = new Uint8Array(13);
      const { residue } = expectCsw(csw, await t.handle.bulkIn(t.inEp, csw, ctx.timeoutMs), tag);
      assert.equal(residue, 36 - din.actualLength);
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'second-pending-refused',
    level: 'backend',
    title: 'a second transfer on a busy endpoint is E_BAD_INPUT; the first is cancelled by its AbortSignal',
    needsNak: true,
    async run(ctx) {
      const t = await ctx.openRaw();
      const abort = new AbortController();
      const first = t.handle.bulkIn(t.inEp, new Uint8Array(13), 10 * ctx.timeoutMs, abort.signal);
      assert.equal(await settledWithin(first, 50), false, 'an idle IN stays pending');
      await assert.rejects(t.handle.bulkIn(t.inEp, new Uint8Array(13), ctx.timeoutMs), { code: 'E_BAD_INPUT' });
      const t0 = Date.now();
      setTimeout(() => abort.abort(), 100);
      assert.equal(statusOf(await first), 'cancelled');
      assert.ok(Date.now() - t0 < 3000, `abort settled after ${Date.now() - t0} ms`);
      await rawInquiry(t, ctx.timeoutMs); // nothing was lost
    },
  },
  {
    id: 'close-cancels',
    level: 'backend',
    title: 'close() settles a pending transfer with status cancelled before it resolves',
    needsNak: true,
    async run(ctx) {
      const t = await ctx.openRaw();
      const seen: { outcome: TransferResult | Error | null } = { outcome: null };
      const pending = t.handle.bulkIn(t.inEp, new Uint8Array(13), 10 * ctx.timeoutMs).then(
        (r) => (seen.outcome = r),
        (e: unknown) => (seen.outcome = e instanceof Error ? e : new Error(String(e))),
      );
      assert.equal(await settledWithin(pending, 50), false, 'an idle IN stays pending');
      await t.handle.close(); // straight away: releasing first would wait for the pending IN (node-usb)
      await Promise.resolve();
      const { outcome } = seen;
      assert.ok(
        outcome && !(outcome instanceof Error),
        `settled before close() resolved: ${outcome instanceof Error ? outcome.message : JSON.stringify(outcome)}`,
      );
      assert.deepEqual(named(outcome), { status: 'cancelled', actualLength: 0 });
    },
  },
  {
    id: 'after-close-gone',
    level: 'backend',
    title: 'every call after close() throws E_DEVICE_GONE',
    async run(ctx) {
      const t = await ctx.openRaw();
      await t.handle.close();
      const gone = { code: 'E_DEVICE_GONE' };
      await assert.rejects(t.handle.bulkIn(t.inEp, new Uint8Array(13), ctx.timeoutMs), gone);
      await assert.rejects(
        t.handle.bulkOut(t.outEp, cbwBytes(0, false, [0, 0, 0, 0, 0, 0]).bytes, ctx.timeoutMs),
        gone,
      );
      await assert.rejects(
        t.handle.controlTransfer({ ...GET_MAX_LUN, index: t.interfaceNumber }, 1, ctx.timeoutMs),
        gone,
      );
      await assert.rejects(t.handle.clearHalt(t.inEp), gone);
      await assert.rejects(t.handle.claimInterface(t.interfaceNumber), gone);
      await assert.rejects(t.handle.releaseInterface(t.interfaceNumber), gone);
    },
  },
  {
    id: 'timeout',
    level: 'backend',
    title: 'an IN transfer the device does not answer resolves with status timeout after about timeoutMs',
    needsNak: true,
    async run(ctx) {
      const t = await ctx.openRaw();
      const started = Date.now();
      const r = await t.handle.bulkIn(t.inEp, new Uint8Array(13), 300);
      const elapsed = Date.now() - started;
      assert.deepEqual(named(r), { status: 'timeout', actualLength: 0 });
      assert.ok(elapsed >= 250 && elapsed < 5000, `took ${elapsed} ms`);
      await rawInquiry(t, ctx.timeoutMs); // a timed-out read consumed nothing
    },
  },
  {
    id: 'csw-timeout-raw',
    level: 'backend',
    title: 'a CSW held back: the raw read times out after about timeoutMs; class reset and clear halts resync',
    faults: ['no-response'],
    async run(ctx) {
      const t = await ctx.openRaw();
      await ctx.inject({ kind: 'no-response', opcode: 0x12, phase: 'csw' });
      const { bytes } = cbwBytes(36, true, INQUIRY_36);
      assert.equal(statusOf(await t.handle.bulkOut(t.outEp, bytes, 2000)), 'ok', 'CBW');
      assert.equal(statusOf(await t.handle.bulkIn(t.inEp, new Uint8Array(36), 2000)), 'ok', 'INQUIRY data');
      const t0 = Date.now();
      const timedOut = await t.handle.bulkIn(t.inEp, new Uint8Array(13), 300);
      const took = Date.now() - t0;
      assert.equal(statusOf(timedOut), 'timeout', 'CSW read with a 300 ms budget');
      assert.ok(took >= 250 && took <= 3000, `the timeout took ${took} ms`);
      await rawResetRecovery(t, 2000);
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'bot-exchange-round-trip',
    level: 'backend',
    title:
      'botExchange (required on every handle) reports each phase of an INQUIRY: CBW 31 bytes, the data, a 13-byte CSW',
    async run(ctx) {
      const t = await ctx.openRaw();
      assert.equal(typeof t.handle.botExchange, 'function', `${ctx.env.name}: the handle has no botExchange`);
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      const data = new Uint8Array(36);
      const r = await t.handle.botExchange({
        cbw: bytes,
        outEndpoint: t.outEp,
        inEndpoint: t.inEp,
        data: { direction: 'in', buffer: data },
        timeoutMs: ctx.timeoutMs,
      });
      assert.deepEqual(named(r.cbw), { status: 'ok', actualLength: 31 }, 'CBW phase');
      assert.ok(r.data, 'a data phase was reported');
      assert.equal(statusOf(r.data), 'ok', 'data phase');
      assert.ok(r.data.actualLength >= 5 && r.data.actualLength <= 36, `data length ${r.data.actualLength}`);
      assert.ok(r.csw, `the CSW was read after a data phase that moved ${r.data.actualLength} of 36 bytes`);
      const { status, residue } = expectCsw(r.csw.bytes, r.csw, tag);
      assert.deepEqual([status, residue], [0, 36 - r.data.actualLength], 'CSW status and residue');
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'bot-exchange-stops-at-stall',
    level: 'backend',
    title: 'botExchange stops at a stalled data phase (no CSW read); core then clears the halt, reads the CSW',
    faults: ['stall-data-in'],
    async run(ctx) {
      const t = await ctx.openRaw();
      assert.equal(typeof t.handle.botExchange, 'function', `${ctx.env.name}: the handle has no botExchange`);
      await ctx.inject({ kind: 'stall-data-in', opcode: 0x12 });
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      const r = await t.handle.botExchange({
        cbw: bytes,
        outEndpoint: t.outEp,
        inEndpoint: t.inEp,
        data: { direction: 'in', buffer: new Uint8Array(36) },
        timeoutMs: ctx.timeoutMs,
      });
      assert.equal(statusOf(r.cbw), 'ok', 'CBW phase');
      assert.equal(r.data && statusOf(r.data), 'stall', 'data phase');
      assert.equal(r.csw, undefined, 'no CSW read after a data phase that did not move every byte');
      await t.handle.clearHalt(t.inEp);
      const csw = new Uint8Array(13);
      expectCsw(csw, await t.handle.bulkIn(t.inEp, csw, ctx.timeoutMs), tag);
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
  {
    id: 'bot-exchange-csw-in-data',
    level: 'backend',
    title: 'botExchange reports a CSW sent in place of data as a 13-byte short data phase: no CSW read, no verdict',
    faults: ['csw-instead-of-data'],
    async run(ctx) {
      const t = await ctx.openRaw();
      assert.equal(typeof t.handle.botExchange, 'function', `${ctx.env.name}: the handle has no botExchange`);
      await ctx.inject({ kind: 'csw-instead-of-data', opcode: 0x12 });
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      const data = new Uint8Array(36);
      const r = await t.handle.botExchange({
        cbw: bytes,
        outEndpoint: t.outEp,
        inEndpoint: t.inEp,
        data: { direction: 'in', buffer: data },
        timeoutMs: ctx.timeoutMs,
      });
      assert.deepEqual(r.data && named(r.data), { status: 'ok', actualLength: 13 }, 'data phase');
      assert.equal(r.csw, undefined, 'no CSW read after a short data phase');
      expectCsw(data, { status: r.data!.status, actualLength: 13 }, tag); // the bytes in the data buffer are the CSW
      await rawInquiry(t, ctx.timeoutMs);
    },
  },
];
