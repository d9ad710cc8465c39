import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BotTransport } from '../src/bot/bot-transport.js';
import { ErrorCodes, UsbScsiError } from '../src/errors.js';
import { TransferStatus } from '../src/usb/backend.js';
import { ScriptedHandle, cswFor, type Step } from './scripted-handle.js';

// The behaviours that used to differ between backends (issue: one BOT state machine in core),
// checked on the generic exchange over a scripted device: what a device that skips its data
// phase gets, and that timeoutMs is one budget for the whole command.

const IN = 0x81;
const OUT = 0x02;
const READ10_1 = Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);
const resetRecoverySteps: Step[] = [
  { op: 'control', request: 0xff },
  { op: 'clearHalt', endpoint: IN },
  { op: 'clearHalt', endpoint: OUT },
];

async function open(...steps: Step[]) {
  const handle = new ScriptedHandle().play({ op: 'control', request: 0xfe, reply: Uint8Array.of(0) }, ...steps);
  const bot = await BotTransport.open(handle, { resetDelayMs: 0, resetOnOpen: false });
  return { handle, bot };
}

function expectCode(err: unknown, code: string) {
  expect(err).toBeInstanceOf(UsbScsiError);
  expect((err as UsbScsiError).code).toBe(code);
}

/** The timeouts the transfers after the CBW were given, in order. */
function transferTimeouts(handle: ScriptedHandle): Array<number | undefined> {
  return handle.calls.filter((c) => c.op === 'bulkIn' || c.op === 'bulkOut').map((c) => c.timeoutMs);
}

describe('a device that skips its data phase', () => {
  it(
    'sends its CSW (13 bytes, USBS) in place of the data: accepted as the CSW, nothing ' + 'transferred, no reset',
    async () => {
      const { bot, handle } = await open({ op: 'bulkOut' }, { op: 'bulkIn', reply: cswFor(1, 512) });
      const r = await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512), autoSense: false });
      expect(r).toMatchObject({ status: 2, transferred: 0, residue: 512 });
      expect(r.data.length).toBe(0);
      expect(handle.remaining).toBe(0); // no second CSW read, no reset recovery
    },
  );

  it('the same rule holds for a data phase streamed to a file: the 13 bytes written there are the CSW', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bot-fd-'));
    const fd = openSync(join(dir, 'out.bin'), 'w+');
    try {
      const { bot, handle } = await open();
      (handle as { capabilities: object }).capabilities = { fdStreaming: true, kernelDriver: false };
      handle.botExchange = async (request) => {
        handle.calls.push({ op: 'bulkOut', endpoint: OUT, length: 31, data: request.cbw.slice() });
        writeSync(fd, cswFor(1, 4096)(handle), 0, 13, 512); // the engine streamed the device's 13 bytes to the file
        return {
          cbw: { status: TransferStatus.OK, actualLength: 31 },
          data: { status: TransferStatus.OK, actualLength: 13 },
        };
      };
      const r = await bot.execute({
        cdb: READ10_1,
        direction: 'in',
        dataFd: { fd, position: 512, length: 4096 },
        autoSense: false,
      });
      expect(r).toMatchObject({ status: 2, transferred: 0, residue: 4096 });
      expect(handle.remaining).toBe(0);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('13 bytes that are not signed USBS are short data, and the CSW is read after them', async () => {
    const notCsw = new Uint8Array(13).fill(0x55);
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: notCsw },
      { op: 'bulkIn', reply: cswFor(0, 512 - 13) },
    );
    const r = await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) });
    expect(r).toMatchObject({ status: 0, transferred: 13, residue: 499 });
    expect(handle.remaining).toBe(0);
  });

  it('a data phase of exactly 13 bytes asked is data even when it reads USBS', async () => {
    const looksLikeCsw = new Uint8Array(13);
    looksLikeCsw.set([0x55, 0x53, 0x42, 0x53]);
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: looksLikeCsw },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    const r = await bot.execute({
      cdb: Uint8Array.of(0x12, 0, 0, 0, 13, 0),
      direction: 'in',
      data: new Uint8Array(13),
    });
    expect(r).toMatchObject({ status: 0, transferred: 13 });
    expect(Array.from(r.data)).toEqual(Array.from(looksLikeCsw));
    expect(handle.remaining).toBe(0);
  });
});

