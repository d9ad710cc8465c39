import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import type { StreamCommandRequest } from '../usb/backend.js';
import { EXCHANGE_BLOCK as B, PHASE_ENDS, PHASE_SOURCE, takeBlock } from './native-exchange.js';
import { STREAM_DATA_CHUNK, encodeStreamCommand } from './native-uas.js';

const phaseAt = (i: number) => B.headerSize + i * B.phaseSize;

function request(over: Partial<StreamCommandRequest> = {}): StreamCommandRequest {
  return {
    statusIn: 0x82,
    status: new Uint8Array(268),
    ready: Uint8Array.of(6, 0, 0, 3),
    commandOut: 0x01,
    command: new Uint8Array(32).fill(1),
    streamId: 3,
    data: { endpoint: 0x83, buffer: new Uint8Array(4096) },
    timeoutMs: 5000,
    ...over,
  };
}

describe('a UAS command on streams as one engine plan', () => {
  it('status read first (side buffer, its stream, re-posted on the Ready IU, ends the plan), data, Command IU', () => {
    const b = takeBlock();
    const layout = encodeStreamCommand(request(), 7, b);
    expect(layout).toEqual({ status: 0, data: 1, command: 2, count: 3 });
    expect(b.bytes[B.phaseCount]).toBe(3);
    expect(b.view.getUint32(B.opId, true)).toBe(7);
    const s = phaseAt(0);
    expect([b.bytes[s + B.endpoint], b.bytes[s + B.source], b.view.getUint32(s + B.streamId, true)]).toEqual([
      0x82,
      PHASE_SOURCE.side,
      3,
    ]);
    expect(b.bytes[s + B.ends]).toBe(PHASE_ENDS.whenBack);
    expect(b.bytes[s + B.repostLength]).toBe(4);
    expect([...b.bytes.subarray(s + B.repost, s + B.repost + 4)]).toEqual([6, 0, 0, 3]);
    const d = phaseAt(1);
    expect([b.bytes[d + B.endpoint], b.bytes[d + B.source], b.bytes[d + B.ends]]).toEqual([
      0x83,
      PHASE_SOURCE.buffer,
      0,
    ]);
    expect(b.view.getUint32(d + B.depth, true)).toBe(1);
    const c = phaseAt(2);
    expect([b.bytes[c + B.endpoint], b.bytes[c + B.source], b.bytes[c + B.ends]]).toEqual([
      0x01,
      PHASE_SOURCE.inline,
      PHASE_ENDS.ifIncomplete,
    ]);
    expect(b.view.getUint32(c + B.streamId, true)).toBe(0);
  });

  it('16 MiB of data go in URBs of at most 1 MiB, one at a time (one URB of all usbfs_memory_mb: E_NO_MEMORY)', () => {
    const b = takeBlock();
    encodeStreamCommand(request({ data: { endpoint: 0x83, buffer: new Uint8Array(16 << 20) } }), 1, b);
    const d = phaseAt(1);
    expect(b.view.getFloat64(d + B.length, true)).toBe(16 << 20);
    expect(b.view.getUint32(d + B.chunkSize, true)).toBeLessThanOrEqual(STREAM_DATA_CHUNK);
    expect(STREAM_DATA_CHUNK).toBeLessThanOrEqual(1 << 20);
    expect(b.view.getUint32(d + B.depth, true)).toBe(1);
  });

  it('no data, no Ready IU: two phases, nothing to re-post on', () => {
    const b = takeBlock();
    const { data: _data, ready: _ready, ...rest } = request();
    expect(encodeStreamCommand(rest, 1, b)).toEqual({ status: 0, data: undefined, command: 1, count: 2 });
    expect(b.bytes[phaseAt(0) + B.repostLength]).toBe(0);
  });

  it('bad input is E_BAD_INPUT before anything is sent', () => {
    for (const bad of [
      request({ statusIn: 0x02 }),
      request({ commandOut: 0x81 }),
      request({ streamId: 0 }),
      request({ timeoutMs: 0 }),
      request({ ready: new Uint8Array(9) }),
      request({ command: new Uint8Array(33) }),
    ]) {
      expect(() => encodeStreamCommand(bad, 1, takeBlock())).toThrow(
        expect.objectContaining({ code: ErrorCodes.BAD_INPUT }),
      );
    }
  });
});
