import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../errors.js';
import type { BotExchangeRequest } from '../usb/backend.js';
import { NativeHandle } from './native.js';
import type { NativeDeviceHandle, NativeDeviceInfo } from './native-addon.js';
import { TransferStatus } from '../usb/backend.js';
import { BotTransport } from '../bot/bot-transport.js';
import {
  EXCHANGE_BLOCK,
  PHASE_ENDS,
  PHASE_SOURCE,
  PHASE_START,
  decodeFacts,
  encodeBotPlan,
  encodePlan,
  giveBack,
  takeBlock,
  type ExchangePlan,
} from './native-exchange.js';

const HEADER = new URL('../../../../native/src/common/exchange_block.h', import.meta.url);

/** `constexpr size_t kName = expr;` and enum members `kName = N` of exchange_block.h, evaluated. */
function headerConstants(): Map<string, number> {
  const text = readFileSync(HEADER, 'utf8').replace(/\/\/.*$/gm, '');
  const values = new Map<string, number>();
  for (const m of text.matchAll(/constexpr\s+size_t\s+(k\w+)\s*=\s*([^;]+);/g)) {
    const expr = m[2]!.replace(/k\w+/g, (name) => {
      const v = values.get(name);
      if (v === undefined) throw new Error(`${m[1]} uses ${name} before it is defined`);
      return String(v);
    });
    if (!/^[\d\s+*()]+$/.test(expr)) throw new Error(`unexpected expression for ${m[1]}: ${expr}`);
    values.set(m[1]!, Function(`return (${expr});`)() as number);
  }
  for (const e of text.matchAll(/enum\s+\w+\s*:\s*unsigned char\s*\{([^}]*)\}/g)) {
    for (const member of e[1]!.matchAll(/(k\w+)\s*=\s*(\d+)/g)) values.set(member[1]!, Number(member[2]));
  }
  return values;
}

const lowerFirst = (s: string): string => s[0]!.toLowerCase() + s.slice(1);

describe('the exchange block layout matches native/src/common/exchange_block.h', () => {
  const header = headerConstants();

  it('every size and offset, both ways (no constant on one side only)', () => {
    const layout = [...header].filter(
      ([name]) => !/^k(Source|Start|Ends)[A-Z]|^k(Ok|Stall|Timeout|Overflow|Cancelled)$/.test(name),
    );
    expect(Object.fromEntries(layout.map(([name, v]) => [lowerFirst(name.slice(1)), v]))).toEqual({
      ...EXCHANGE_BLOCK,
    });
  });

  it('sources, starts and status numbers', () => {
    expect({
      inline: header.get('kSourceInline'),
      buffer: header.get('kSourceBuffer'),
      fd: header.get('kSourceFd'),
      side: header.get('kSourceSide'),
    }).toEqual({ ...PHASE_SOURCE });
    expect({ whenBack: header.get('kEndsWhenBack'), ifIncomplete: header.get('kEndsIfIncomplete') }).toEqual({
      ...PHASE_ENDS,
    });
    expect({ atOnce: header.get('kStartAtOnce'), afterPrevious: header.get('kStartAfterPrevious') }).toEqual({
      ...PHASE_START,
    });
    expect({
      OK: header.get('kOk'),
      STALL: header.get('kStall'),
      TIMEOUT: header.get('kTimeout'),
      OVERFLOW: header.get('kOverflow'),
      CANCELLED: header.get('kCancelled'),
    }).toEqual({ ...TransferStatus });
  });

  it('fields do not overlap and fit their phase', () => {
    const B = EXCHANGE_BLOCK;
    const fields: [string, number, number][] = [
      ['endpoint', B.endpoint, 1],
      ['source', B.source, 1],
      ['start', B.start, 1],
      ['status', B.status, 1],
      ['streamId', B.streamId, 4],
      ['chunkSize', B.chunkSize, 4],
      ['depth', B.depth, 4],
      ['length', B.length, 8],
      ['offset', B.offset, 8],
      ['fd', B.fd, 4],
      ['reported', B.reported, 1],
      ['stage', B.stage, 1],
      ['actual', B.actual, 8],
      ['inline', B.inline, B.inlineMax],
      ['afterEndLength', B.afterEndLength, 8],
      ['afterEndBytes', B.afterEndBytes, B.afterEndMax],
      ['repostLength', B.repostLength, 1],
      ['ends', B.ends, 1],
      ['repost', B.repost, B.repostMax],
    ];
    const used = new Array<string | undefined>(B.phaseSize);
    for (const [name, at, size] of fields) {
      for (let i = at; i < at + size; i++) {
        expect(i, `${name} runs past the phase`).toBeLessThan(B.phaseSize);
        expect(used[i], `${name} overlaps ${used[i]}`).toBeUndefined();
        used[i] = name;
      }
    }
    expect(B.size).toBe(B.headerSize + B.maxPhases * B.phaseSize);
  });

  it('header fields do not overlap and fit the header; a job entry holds a CBW, a CSW and a length', () => {
    const B = EXCHANGE_BLOCK;
    const header: [string, number, number][] = [
      ['phaseCount', B.phaseCount, 1],
      ['timeoutMs', B.timeoutMs, 4],
      ['opId', B.opId, 4],
      ['jobCommands', B.jobCommands, 4],
      ['jobDone', B.jobDone, 4],
      ['reposts', B.reposts, 4],
    ];
    const used = new Array<string | undefined>(B.headerSize);
    for (const [name, at, size] of header) {
      for (let i = at; i < at + size; i++) {
        expect(i, `${name} runs past the header`).toBeLessThan(B.headerSize);
        expect(used[i], `${name} overlaps ${used[i]}`).toBeUndefined();
        used[i] = name;
      }
    }
    expect(B.commandStatus).toBe(B.commandBytes + B.commandBytesSize);
    expect(B.commandLength).toBe(B.commandStatus + B.commandStatusSize);
    expect(B.commandSize).toBe(B.commandLength + 4);
  });
});