describe('timeoutMs is one budget for the whole command', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance', 'hrtime', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function openTimed(...steps: Step[]) {
    const opened = await open(...steps);
    opened.handle.elapse = (ms) => vi.advanceTimersByTime(ms);
    return opened;
  }

  it('a slow CBW and data phase leave the later transfers only the time left', async () => {
    const { bot, handle } = await openTimed(
      { op: 'bulkOut', takesMs: 300 },
      { op: 'bulkIn', reply: new Uint8Array(512), takesMs: 500 },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512), timeoutMs: 1000 });
    expect(transferTimeouts(handle)).toEqual([1000, 700, 200]);
  });

  it('after a data stall the CSW read gets the time left, not a fresh budget', async () => {
    const { bot, handle } = await openTimed(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL, takesMs: 800 },
      { op: 'clearHalt', endpoint: IN },
      { op: 'bulkIn', reply: cswFor(1, 512) },
    );
    const r = await bot.execute({
      cdb: READ10_1,
      direction: 'in',
      data: new Uint8Array(512),
      timeoutMs: 1000,
      autoSense: false,
    });
    expect(r.status).toBe(2);
    expect(transferTimeouts(handle)).toEqual([1000, 1000, 200]);
  });

  it('the retry of a stalled CSW read shares the same deadline', async () => {
    const { bot, handle } = await openTimed(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL, takesMs: 600 },
      { op: 'clearHalt', endpoint: IN },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    await bot.execute({ cdb: Uint8Array.of(0, 0, 0, 0, 0, 0), direction: 'none', timeoutMs: 1000 });
    expect(transferTimeouts(handle)).toEqual([1000, 1000, 400]);
  });

  it('a data phase that spends the whole budget leaves no CSW read: E_TIMEOUT after reset recovery', async () => {
    const { bot, handle } = await openTimed(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL, takesMs: 1000 },
      { op: 'clearHalt', endpoint: IN },
      ...resetRecoverySteps,
    );
    const err = await bot
      .execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512), timeoutMs: 1000 })
      .catch((e) => e);
    expectCode(err, ErrorCodes.TIMEOUT);
    expect(handle.remaining).toBe(0);
  });
});

describe('reset recovery after a broken command', () => {
  it(
    'when the class reset fails after a timeout, the error is still E_TIMEOUT and the ' + 'reset failure is its cause',
    async () => {
      const { bot } = await open(
        { op: 'bulkOut' },
        { op: 'bulkIn', status: TransferStatus.TIMEOUT },
        { op: 'control', request: 0xff, status: TransferStatus.STALL },
      );
      const err = await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) }).catch((e) => e);
      expectCode(err, ErrorCodes.TIMEOUT);
      expectCode(err.cause, ErrorCodes.IO);
      expect(err.cause.message).toMatch(/reset --port/);
      expect(err.details).toMatchObject({ resetFailed: true });
    },
  );

  it(
    'when the halts cannot be cleared because the device left, the command error stays, ' +
      'with E_DEVICE_GONE as cause',
    async () => {
      const { bot, handle } = await open(
        { op: 'bulkOut' },
        { op: 'bulkIn', status: TransferStatus.CANCELLED },
        { op: 'control', request: 0xff },
      );
      handle.clearHalt = async () => {
        throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'unplugged');
      };
      const err = await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) }).catch((e) => e);
      expectCode(err, ErrorCodes.CANCELLED);
      expectCode(err.cause, ErrorCodes.DEVICE_GONE);
    },
  );
});

describe('an engine exchange (several URBs per data phase)', () => {
  it(
    'a 13-byte CSW-like packet at a chunk boundary inside a longer data phase is data; ' + 'core reads the CSW',
    async () => {
      const { bot, handle } = await open({ op: 'bulkIn', reply: cswFor(0, 1024 - 525) });
      const engineCalls: number[] = [];
      handle.botExchange = async (request) => {
        engineCalls.push(request.timeoutMs);
        // the CSW step answers its tag
        handle.calls.push({ op: 'bulkOut', endpoint: OUT, length: 31, data: request.cbw.slice() });
        const buffer = (request.data as { buffer: Uint8Array }).buffer;
        buffer.fill(0xaa, 0, 512);
        buffer.set(cswFor(0)(handle), 512); // a stray "CSW" right after the first 512-byte chunk
        return {
          cbw: { status: TransferStatus.OK, actualLength: 31 },
          data: { status: TransferStatus.OK, actualLength: 525 },
        };
      };
      const r = await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(1024) });
      expect(r).toMatchObject({ status: 0, transferred: 525, residue: 1024 - 525 });
      expect(r.data[512]).toBe(0x55);
      expect(handle.remaining).toBe(0);
      expect(engineCalls).toEqual([20_000]);
    },
  );
});

describe('quirk needs-start-unit', () => {
  const TUR = Uint8Array.of(0, 0, 0, 0, 0, 0);
  const opcodes = (handle: ScriptedHandle) =>
    handle.calls.filter((c) => c.op === 'bulkOut' && c.length === 31).map((c) => [c.data![15], c.data![19]]);

  it('sends START STOP UNIT (start) once, before the first media access and not before other commands', async () => {
    const handle = new ScriptedHandle().play(
      { op: 'control', request: 0xfe, reply: Uint8Array.of(0) },
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) }, // TEST UNIT READY
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) }, // START STOP UNIT
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(512) },
      { op: 'bulkIn', reply: cswFor(0) }, // READ(10)
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(512) },
      { op: 'bulkIn', reply: cswFor(0) }, // READ(10) again
    );
    const events: string[] = [];
    const bot = await BotTransport.open(handle, {
      resetDelayMs: 0,
      resetOnOpen: false,
      quirks: { needsStartUnit: true },
      onEvent: (e) => events.push(e.type),
    });
    await bot.execute({ cdb: TUR, direction: 'none' });
    await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) });
    await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) });
    expect(opcodes(handle)).toEqual([
      [0x00, 0],
      [0x1b, 0x01],
      [0x28, 0],
      [0x28, 0],
    ]);
    expect(events).toEqual(['start-unit']);
    expect(handle.remaining).toBe(0);
  });

  it('sends nothing extra without the quirk', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(512) },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    await bot.execute({ cdb: READ10_1, direction: 'in', data: new Uint8Array(512) });
    expect(opcodes(handle)).toEqual([[0x28, 0]]);
  });
});
