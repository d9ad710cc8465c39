import { describe, expect, it, vi } from 'vitest';
import { BotTransport } from '../bot/bot-transport.js';
import { ErrorCodes } from '../errors.js';
import { TransferStatus, type BotJobRequest } from '../usb/backend.js';
import type { NativeDeviceHandle, NativeDeviceInfo } from './native-addon.js';
import { EXCHANGE_BLOCK, PHASE_SOURCE, encodeBotJob, takeBlock } from './native-exchange.js';
import { NativeHandle } from './native.js';

const B = EXCHANGE_BLOCK;
const phase = (i: number) => B.headerSize + i * B.phaseSize;

function cbw(length: number, dataIn: boolean, tag: number): Uint8Array {
  const c = new Uint8Array(31);
  c.set([0x55, 0x53, 0x42, 0x43]);
  new DataView(c.buffer).setUint32(4, tag, true);
  new DataView(c.buffer).setUint32(8, length, true);
  c[12] = dataIn ? 0x80 : 0;
  return c;
}

function csw(tag: number, status = 0, residue = 0): Uint8Array {
  const c = new Uint8Array(13);
  c.set([0x55, 0x53, 0x42, 0x53]);
  new DataView(c.buffer).setUint32(4, tag, true);
  new DataView(c.buffer).setUint32(8, residue, true);
  c[12] = status;
  return c;
}

function job(lengths: number[], data: BotJobRequest['data']): BotJobRequest {
  return {
    commands: lengths.map((length, k) => ({
      cbw: cbw(length, data.direction === 'in', 100 + k),
      csw: csw(100 + k),
      length,
    })),
    outEndpoint: 0x02,
    inEndpoint: 0x81,
    timeoutMs: 500,
    data,
  };
}

describe('encodeBotJob: a job as the BOT plan plus a command table', () => {
  it('header, the 3 phases (data covering every command) and one 48-byte entry per command', () => {
    const b = takeBlock();
    const buffer = new Uint8Array(3072);
    const { table, buffer: passed } = encodeBotJob(job([1024, 512, 1536], { direction: 'in', buffer }), 9, b, true);
    const view = new DataView(b.bytes.buffer);
    expect([b.bytes[B.phaseCount], view.getUint32(B.jobCommands, true), view.getUint32(B.opId, true)]).toEqual([
      3, 3, 9,
    ]);
    expect(view.getUint32(B.timeoutMs, true)).toBe(500);
    expect([b.bytes[phase(0) + B.endpoint], b.bytes[phase(0) + B.source]]).toEqual([0x02, PHASE_SOURCE.inline]);
    expect(view.getFloat64(phase(0) + B.length, true)).toBe(31);
    expect([b.bytes[phase(1) + B.endpoint], b.bytes[phase(1) + B.source], b.bytes[phase(1) + B.stage]]).toEqual([
      0x81,
      PHASE_SOURCE.buffer,
      1,
    ]);
    expect(view.getFloat64(phase(1) + B.length, true)).toBe(3072);
    expect([b.bytes[phase(2) + B.endpoint], view.getFloat64(phase(2) + B.length, true)]).toEqual([0x81, 13]);
    expect(passed).toBe(buffer);
    expect(table.length).toBe(3 * B.commandSize);
    const entry = (k: number) => table.subarray(k * B.commandSize, (k + 1) * B.commandSize);
    expect(entry(1).subarray(B.commandBytes, B.commandBytes + 31)).toEqual(cbw(512, true, 101));
    expect(entry(1).subarray(B.commandStatus, B.commandStatus + 13)).toEqual(csw(101));
    expect(new DataView(table.buffer).getUint32(2 * B.commandSize + B.commandLength, true)).toBe(1536);
  });

  it('an fd job: the data phase streams from the position on, never staged', () => {
    const b = takeBlock();
    const { buffer } = encodeBotJob(job([512, 512], { direction: 'out', fd: 7, position: 4096 }), 1, b, true);
    const view = new DataView(b.bytes.buffer);
    expect(buffer).toBeUndefined();
    expect([b.bytes[phase(1) + B.endpoint], b.bytes[phase(1) + B.source], b.bytes[phase(1) + B.stage]]).toEqual([
      0x02,
      PHASE_SOURCE.fd,
      0,
    ]);
    expect([view.getInt32(phase(1) + B.fd, true), view.getFloat64(phase(1) + B.offset, true)]).toEqual([7, 4096]);
  });

  it('refuses a job whose CBWs or buffer do not match its commands (E_BAD_INPUT, nothing encoded)', () => {
    const b = takeBlock();
    const wrongLength = job([512], { direction: 'in', buffer: new Uint8Array(512) });
    wrongLength.commands[0]!.length = 1024;
    const wrongDirection = job([512], { direction: 'in', buffer: new Uint8Array(512) });
    wrongDirection.commands[0]!.cbw[12] = 0;
    const cases: BotJobRequest[] = [
      job([], { direction: 'in', buffer: new Uint8Array(0) }),
      job([512, 512], { direction: 'in', buffer: new Uint8Array(512) }),
      wrongLength,
      wrongDirection,
      { ...job([512], { direction: 'in', buffer: new Uint8Array(512) }), inEndpoint: 0x01 },
    ];
    for (const request of cases) {
      expect(() => encodeBotJob(request, 1, b, false)).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_INPUT }));
    }
  });
});

