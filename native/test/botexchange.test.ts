// botExchange(request) over exchangeBlock(block, data): the encoding of the exchange block
// (src/common/exchange_block.h), the decoding of the outcome, and bad input refused before the
// engine is called. Runs against a fake engine; the real one is exercised in the VM suite.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const { installBotExchange, BLOCK_SIZE } = require('../botexchange.js') as {
  installBotExchange: (addon: { DeviceHandle: { prototype: object } }) => void;
  BLOCK_SIZE: number;
};

type Outcome = { notes?: string[]; fill?: (view: DataView, bytes: Uint8Array) => void; reject?: Error };

/** A DeviceHandle whose exchangeBlock records the block as sent and writes an outcome into it. */
function fakeHandle(outcome: Outcome = {}) {
  class DeviceHandle {
    sent: { block: Uint8Array; data: Uint8Array | undefined }[] = [];
    exchangeBlock(block: Uint8Array, data?: Uint8Array): Promise<string[] | undefined> {
      this.sent.push({ block: block.slice(), data });
      if (outcome.reject) return Promise.reject(outcome.reject);
      outcome.fill?.(new DataView(block.buffer, block.byteOffset, block.byteLength), block);
      return Promise.resolve(outcome.notes);
    }
  }
  installBotExchange({ DeviceHandle });
  return new DeviceHandle() as DeviceHandle & { botExchange(r: unknown): Promise<Record<string, any>> };
}

function cbw(length: number, dataIn: boolean): Uint8Array {
  const c = new Uint8Array(31);
  const v = new DataView(c.buffer);
  v.setUint32(0, 0x43425355, true);
  v.setUint32(4, 0x1234, true);
  v.setUint32(8, length, true);
  c[12] = dataIn ? 0x80 : 0;
  c[14] = 10;
  c[15] = 0x28;
  return c;
}