function cbw(length: number, dataIn: boolean, tag = 7): Uint8Array {
  const c = new Uint8Array(31);
  c.set([0x55, 0x53, 0x42, 0x43]);
  new DataView(c.buffer).setUint32(4, tag, true);
  new DataView(c.buffer).setUint32(8, length, true);
  c[12] = dataIn ? 0x80 : 0;
  return c;
}

function phaseAt(bytes: Uint8Array, i: number) {
  const at = EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return {
    endpoint: bytes[at + EXCHANGE_BLOCK.endpoint],
    source: bytes[at + EXCHANGE_BLOCK.source],
    start: bytes[at + EXCHANGE_BLOCK.start],
    length: view.getFloat64(at + EXCHANGE_BLOCK.length, true),
    offset: view.getFloat64(at + EXCHANGE_BLOCK.offset, true),
    fd: view.getInt32(at + EXCHANGE_BLOCK.fd, true),
    chunkSize: view.getUint32(at + EXCHANGE_BLOCK.chunkSize, true),
    depth: view.getUint32(at + EXCHANGE_BLOCK.depth, true),
    streamId: view.getUint32(at + EXCHANGE_BLOCK.streamId, true),
    inline: bytes.slice(at + EXCHANGE_BLOCK.inline, at + EXCHANGE_BLOCK.inline + EXCHANGE_BLOCK.inlineMax),
  };
}