// ---- NativeHandle.botJob and BotTransport.executeJob over a fake engine ----

const configurations = [
  {
    configurationValue: 1,
    interfaces: [
      {
        interfaceNumber: 0,
        alternateSetting: 0,
        interfaceClass: 8,
        interfaceSubClass: 6,
        interfaceProtocol: 0x50,
        endpoints: [
          { address: 0x81, transferType: 'bulk' as const, maxPacketSize: 512 },
          { address: 0x02, transferType: 'bulk' as const, maxPacketSize: 512 },
        ],
      },
    ],
  },
];
const STICK: NativeDeviceInfo = {
  vendorId: 1,
  productId: 2,
  busNumber: 1,
  deviceAddress: 2,
  portNumbers: [1],
  speed: 'high',
  configurations,
};

/** What the fake engine reports for a job: commands done, then the phases of the one that ended it. */
interface JobFacts {
  done: number | ((commands: number) => number);
  phases?: {
    status: number;
    actual: number;
    bytes?: (table: Uint8Array, done: number) => Uint8Array;
    afterEnd?: (table: Uint8Array, done: number) => Uint8Array;
  }[];
}

function engine(facts: JobFacts) {
  const exchange = vi.fn(async (block: Uint8Array, data?: Uint8Array, table?: Uint8Array) => {
    const view = new DataView(block.buffer, block.byteOffset);
    if (!table) return requestSense(block, view, data!);
    const commands = view.getUint32(B.jobCommands, true);
    const done = typeof facts.done === 'function' ? facts.done(commands) : facts.done;
    view.setUint32(B.jobDone, done, true);
    facts.phases?.forEach((f, i) => {
      block[phase(i) + B.reported] = 1;
      block[phase(i) + B.status] = f.status;
      view.setFloat64(phase(i) + B.actual, f.actual, true);
      if (f.bytes) block.set(f.bytes(table, done), phase(i) + B.inline);
      if (f.afterEnd) {
        const after = f.afterEnd(table, done);
        view.setFloat64(phase(i) + B.afterEndLength, after.length, true);
        block.set(after, phase(i) + B.afterEndBytes);
      }
    });
    return undefined;
  });
  const device = {
    exchange,
    cancel: vi.fn(() => true),
    allocTransferBuffer: vi.fn((n: number) => new ArrayBuffer(n)),
    controlTransfer: vi.fn(async (..._args: unknown[]) => ({
      status: TransferStatus.OK,
      actualLength: 1,
      data: Uint8Array.of(0),
    })),
    clearHalt: vi.fn(async () => undefined),
    claimInterface: vi.fn(async () => undefined),
    releaseInterface: vi.fn(async () => undefined),
    bulkTransfer: vi.fn(async () => ({ status: TransferStatus.TIMEOUT, actualLength: 0 })),
  };
  return device as typeof device & NativeDeviceHandle;
}

