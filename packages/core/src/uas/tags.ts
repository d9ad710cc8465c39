/**
 * UAS tags in use: 1..`limit` (with streams the tag is the stream id, so the limit is the number
 * of streams). A tag stays taken until the device is done with its task (status received, or the
 * task aborted or reset away): reusing it earlier would be an overlapped tag.
 */
export class TagAllocator {
  private readonly inUse = new Set<number>();
  private readonly waiters: Array<(tag: number) => void> = [];
  private next = 1;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.inUse.size;
  }

  has(tag: number): boolean {
    return this.inUse.has(tag);
  }

  /** A free tag, or undefined when all are in use. Round-robin, so a tag just freed is reused last. */
  take(): number | undefined {
    if (this.inUse.size >= this.limit) return undefined;
    for (;;) {
      const tag = this.next;
      this.next = this.next >= this.limit ? 1 : this.next + 1;
      if (!this.inUse.has(tag)) {
        this.inUse.add(tag);
        return tag;
      }
    }
  }

  /** A free tag as soon as one is, or undefined when `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<number | undefined> {
    const now = this.take();
    if (now !== undefined || signal?.aborted) return now;
    return new Promise((resolve) => {
      const waiter = (tag: number) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(tag);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(tag: number): void {
    if (!this.inUse.delete(tag)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.inUse.add(tag);
      waiter(tag);
    }
  }
}