describe('encodeBotPlan: one BOT command as a 3-phase plan', () => {
  it('CBW inline at once, data in the caller buffer after it, 13-byte CSW inline after that', () => {
    const b = takeBlock();
    const buffer = new Uint8Array(4096);
    const c = cbw(4096, true);
    const r = encodeBotPlan(
      {
        cbw: c,
        outEndpoint: 0x02,
        inEndpoint: 0x81,
        timeoutMs: 20_000,
        data: { direction: 'in', buffer },
        chunkSize: 65536,
        depth: 8,
      },
      9,
      b,
    );
    expect(r).toEqual({ buffer, hasData: true });
    expect(b.bytes[EXCHANGE_BLOCK.phaseCount]).toBe(3);
    expect(b.view.getUint32(EXCHANGE_BLOCK.timeoutMs, true)).toBe(20_000);
    expect(b.view.getUint32(EXCHANGE_BLOCK.opId, true)).toBe(9);
    const [p0, p1, p2] = [0, 1, 2].map((i) => phaseAt(b.bytes, i));
    expect(p0).toMatchObject({ endpoint: 0x02, source: PHASE_SOURCE.inline, start: PHASE_START.atOnce, length: 31 });
    expect([...p0!.inline.subarray(0, 31)]).toEqual([...c]);
    expect(p1).toMatchObject({
      endpoint: 0x81,
      source: PHASE_SOURCE.buffer,
      start: PHASE_START.afterPrevious,
      length: 4096,
      offset: 0,
      chunkSize: 65536,
      depth: 8,
    });
    expect(p2).toMatchObject({
      endpoint: 0x81,
      source: PHASE_SOURCE.inline,
      start: PHASE_START.afterPrevious,
      length: 13,
    });
  });

  it('a command without data is the same plan whatever the depth and chunk size (a TUR never pays for them)', () => {
    const plan = (tuning: { depth?: number; chunkSize?: number }): number[] => {
      const b = takeBlock();
      encodeBotPlan({ cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 20_000, ...tuning }, 7, b);
      const bytes = [...b.bytes];
      giveBack(b);
      return bytes;
    };
    const depth1 = plan({ depth: 1 });
    expect(plan({ depth: 4 })).toEqual(depth1);
    expect(plan({ depth: 8, chunkSize: 1 << 20 })).toEqual(depth1);
    expect(plan({})).toEqual(depth1);
  });

  it('an fd data-out phase on the OUT endpoint; no data: two phases and no buffer', () => {
    const b = takeBlock();
    encodeBotPlan(
      {
        cbw: cbw(1 << 20, false),
        outEndpoint: 1,
        inEndpoint: 0x82,
        timeoutMs: 1,
        data: { direction: 'out', fd: 9, length: 1 << 20, position: 2 ** 40 },
      },
      1,
      b,
    );
    expect(phaseAt(b.bytes, 1)).toMatchObject({
      endpoint: 1,
      source: PHASE_SOURCE.fd,
      fd: 9,
      length: 1 << 20,
      offset: 2 ** 40,
      chunkSize: 0,
      depth: 0,
    });
    const none = takeBlock();
    expect(encodeBotPlan({ cbw: cbw(0, false), outEndpoint: 1, inEndpoint: 0x82, timeoutMs: 5 }, 1, none)).toEqual({
      buffer: undefined,
      hasData: false,
    });
    expect(none.bytes[EXCHANGE_BLOCK.phaseCount]).toBe(2);
    expect(phaseAt(none.bytes, 1)).toMatchObject({
      endpoint: 0x82,
      source: PHASE_SOURCE.inline,
      length: 13,
      start: PHASE_START.afterPrevious,
    });
  });

  const base: BotExchangeRequest = { cbw: cbw(0, false), outEndpoint: 0x02, inEndpoint: 0x81, timeoutMs: 1000 };
  it.each<[string, Partial<BotExchangeRequest> | Record<string, unknown>, RegExp]>([
    ['a 30-byte CBW', { cbw: new Uint8Array(30) }, /exactly 31 bytes/],
    ['a CBW without USBC', { cbw: new Uint8Array(31) }, /signature USBC/],
    ['an IN endpoint as outEndpoint', { outEndpoint: 0x81 }, /OUT endpoint/],
    ['an OUT endpoint as inEndpoint', { inEndpoint: 0x02 }, /IN endpoint/],
    ['the control endpoint', { outEndpoint: 0 }, /outEndpoint/],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs/],
    ['a fractional timeout', { timeoutMs: 1.5 }, /timeoutMs/],
    ['chunkSize not a multiple of 1024', { chunkSize: 1500 }, /multiple of 1024/],
    ['chunkSize above 64 MiB', { chunkSize: 128 << 20 }, /chunkSize/],
    ['depth 0', { depth: 0 }, /depth/],
    ['depth 65', { depth: 65 }, /depth/],
    [
      'a data length the CBW does not declare',
      { data: { direction: 'in', buffer: new Uint8Array(8) } },
      /dCBWDataTransferLength/,
    ],
    [
      'a direction the CBW does not declare',
      { cbw: cbw(8, false), data: { direction: 'in', buffer: new Uint8Array(8) } },
      /direction flag/,
    ],
    [
      'a data direction that is neither',
      { cbw: cbw(8, true), data: { direction: 'up', buffer: new Uint8Array(8) } },
      /direction/,
    ],
    ['a negative fd', { cbw: cbw(8, true), data: { direction: 'in', fd: -1, length: 8, position: 0 } }, /data.fd/],
    [
      'a fractional position',
      { cbw: cbw(8, true), data: { direction: 'in', fd: 3, length: 8, position: 0.5 } },
      /data.position/,
    ],
  ])('refuses %s with E_BAD_INPUT', (_name, patch, message) => {
    expect(() => encodeBotPlan({ ...base, ...patch } as BotExchangeRequest, 1, takeBlock())).toThrow(
      expect.objectContaining({ code: ErrorCodes.BAD_INPUT, message: expect.stringMatching(message) }),
    );
  });
});