/** A single command (core's REQUEST SENSE after a CHECK CONDITION): NOT READY, BECOMING READY. */
function requestSense(block: Uint8Array, view: DataView, data: Uint8Array): undefined {
  const tag = view.getUint32(phase(0) + B.inline + 4, true);
  data.fill(0).set([0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x01]);
  const facts = [31, data.length, 13];
  facts.forEach((actual, i) => {
    block[phase(i) + B.reported] = 1;
    view.setFloat64(phase(i) + B.actual, actual, true);
  });
  block.set(csw(tag), phase(2) + B.inline);
  return undefined;
}

const native = (h: NativeDeviceHandle, platform: NodeJS.Platform = 'linux') =>
  new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, platform);
const stageOf = (h: ReturnType<typeof engine>) => (h.exchange.mock.calls[0]![0] as Uint8Array)[phase(1) + B.stage];
/** The expected CSW of command `k` in the table the engine was given. */
const expectedCsw = (table: Uint8Array, k: number) =>
  table.slice(k * B.commandSize + B.commandStatus, k * B.commandSize + B.commandStatus + 13);
const tagOf = (table: Uint8Array, k: number) => new DataView(table.buffer).getUint32(k * B.commandSize + 4, true);

describe('NativeHandle.botJob', () => {
  it('every command done: the count, no stopped facts, one engine call with the table', async () => {
    const h = engine({ done: (n) => n });
    const r = await native(h).botJob(job([512, 512, 512], { direction: 'in', buffer: new Uint8Array(1536) }));
    expect(r).toEqual({ done: 3 });
    expect(h.exchange).toHaveBeenCalledTimes(1);
    expect((h.exchange.mock.calls[0]![2] as Uint8Array).length).toBe(3 * B.commandSize);
  });

  it("stopped at command 1: that command's phases as botExchange reports them", async () => {
    const h = engine({
      done: 1,
      phases: [
        { status: 0, actual: 31 },
        { status: 0, actual: 512 },
        { status: 0, actual: 13, bytes: (t) => csw(tagOf(t, 1), 1) },
      ],
    });
    const r = await native(h).botJob(job([512, 512, 512], { direction: 'in', buffer: new Uint8Array(1536) }));
    expect(r).toEqual({
      done: 1,
      stopped: {
        cbw: { status: TransferStatus.OK, actualLength: 31 },
        data: { status: TransferStatus.OK, actualLength: 512 },
        csw: { status: TransferStatus.OK, actualLength: 13, bytes: csw(101, 1) },
      },
    });
  });

  it('ordinary memory is staged through pinned memory on Linux; pinned memory, other platforms are not', async () => {
    const plain = engine({ done: 1 });
    await native(plain).botJob(job([512], { direction: 'in', buffer: new Uint8Array(512) }));
    expect(stageOf(plain)).toBe(1);
    const pinnedEngine = engine({ done: 1 });
    const handle = native(pinnedEngine);
    const pinned = handle.allocTransferBuffer(512)!;
    await handle.botJob(job([512], { direction: 'in', buffer: pinned.bytes }));
    expect(stageOf(pinnedEngine)).toBe(0);
    const mac = engine({ done: 1 });
    await native(mac, 'darwin').botJob(job([512], { direction: 'in', buffer: new Uint8Array(512) }));
    expect(stageOf(mac)).toBe(0);
  });

  it('an abort cancels the job by its opId', async () => {
    const h = engine({ done: 0 });
    let settle: (v: undefined) => void = () => {};
    h.exchange.mockImplementation(() => new Promise<undefined>((res) => (settle = res)));
    const ac = new AbortController();
    const pending = native(h).botJob({
      ...job([512, 512], { direction: 'in', buffer: new Uint8Array(1024) }),
      signal: ac.signal,
    });
    ac.abort();
    const opId = new DataView((h.exchange.mock.calls[0]![0] as Uint8Array).buffer).getUint32(B.opId, true);
    expect(h.cancel).toHaveBeenCalledWith(opId);
    settle(undefined);
    await pending;
  });
});

