// Queue slots, budgets and waits of UasTransport.
import { cancelled, timedOut } from './outcomes.js';
import { monotonicMs } from '../clock.js';

/** Queue depth: a command waits for a slot before it takes a tag. */
export class Slots {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(count: number) {
    this.free = count;
  }
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(cancelled());
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/** Rejects when the budget is spent or the signal fires; `dispose` stops both. */
export function stopper(
  timeoutMs: number,
  tag: number,
  signal?: AbortSignal,
): { stop: Promise<never>; dispose: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(timeoutMs, tag)), timeoutMs);
    onAbort = () => reject(cancelled());
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  stop.catch(() => undefined);
  return {
    stop,
    dispose: () => {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** Linux `uas` lets a short data phase end at the status: a data transfer still pending then is cancelled. */
export const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits for `p` to settle, at most `ms`. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export function leftMs(end: number): number {
  const left = end - monotonicMs();
  return left > 0 ? Math.ceil(left) : 0;
}