describe('botExchange over the exchange block', () => {
  it('encodes the CBW, endpoints, timeout, opId, tuning and a buffer data phase at their offsets', async () => {
    const h = fakeHandle();
    const buffer = new Uint8Array(4096);
    await h.botExchange({ cbw: cbw(4096, true), outEndpoint: 0x02, inEndpoint: 0x81, timeoutMs: 20_000, opId: 7, chunkSize: 65536, depth: 8, queueAhead: true, data: { direction: 'in', buffer } });
    const { block, data } = h.sent[0]!;
    const v = new DataView(block.buffer);
    expect(block.length).toBe(BLOCK_SIZE);
    expect(Array.from(block.subarray(0, 31))).toEqual(Array.from(cbw(4096, true)));
    expect(block[31]).toBe(1 | 2 | 4); // queueAhead | data | in
    expect([block[32], block[33]]).toEqual([0x02, 0x81]);
    expect([v.getUint32(36, true), v.getUint32(40, true), v.getUint32(44, true), v.getUint32(48, true)]).toEqual([20_000, 7, 65536, 8]);
    expect(data).toBe(buffer); // zero copy: the caller's buffer itself
  });

  it('encodes an fd data phase (fd, length, position) and no buffer', async () => {
    const h = fakeHandle();
    await h.botExchange({ cbw: cbw(1 << 20, false), outEndpoint: 1, inEndpoint: 0x82, timeoutMs: 1, data: { direction: 'out', fd: 9, length: 1 << 20, position: 2 ** 40 } });
    const { block, data } = h.sent[0]!;
    const v = new DataView(block.buffer);
    expect(block[31]).toBe(2 | 8); // data | fd, direction out
    expect([v.getInt32(52, true), v.getFloat64(56, true), v.getFloat64(64, true)]).toEqual([9, 1 << 20, 2 ** 40]);
    expect(data).toBeUndefined();
  });

  it('decodes the phases the engine reported, and the notes', async () => {
    const h = fakeHandle({
      notes: ['depth reduced'],
      fill: (v, b) => {
        b[72] = 0; v.setUint32(76, 31, true); // CBW ok, 31 bytes
        b[73] = 1; v.setFloat64(80, 512, true); // data stalled after 512 bytes
        b[74] = 0; b[88] = 13; b.set([0x55, 0x53, 0x42, 0x53, 0x34, 0x12, 0, 0, 0, 2, 0, 0, 1], 89);
        b[75] = 1 | 2;
      },
    });
    const r = await h.botExchange({ cbw: cbw(4096, true), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 1000, data: { direction: 'in', buffer: new Uint8Array(4096) } });
    expect(r.cbw).toEqual({ status: 'ok', actualLength: 31 });
    expect(r.data).toEqual({ status: 'stall', actualLength: 512 });
    expect(r.csw.status).toBe('ok');
    expect(Array.from(r.csw.bytes as Uint8Array)).toEqual([0x55, 0x53, 0x42, 0x53, 0x34, 0x12, 0, 0, 0, 2, 0, 0, 1]);
    expect(r.notes).toEqual(['depth reduced']);
  });

  it('leaves out the phases the engine did not report (a CBW that never went out)', async () => {
    const h = fakeHandle({ fill: (v, b) => { b[72] = 4; v.setUint32(76, 0, true); b[75] = 0; } });
    const r = await h.botExchange({ cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 1000 });
    expect(r).toEqual({ cbw: { status: 'cancelled', actualLength: 0 } });
  });

  it('does not let one command see another one\'s outcome (each call has its own block)', async () => {
    let n = 0;
    const h = fakeHandle({ fill: (v, b) => { b[72] = 0; v.setUint32(76, ++n, true); b[75] = 0; } });
    const req = { cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 1000 };
    const [a, b] = await Promise.all([h.botExchange(req), h.botExchange(req)]);
    expect([a.cbw.actualLength, b.cbw.actualLength]).toEqual([1, 2]);
  });

  it('passes an engine rejection through unchanged', async () => {
    const err = Object.assign(new Error('gone'), { code: 'E_DEVICE_GONE' });
    await expect(fakeHandle({ reject: err }).botExchange({ cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 1000 })).rejects.toBe(err);
  });

  it.each([
    ['no request', undefined, /request must be an object/],
    ['a CBW of 30 bytes', { cbw: new Uint8Array(30) }, /cbw must be exactly 31 bytes/],
    ['a CBW that is not bytes', { cbw: [1, 2] }, /cbw must be a Uint8Array/],
    ['an IN endpoint as OUT', { outEndpoint: 0x81 }, /outEndpoint must be an OUT endpoint/],
    ['endpoint 0', { inEndpoint: 0x80 }, /non-control endpoint/],
    ['timeout 0', { timeoutMs: 0 }, /timeoutMs must be between 1/],
    ['a fractional timeout', { timeoutMs: 1.5 }, /timeoutMs must be an integer/],
    ['a string timeout', { timeoutMs: '5' }, /timeoutMs must be a number/],
    ['chunkSize not whole KiB', { chunkSize: 1500 }, /multiple of 1024/],
    ['depth 65', { depth: 65 }, /depth must be between 1 and 64/],
    ['queueAhead as a number', { queueAhead: 1 }, /queueAhead must be a boolean/],
    ['a data direction of "both"', { data: { direction: 'both', buffer: new Uint8Array(1) } }, /data.direction/],
    ['a negative fd', { data: { direction: 'in', fd: -1, length: 1, position: 0 } }, /data.fd must be between 0/],
  ])('refuses %s with E_BAD_INPUT, synchronously, and sends nothing', (_name, patch, message) => {
    const h = fakeHandle();
    const req = patch === undefined ? undefined : { cbw: cbw(0, false), outEndpoint: 2, inEndpoint: 0x81, timeoutMs: 1000, ...patch };
    expect(() => h.botExchange(req)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT', message: expect.stringMatching(message) }));
    expect(h.sent).toHaveLength(0);
  });
});
