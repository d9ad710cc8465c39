import { afterEach, describe, expect, it, vi } from 'vitest';
import { StagingMemory, type SharedMemoryMaker } from './staging-memory.js';

/** A maker that hands out plain ArrayBuffers with made-up descriptors and records what it released. */
function fakeMaker(fail = false) {
  let nextFd = 100;
  const made: ArrayBuffer[] = [];
  const released: ArrayBuffer[] = [];
  const maker: SharedMemoryMaker = {
    make(bytes) {
      if (fail) throw new Error('ENOMEM');
      const buffer = new ArrayBuffer(bytes);
      made.push(buffer);
      return { fd: nextFd++, buffer };
    },
    release(buffer) {
      released.push(buffer);
      return true;
    },
  };
  return { maker, made, released };
}

describe('StagingMemory', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lends the idle area again to a range that fits in it: memory is made once', () => {
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker);
    const first = staging.take(4096)!;
    staging.giveBack(first);
    expect(staging.idleBytes).toBe(4096);
    const second = staging.take(1024)!;
    expect(second).toBe(first);
    expect(staging.idleBytes).toBe(0);
    staging.giveBack(second);
    expect(made).toHaveLength(1);
    expect(released).toHaveLength(0);
    staging.close();
  });

  it('a larger range replaces the idle area: the smaller one is released', () => {
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker);
    staging.giveBack(staging.take(1024)!);
    const big = staging.take(8192)!;
    expect(big.bytes.length).toBe(8192);
    expect(made).toHaveLength(2);
    expect(released).toEqual([made[0]]);
    staging.close();
  });

  it('two ranges at once get two areas; only the larger is kept once both are back', () => {
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker);
    const a = staging.take(2048)!;
    const b = staging.take(4096)!;
    expect(a.fd).not.toBe(b.fd);
    staging.giveBack(b);
    staging.giveBack(a);
    expect(staging.idleBytes).toBe(4096);
    expect(released).toEqual([made[0]]);
    staging.close();
    expect(released).toEqual([made[0], made[1]]);
  });

  it('an area whose range failed is released and never lent again', () => {
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker);
    const failed = staging.take(4096)!;
    staging.discard(failed);
    expect(released).toEqual([made[0]]);
    expect(staging.idleBytes).toBe(0);
    const next = staging.take(4096)!;
    expect(next).not.toBe(failed);
    expect(made).toHaveLength(2);
    // Given back twice, or after being discarded: no double release.
    staging.giveBack(failed);
    staging.discard(failed);
    expect(released).toHaveLength(1);
    staging.close();
  });

  it('an idle area goes back to the system after idleMs', () => {
    vi.useFakeTimers();
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker, 1000);
    staging.giveBack(staging.take(4096)!);
    vi.advanceTimersByTime(999);
    expect(released).toHaveLength(0);
    // Used again before the time is up: the clock starts over when it comes back.
    staging.giveBack(staging.take(4096)!);
    vi.advanceTimersByTime(999);
    expect(released).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(released).toEqual([made[0]]);
    expect(staging.idleBytes).toBe(0);
  });

  it('close releases the idle area, and a lent one when it comes back; nothing is lent after close', () => {
    const { maker, made, released } = fakeMaker();
    const staging = new StagingMemory(maker);
    staging.giveBack(staging.take(1024)!);
    const lent = staging.take(1024)!;
    const other = staging.take(1024)!;
    staging.giveBack(other);
    staging.close();
    expect(released).toEqual([made[1]]);
    staging.giveBack(lent);
    expect(released).toEqual([made[1], made[0]]);
    expect(staging.take(1024)).toBeUndefined();
  });

  it('memory the system refuses is no area (the range streams instead), not an error', () => {
    const { maker } = fakeMaker(true);
    expect(new StagingMemory(maker).take(4096)).toBeUndefined();
  });
});
