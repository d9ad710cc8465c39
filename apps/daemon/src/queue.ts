import { UsbScsiError } from '@usbscsi/core';
import { cancelled } from './errors.js';

export interface QueueJobOptions {
  /** Aborts the job: removed from the queue if it has not started, else passed to the job to stop it where safe. */
  signal?: AbortSignal;
  /** Who queued it (a lease id), so that ending a lease can cancel its jobs. */
  owner?: string;
}

interface Entry {
  run: (signal: AbortSignal) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  controller: AbortController;
  owner: string | undefined;
  detach: () => void;
}

/**
 * One device's FIFO: BOT runs one command at a time, so jobs run strictly in
 * arrival order, one after the other. A job whose client went away before it
 * started is dropped with `E_CANCELLED`; a running job only sees its signal
 * abort and the queue waits for it to settle before starting the next one,
 * so two commands never overlap on the wire.
 */
export class CommandQueue {
  private readonly pending: Entry[] = [];
  private running: Entry | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Called each time the queue becomes empty (nothing queued, nothing running). */
  onIdle: () => void = () => {};

  /** Queued plus running. */
  get depth(): number {
    return this.pending.length + (this.running ? 1 : 0);
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  enqueue<T>(run: (signal: AbortSignal) => Promise<T>, options: QueueJobOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const controller = new AbortController();
      const entry: Entry = {
        run,
        resolve: resolve as (v: unknown) => void,
        reject,
        controller,
        owner: options.owner,
        detach: () => {},
      };
      const outer = options.signal;
      if (outer) {
        if (outer.aborted) {
          reject(cancelled('the request was cancelled before it was queued'));
          return;
        }
        const onAbort = () => this.abort(entry, outer.reason);
        outer.addEventListener('abort', onAbort, { once: true });
        entry.detach = () => outer.removeEventListener('abort', onAbort);
      }
      this.pending.push(entry);
      this.pump();
    });
  }

  /** Rejects every job not yet started (the running one finishes). Returns how many were dropped. */
  failPending(err: UsbScsiError, owner?: string): number {
    let dropped = 0;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const entry = this.pending[i]!;
      if (owner !== undefined && entry.owner !== owner) continue;
      this.pending.splice(i, 1);
      entry.detach();
      entry.reject(err);
      dropped++;
    }
    this.notifyIdle();
    return dropped;
  }

  /** Aborts the running job's signal (the job decides whether it can stop safely). */
  abortRunning(reason: UsbScsiError): void {
    this.running?.controller.abort(reason);
  }

  /** Resolves once nothing runs and nothing is queued. */
  whenIdle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private abort(entry: Entry, reason: unknown): void {
    const index = this.pending.indexOf(entry);
    if (index >= 0) {
      this.pending.splice(index, 1);
      entry.detach();
      entry.reject(
        reason instanceof UsbScsiError ? reason : cancelled('the client went away before the command started'),
      );
      this.notifyIdle();
    } else if (this.running === entry) {
      entry.controller.abort(reason);
    }
  }

  private pump(): void {
    if (this.running) return;
    const entry = this.pending.shift();
    if (!entry) {
      this.notifyIdle();
      return;
    }
    this.running = entry;
    let settled: Promise<unknown>;
    try {
      settled = entry.run(entry.controller.signal);
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(entry.resolve, entry.reject).finally(() => {
      entry.detach();
      this.running = undefined;
      this.pump();
    });
  }

  private notifyIdle(): void {
    if (this.depth !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    this.onIdle();
  }
}