describe('encodePlan: general plans', () => {
  it('a UAS-shaped plan: streams, inline and buffer phases', () => {
    const b = takeBlock();
    const buffer = new Uint8Array(8192);
    encodePlan(
      {
        timeoutMs: 100,
        buffer,
        phases: [
          { endpoint: 0x83, start: 'at-once', streamId: 5, source: { kind: 'inline', length: 32 } },
          {
            endpoint: 0x81,
            start: 'at-once',
            streamId: 5,
            source: { kind: 'buffer', offset: 4096, length: 4096 },
            chunkSize: 4096,
            depth: 1,
          },
          { endpoint: 0x04, start: 'at-once', source: { kind: 'inline', bytes: new Uint8Array([1, 2, 3]) } },
        ],
      },
      b,
    );
    expect(b.bytes[EXCHANGE_BLOCK.phaseCount]).toBe(3);
    expect(phaseAt(b.bytes, 0)).toMatchObject({ endpoint: 0x83, streamId: 5, length: 32, source: PHASE_SOURCE.inline });
    expect(phaseAt(b.bytes, 1)).toMatchObject({
      endpoint: 0x81,
      streamId: 5,
      offset: 4096,
      length: 4096,
      source: PHASE_SOURCE.buffer,
    });
    expect([...phaseAt(b.bytes, 2).inline.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
  });

  const ok: ExchangePlan = {
    timeoutMs: 10,
    phases: [{ endpoint: 0x02, start: 'at-once', source: { kind: 'inline', bytes: new Uint8Array(31) } }],
  };
  const withPhase = (phase: Record<string, unknown>, extra: Partial<ExchangePlan> = {}): ExchangePlan =>
    ({ ...ok, ...extra, phases: [{ ...ok.phases[0]!, ...phase }] }) as ExchangePlan;
  it.each<[string, ExchangePlan, RegExp]>([
    ['no phases', { ...ok, phases: [] }, /1 to 4 phases/],
    ['five phases', { ...ok, phases: new Array(5).fill(ok.phases[0]) }, /1 to 4 phases/],
    ['a first phase that waits', withPhase({ start: 'after-previous' }), /first phase starts at once/],
    ['an unknown start', withPhase({ start: 'later' }), /start must be/],
    ['33 inline bytes', withPhase({ source: { kind: 'inline', bytes: new Uint8Array(33) } }), /from 1 to 32/],
    ['inline OUT without bytes', withPhase({ source: { kind: 'inline', length: 4 } }), /carries its bytes/],
    [
      'inline IN with bytes',
      withPhase({ endpoint: 0x81, source: { kind: 'inline', bytes: new Uint8Array(4) } }),
      /a length, not bytes/,
    ],
    ['an inline phase with a depth', withPhase({ depth: 2 }), /one URB/],
    [
      'a buffer phase without a buffer',
      withPhase({ source: { kind: 'buffer', offset: 0, length: 4 } }),
      /needs the plan's buffer/,
    ],
    [
      'a buffer phase past the buffer',
      withPhase({ source: { kind: 'buffer', offset: 4, length: 8 } }, { buffer: new Uint8Array(10) }),
      /exceeds the buffer/,
    ],
    [
      'a zero-length buffer phase',
      withPhase({ source: { kind: 'buffer', offset: 0, length: 0 } }, { buffer: new Uint8Array(10) }),
      /length/,
    ],
    ['a stream id above 65535', withPhase({ streamId: 65536 }), /streamId/],
    ['an unknown source', withPhase({ source: { kind: 'pipe' } }), /source.kind/],
    ['a timeout of 0', { ...ok, timeoutMs: 0 }, /timeoutMs/],
  ])('refuses %s with E_BAD_INPUT', (_name, plan, message) => {
    expect(() => encodePlan(plan, takeBlock())).toThrow(
      expect.objectContaining({ code: ErrorCodes.BAD_INPUT, message: expect.stringMatching(message) }),
    );
  });
});

describe('decodeFacts', () => {
  it('reads phases up to the first one not reported, with the bytes of inline IN phases', () => {
    const b = takeBlock();
    encodePlan(
      {
        timeoutMs: 10,
        phases: [
          { endpoint: 0x02, start: 'at-once', source: { kind: 'inline', bytes: new Uint8Array(31) } },
          { endpoint: 0x81, start: 'after-previous', source: { kind: 'inline', length: 13 } },
          { endpoint: 0x81, start: 'after-previous', source: { kind: 'inline', length: 13 } },
        ],
      },
      b,
    );
    const p = (i: number) => EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
    b.bytes[p(0) + EXCHANGE_BLOCK.reported] = 1;
    b.view.setFloat64(p(0) + EXCHANGE_BLOCK.actual, 31, true);
    b.bytes[p(1) + EXCHANGE_BLOCK.reported] = 1;
    b.bytes[p(1) + EXCHANGE_BLOCK.status] = TransferStatus.STALL;
    b.view.setFloat64(p(1) + EXCHANGE_BLOCK.actual, 3, true);
    b.bytes.set([0x55, 0x53, 0x42], p(1) + EXCHANGE_BLOCK.inline);
    expect(decodeFacts(b, 3, ['n'])).toEqual({
      phases: [
        { status: TransferStatus.OK, actualLength: 31 },
        { status: TransferStatus.STALL, actualLength: 3, bytes: new Uint8Array([0x55, 0x53, 0x42]) },
      ],
      notes: ['n'],
    });
  });

  it('reports what arrived after the URB that ended a phase: the count, and at most 32 of the bytes', () => {
    const b = takeBlock();
    encodePlan(
      {
        timeoutMs: 10,
        buffer: new Uint8Array(8192),
        phases: [
          {
            endpoint: 0x81,
            start: 'at-once',
            source: { kind: 'buffer', offset: 0, length: 8192 },
            chunkSize: 4096,
            depth: 2,
          },
        ],
      },
      b,
    );
    const at = EXCHANGE_BLOCK.headerSize;
    b.bytes[at + EXCHANGE_BLOCK.reported] = 1;
    b.view.setFloat64(at + EXCHANGE_BLOCK.actual, 100, true);
    b.view.setFloat64(at + EXCHANGE_BLOCK.afterEndLength, 4096, true);
    b.bytes.fill(
      0xaa,
      at + EXCHANGE_BLOCK.afterEndBytes,
      at + EXCHANGE_BLOCK.afterEndBytes + EXCHANGE_BLOCK.afterEndMax,
    );
    expect(decodeFacts(b, 1, undefined)).toEqual({
      phases: [
        {
          status: TransferStatus.OK,
          actualLength: 100,
          afterEnd: { length: 4096, bytes: new Uint8Array(32).fill(0xaa) },
        },
      ],
    });
    b.view.setFloat64(at + EXCHANGE_BLOCK.afterEndLength, 0, true);
    expect(decodeFacts(b, 1, undefined).phases[0]).toEqual({ status: TransferStatus.OK, actualLength: 100 });
  });
});

// ---- NativeHandle over a fake engine that writes facts into the block ----

const STICK: NativeDeviceInfo = {
  vendorId: 1,
  productId: 2,
  busNumber: 1,
  deviceAddress: 2,
  portNumbers: [1],
  speed: 'high',
  configurations: [],
};

type Fact = { status: number; actual: number; bytes?: number[]; afterEnd?: (block: Uint8Array) => number[] } | null;
function engine(facts: Fact[]): NativeDeviceHandle & { exchange: ReturnType<typeof vi.fn> } {
  const exchange = vi.fn(async (block: Uint8Array) => {
    const view = new DataView(block.buffer, block.byteOffset);
    facts.forEach((f, i) => {
      const at = EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
      if (!f) return;
      block[at + EXCHANGE_BLOCK.reported] = 1;
      block[at + EXCHANGE_BLOCK.status] = f.status;
      view.setFloat64(at + EXCHANGE_BLOCK.actual, f.actual, true);
      if (f.bytes) block.set(f.bytes, at + EXCHANGE_BLOCK.inline);
      if (f.afterEnd) {
        const after = f.afterEnd(block);
        view.setFloat64(at + EXCHANGE_BLOCK.afterEndLength, after.length, true);
        block.set(after.slice(0, EXCHANGE_BLOCK.afterEndMax), at + EXCHANGE_BLOCK.afterEndBytes);
      }
    });
    return undefined;
  });
  return { exchange, cancel: vi.fn(() => true) } as unknown as NativeDeviceHandle & {
    exchange: ReturnType<typeof vi.fn>;
  };
}

const csw = (tag: number, status = 0) => [0x55, 0x53, 0x42, 0x53, tag, 0, 0, 0, 0, 0, 0, 0, status];

describe('NativeHandle.botExchange over the engine', () => {
  const handle = (h: NativeDeviceHandle) => new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');

  it('maps the three phases to cbw / data / csw with status names', async () => {
    const h = engine([
      { status: 0, actual: 31 },
      { status: 0, actual: 36 },
      { status: 0, actual: 13, bytes: csw(7) },
    ]);
    const r = await handle(h).botExchange({
      cbw: cbw(36, true),
      outEndpoint: 2,
      inEndpoint: 0x81,
      timeoutMs: 100,
      data: { direction: 'in', buffer: new Uint8Array(36) },
    });
    expect(r).toEqual({
      cbw: { status: TransferStatus.OK, actualLength: 31 },
      data: { status: TransferStatus.OK, actualLength: 36 },
      csw: { status: TransferStatus.OK, actualLength: 13, bytes: new Uint8Array(csw(7)) },
    });
  });

  it(
    'short data ends the plan: no csw, and the data phase says how much moved' + ' (the engine judges nothing)',
    async () => {
      // 13 bytes that look like a CSW arrived in the data phase: still data, as far as the engine is concerned.
      const h = engine([{ status: 0, actual: 31 }, { status: 0, actual: 13 }, null]);
      const r = await handle(h).botExchange({
        cbw: cbw(512, true),
        outEndpoint: 2,
        inEndpoint: 0x81,
        timeoutMs: 100,
        data: { direction: 'in', buffer: new Uint8Array(512) },
      });
      expect(r).toEqual({
        cbw: { status: TransferStatus.OK, actualLength: 31 },
        data: { status: TransferStatus.OK, actualLength: 13 },
      });
    },
  );

  it('a stalled CBW is the only phase; a stalled CSW read is reported with its bytes', async () => {
    const stalled = await handle(engine([{ status: TransferStatus.STALL, actual: 0 }, null])).botExchange({
      cbw: cbw(0, false),
      outEndpoint: 2,
      inEndpoint: 0x81,
      timeoutMs: 100,
    });
    expect(stalled).toEqual({ cbw: { status: TransferStatus.STALL, actualLength: 0 } });
    const r = await handle(
      engine([
        { status: 0, actual: 31 },
        { status: TransferStatus.TIMEOUT, actual: 0 },
      ]),
    ).botExchange({ cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 100 });
    expect(r.csw).toEqual({ status: TransferStatus.TIMEOUT, actualLength: 0, bytes: new Uint8Array(0) });
  });

  it('bad requests and bad plans are refused before the engine is called', async () => {
    const h = engine([]);
    const native = handle(h);
    await expect(
      native.botExchange({ cbw: new Uint8Array(31), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(native.exchange({ timeoutMs: 100, phases: [] })).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    expect(h.exchange).not.toHaveBeenCalled();
  });

  it('an abort cancels the plan by its opId in the engine', async () => {
    let settle: (v: undefined) => void = () => {};
    const h = engine([]);
    h.exchange.mockImplementation(() => new Promise<undefined>((res) => (settle = res)));
    const ac = new AbortController();
    const pending = handle(h).botExchange({
      cbw: cbw(0, false),
      outEndpoint: 2,
      inEndpoint: 0x81,
      timeoutMs: 100,
      signal: ac.signal,
    });
    ac.abort();
    const opId = new DataView((h.exchange.mock.calls[0]![0] as Uint8Array).buffer).getUint32(EXCHANGE_BLOCK.opId, true);
    expect(h.cancel).toHaveBeenCalledWith(opId);
    settle(undefined);
    await pending;
  });

  it('engine rejections become typed errors', async () => {
    const h = engine([]);
    h.exchange.mockRejectedValue(Object.assign(new Error('gone'), { code: 'E_DEVICE_GONE' }));
    await expect(
      handle(h).botExchange({ cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: ErrorCodes.DEVICE_GONE });
  });
});

// ---- BotTransport over NativeHandle over the fake engine: a data-IN phase that ends short ----

describe('a READ that ends short with URBs queued behind the short one', () => {
  const READ10_16 = Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 16, 0); // 16 x 512 = 8192 bytes
  /** The tag of the CBW core put in the block (phase 0's inline bytes). */
  const tagOf = (block: Uint8Array) =>
    new DataView(block.buffer, block.byteOffset).getUint32(EXCHANGE_BLOCK.headerSize + EXCHANGE_BLOCK.inline + 4, true);
  const cswWith = (tag: number, status: number, residue: number) => {
    const c = new Uint8Array(13);
    c.set([0x55, 0x53, 0x42, 0x53]);
    new DataView(c.buffer).setUint32(4, tag, true);
    new DataView(c.buffer).setUint32(8, residue, true);
    c[12] = status;
    return [...c];
  };

  async function transport(dataFact: Fact) {
    const h = engine([{ status: 0, actual: 31 }, dataFact, null]);
    // The device's CSW went to the URB after the short one: a CSW read of core's own finds nothing.
    const device = Object.assign(h, {
      controlTransfer: vi.fn(async (..._args: unknown[]) => ({
        status: TransferStatus.OK,
        actualLength: 1,
        data: Uint8Array.of(0),
      })),
      bulkTransfer: vi.fn(async () => ({ status: TransferStatus.TIMEOUT, actualLength: 0 })),
      clearHalt: vi.fn(async () => undefined),
      claimInterface: vi.fn(async () => undefined),
      releaseInterface: vi.fn(async () => undefined),
    });
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
    const bot = await BotTransport.open(
      new NativeHandle({ ...STICK, configurations, backend: 'native', id: 'x' }, device, 'darwin'),
      { resetDelayMs: 0, resetOnOpen: false },
    );
    return { bot, device };
  }

  it(
    'takes the bytes that arrived after the short packet as the CSW:' +
      ' CHECK CONDITION with the residue, no CSW read, no reset',
    async () => {
      const { bot, device } = await transport({
        status: 0,
        actual: 4608,
        afterEnd: (block) => cswWith(tagOf(block), 1, 8192 - 4608),
      });
      const data = new Uint8Array(8192);
      const r = await bot.execute({ cdb: READ10_16, direction: 'in', data, timeoutMs: 1000, autoSense: false });
      expect(r).toMatchObject({ status: 2, transferred: 4608, residue: 8192 - 4608 });
      expect(r.data.length).toBe(4608);
      expect(device.bulkTransfer).not.toHaveBeenCalled();
      expect(device.controlTransfer).toHaveBeenCalledTimes(1); // GET MAX LUN only: no reset recovery
    },
  );

  it(
    'more than 13 bytes after the short packet is babble on the CSW read:' + ' a broken command and reset recovery',
    async () => {
      const { bot, device } = await transport({
        status: 0,
        actual: 4608,
        afterEnd: () => new Array<number>(40).fill(0x55),
      });
      await expect(
        bot.execute({ cdb: READ10_16, direction: 'in', data: new Uint8Array(8192), timeoutMs: 1000, autoSense: false }),
      ).rejects.toMatchObject({
        code: ErrorCodes.IO,
        message: expect.stringMatching(/long while reading the CSW.*reset recovery was done/),
      });
      expect(device.bulkTransfer).not.toHaveBeenCalled();
      // GET MAX LUN, then Bulk-Only Mass Storage Reset
      expect(device.controlTransfer.mock.calls.map((c) => c[1])).toEqual([0xfe, 0xff]);
    },
  );

  it('nothing after the short packet: core reads the CSW itself', async () => {
    const { bot, device } = await transport({ status: 0, actual: 4608 });
    await expect(
      bot.execute({ cdb: READ10_16, direction: 'in', data: new Uint8Array(8192), timeoutMs: 1000, autoSense: false }),
    ).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT });
    expect(device.bulkTransfer).toHaveBeenCalled();
  });
});
