import { ErrorCodes, UsbScsiError } from '@usbscsi/core';
import { describe, expect, it } from 'vitest';
import { CommandQueue } from './queue.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};
const settle = (p: Promise<unknown>) =>
  p.then(
    (v) => ['ok', v],
    (e: UsbScsiError) => ['err', e.code],
  );

describe('CommandQueue', () => {
  it('runs jobs one at a time in arrival order', async () => {
    const q = new CommandQueue();
    const log: string[] = [];
    let active = 0;
    const job = (name: string) => async () => {
      active++;
      expect(active).toBe(1);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`end ${name}`);
      active--;
      return name;
    };
    const results = await Promise.all(['a', 'b', 'c'].map((n) => q.enqueue(job(n))));
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(q.depth).toBe(0);
  });

  it(
    'drops a queued job whose signal aborts, without running it; aborts the running job ' + 'through its signal',
    async () => {
      const q = new CommandQueue();
      const gate = deferred();
      let seen: AbortSignal | undefined;
      const client = new AbortController();
      const running = settle(
        q.enqueue(
          async (signal) => {
            seen = signal;
            await gate.promise;
            return 'done';
          },
          { signal: client.signal },
        ),
      );
      let ran = false;
      const queued = settle(q.enqueue(async () => (ran = true), { signal: client.signal }));
      expect(q.depth).toBe(2);
      client.abort();
      expect(await queued).toEqual(['err', ErrorCodes.CANCELLED]);
      expect(seen!.aborted).toBe(true); // the job decides how to stop
      gate.resolve();
      expect(await running).toEqual(['ok', 'done']);
      expect(ran).toBe(false);
      await expect(q.enqueue(async () => 1, { signal: client.signal })).rejects.toMatchObject({ code: 'E_CANCELLED' });
    },
  );

  it('fails pending jobs of one owner or all, keeps the running one, and reports idleness', async () => {
    const q = new CommandQueue();
    let idle = 0;
    q.onIdle = () => idle++;
    const gate = deferred();
    const running = settle(q.enqueue(async () => gate.promise.then(() => 'r'), { owner: 'L1' }));
    const a = settle(q.enqueue(async () => 'a', { owner: 'L1' }));
    const b = settle(q.enqueue(async () => 'b', { owner: 'L2' }));
    const gone = new UsbScsiError(ErrorCodes.DEVICE_GONE, 'gone');
    expect(q.failPending(gone, 'L1')).toBe(1);
    expect(await a).toEqual(['err', 'E_DEVICE_GONE']);
    expect(q.depth).toBe(2);
    const whenIdle = q.whenIdle();
    gate.resolve();
    expect(await running).toEqual(['ok', 'r']);
    expect(await b).toEqual(['ok', 'b']);
    await whenIdle;
    expect(q.depth).toBe(0);
    expect(idle).toBeGreaterThanOrEqual(1);
  });
});
