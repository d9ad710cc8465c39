import { describe, expect, it, vi } from 'vitest';
import type { SgNode } from '../backends/native-addon.js';
import { SG_FACTS_BYTES, bindSgNode, decodeSgFacts } from './sg-node-binding.js';

/** The facts block as native/src/linux/sg_node.cc WriteSgFacts fills it. */
function writeFacts(facts: Uint8Array, f: { ints: number[]; ns: number; sense?: number[] }) {
  new Int32Array(facts.buffer, facts.byteOffset, 10).set(f.ints);
  new Float64Array(facts.buffer, facts.byteOffset + 40, 1)[0] = f.ns;
  facts.set(f.sense ?? [], 64);
}

describe('the addon node as a binding (positional command, facts block)', () => {
  it('decodes every fact, the sense bytes by their length, negative resid kept', () => {
    const facts = new Uint8Array(SG_FACTS_BYTES);
    writeFacts(facts, { ints: [2, 1, 0, 0, 8, -4, 3, 1, 3, 1], ns: 123_456.5, sense: [0x70, 0, 5, 9] });
    expect(decodeSgFacts(facts)).toEqual({
      status: 2,
      maskedStatus: 1,
      msgStatus: 0,
      hostStatus: 0,
      driverStatus: 8,
      resid: -4,
      durationMs: 3,
      durationNs: 123_456.5,
      info: 1,
      sense: Uint8Array.of(0x70, 0, 5),
      bounced: true,
    });
  });

  it('sends the CDB, the direction as a number, the buffer and the timeout; no buffer for none', async () => {
    const calls: unknown[][] = [];
    const node = {
      path: '/dev/sg0',
      blockDevice: false,
      command: vi.fn(async (...args: unknown[]) => {
        calls.push(args);
        writeFacts(args[4] as Uint8Array, { ints: [0, 0, 0, 0, 0, 12, 0, 0, 0, 0], ns: 99 });
      }),
      execute: vi.fn(),
      job: vi.fn(),
      cancelJob: vi.fn(() => false),
      reset: vi.fn(async () => {}),
      close: vi.fn(),
    } as unknown as SgNode;
    const b = bindSgNode(node);
    const cdb = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
    const buf = new Uint8Array(36);
    const r = await b.execute({ cdb, direction: 'in', buffer: buf, timeoutMs: 500 });
    expect(calls[0]!.slice(0, 4)).toEqual([cdb, 1, buf, 500]);
    expect(calls[0]![2]).toBe(buf);
    expect(r).toMatchObject({ status: 0, resid: 12, durationNs: 99, bounced: false });
    expect(r.sense.length).toBe(0);
    await b.execute({ cdb: new Uint8Array(6), direction: 'none', buffer: new Uint8Array(4), timeoutMs: 1 });
    expect(calls[1]!.slice(1, 3)).toEqual([0, undefined]);
    expect(node.execute).not.toHaveBeenCalled();
  });
});
