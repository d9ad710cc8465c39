import { describe, expect, it } from 'vitest';
import { findUasInterface } from './pipes.js';
import { TagAllocator } from './tags.js';

/** A configuration descriptor as QEMU's usb-uas sends it at SuperSpeed (streams) or high speed. */
function qemuUas(superSpeed: boolean, pipeIds = [1, 2, 3, 4]): Uint8Array {
  const endpoints: [number, number][] = [
    [0x01, pipeIds[0]!],
    [0x82, pipeIds[1]!],
    [0x83, pipeIds[2]!],
    [0x04, pipeIds[3]!],
  ];
  const body: number[] = [9, 4, 0, 0, 4, 0x08, 0x06, 0x62, 0];
  for (const [address, pipe] of endpoints) {
    body.push(7, 5, address, 2, 0, superSpeed ? 4 : 2, 0);
    if (superSpeed) body.push(6, 0x30, 0, pipe === 1 ? 0 : 4, 0, 0);
    body.push(4, 0x24, pipe, 0);
  }
  const total = 9 + body.length;
  return Uint8Array.from([9, 2, total & 0xff, total >> 8, 1, 1, 0, 0x80, 50, ...body]);
}

describe('UAS pipes from the configuration descriptor', () => {
  it('SuperSpeed: the four pipes by Pipe Usage, 16 streams from the companions (exponent 4)', () => {
    expect(findUasInterface(qemuUas(true))).toEqual({
      interfaceNumber: 0,
      alternateSetting: 0,
      commandOut: 0x01,
      statusIn: 0x82,
      dataIn: 0x83,
      dataOut: 0x04,
      maxPacketSize: 1024,
      maxStreams: 16,
    });
  });

  it('high speed: no companions, no streams', () => {
    expect(findUasInterface(qemuUas(false))).toMatchObject({ maxPacketSize: 512, maxStreams: 0 });
  });

  it('a missing pipe, a pipe on the wrong direction and a BOT-only interface are E_UNSUPPORTED', () => {
    expect(() => findUasInterface(qemuUas(true, [1, 2, 3, 3]))).toThrow(
      expect.objectContaining({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/no data-out pipe/) }),
    );
    expect(() => findUasInterface(qemuUas(true, [2, 1, 3, 4]))).toThrow(
      expect.objectContaining({ code: 'E_UNSUPPORTED' }),
    );
    const bot = Uint8Array.from([
      9, 2, 32, 0, 1, 1, 0, 0x80, 50, 9, 4, 0, 0, 2, 8, 6, 0x50, 0, 7, 5, 0x81, 2, 0, 2, 0, 7, 5, 2, 2, 0, 2, 0,
    ]);
    expect(() => findUasInterface(bot)).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
  });

  it('untrusted bytes: a truncated or zero-length descriptor ends the walk, never a crash', () => {
    const whole = qemuUas(true);
    for (const cut of [0, 5, 18, 30, whole.length - 3]) {
      expect(() => findUasInterface(whole.subarray(0, cut))).toThrow(
        expect.objectContaining({ code: 'E_UNSUPPORTED' }),
      );
    }
    const zero = whole.slice();
    zero[9] = 0;
    expect(() => findUasInterface(zero)).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
  });
});

describe('TagAllocator', () => {
  it('hands out 1..limit round-robin, never a tag in use, and waits when all are taken', async () => {
    const tags = new TagAllocator(3);
    expect([tags.take(), tags.take(), tags.take(), tags.take()]).toEqual([1, 2, 3, undefined]);
    tags.release(2);
    expect(tags.take()).toBe(2);
    const waiting = tags.acquire();
    tags.release(1);
    expect(await waiting).toBe(1);
    const gaveUp = AbortSignal.timeout(10);
    expect(await tags.acquire(gaveUp)).toBeUndefined();
  });
});