describe('BotTransport.executeJob judges the command that ended a job as execute() judges one', () => {
  const READ = (lba: number) => Uint8Array.of(0x28, 0, 0, 0, 0, lba, 0, 0, 1, 0);
  const commands = [0, 1, 2, 3].map((lba) => ({ cdb: READ(lba), length: 512 }));

  async function open(facts: JobFacts) {
    const h = engine(facts);
    const bot = await BotTransport.open(native(h, 'darwin'), { resetDelayMs: 0, resetOnOpen: false });
    return { bot, h };
  }

  it('the expected CSW of each command is signature, its own tag, residue 0 and status 0', async () => {
    const { bot, h } = await open({ done: 4 });
    expect(await bot.executeJob({ commands, direction: 'in', data: new Uint8Array(2048) })).toEqual({ done: 4 });
    const table = h.exchange.mock.calls[0]![2] as Uint8Array;
    for (let k = 0; k < 4; k++) expect(expectedCsw(table, k)).toEqual(csw(tagOf(table, k)));
    expect(new Set([0, 1, 2, 3].map((k) => tagOf(table, k))).size).toBe(4);
  });

  it('a CSW with status 1 mid-job: CHECK CONDITION for that command, no reset recovery', async () => {
    const { bot, h } = await open({
      done: 2,
      phases: [
        { status: 0, actual: 31 },
        { status: 0, actual: 512 },
        { status: 0, actual: 13, bytes: (t, done) => csw(tagOf(t, done), 1) },
      ],
    });
    const r = await bot.executeJob({ commands, direction: 'in', data: new Uint8Array(2048) });
    expect(r.done).toBe(2);
    expect(r.result).toMatchObject({ status: 2, transferred: 512, residue: 0 });
    expect([r.result?.sense?.senseKey, r.result?.sense?.asc, r.result?.sense?.ascq]).toEqual([2, 4, 1]);
    expect(h.exchange).toHaveBeenCalledTimes(2); // the job, then its REQUEST SENSE
    expect(h.controlTransfer.mock.calls.map((c) => c[1])).toEqual([0xfe]); // GET MAX LUN only
  });

  it('a short data phase mid-job, its CSW behind it: GOOD with what moved and the residue the CSW gives', async () => {
    const { bot, h } = await open({
      done: 1,
      phases: [
        { status: 0, actual: 31 },
        { status: 0, actual: 200, afterEnd: (t, done) => csw(tagOf(t, done), 0, 312) },
      ],
    });
    const r = await bot.executeJob({ commands, direction: 'in', data: new Uint8Array(2048) });
    expect(r.done).toBe(1);
    expect(r.result).toMatchObject({ status: 0, transferred: 200, residue: 312 });
    expect(r.result?.data.length).toBe(200);
    expect(h.bulkTransfer).not.toHaveBeenCalled();
  });

  it('a short data phase mid-job, nothing behind it: core reads the CSW itself (none comes: E_TIMEOUT)', async () => {
    const { bot } = await open({
      done: 1,
      phases: [
        { status: 0, actual: 31 },
        { status: 0, actual: 200 },
      ],
    });
    // Nothing queued behind the short packet: core reads the CSW itself, as for one command.
    const r = bot.executeJob({ commands, direction: 'in', data: new Uint8Array(2048), timeoutMs: 300 });
    await expect(r).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT });
  });

  it('a CSW with the wrong tag mid-job: E_PHASE_ERROR after reset recovery', async () => {
    const { bot, h } = await open({
      done: 3,
      phases: [
        { status: 0, actual: 31 },
        { status: 0, actual: 512 },
        { status: 0, actual: 13, bytes: (t, done) => csw(tagOf(t, done) + 1) },
      ],
    });
    await expect(bot.executeJob({ commands, direction: 'in', data: new Uint8Array(2048) })).rejects.toMatchObject({
      code: ErrorCodes.PHASE_ERROR,
    });
    expect(h.controlTransfer.mock.calls.map((c) => c[1])).toEqual([0xfe, 0xff]);
  });

  it('a data buffer that is not the sum of the commands is refused before anything is sent', async () => {
    const { bot, h } = await open({ done: 0 });
    await expect(bot.executeJob({ commands, direction: 'in', data: new Uint8Array(1024) })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    expect(h.exchange).not.toHaveBeenCalled();
  });
});
