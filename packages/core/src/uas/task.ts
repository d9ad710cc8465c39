import type { UsbScsiError } from '../errors.js';
import type { StatusIu } from './ius.js';

/**
 * The reason every task's transfers are aborted with: without one, each abort() builds a
 * DOMException with its stack, which showed as the largest single cost of a command in a profile.
 */
export const TASK_OVER = Object.freeze({ reason: 'the UAS task is over' });

/**
 * One tag's life on the host: the IUs the status pipe delivered for it, in order, and its
 * failure. `ended` means the device is done with the task (status received, or it was aborted or
 * reset away), so its tag may be given out again.
 */
export class UasTask {
  private readonly mailbox: StatusIu[] = [];
  private waiter: { resolve: (iu: StatusIu) => void; reject: (err: UsbScsiError) => void } | undefined;
  failure: UsbScsiError | undefined;
  ended = false;
  #transfers: AbortController | undefined;
  /** Settles once every transfer of the task's own plan has ended (after a cancel: once they are back). */
  plan: Promise<unknown> | undefined;

  constructor(
    readonly tag: number,
    readonly lun: number,
    readonly kind: 'command' | 'task-management',
  ) {}

  /** Cancels this task's own transfers (data, and with streams its status read); made on first use. */
  get transfers(): AbortController {
    return (this.#transfers ??= new AbortController());
  }

  /** Cancels what `transfers` reaches, if anything ever used it. */
  abortTransfers(): void {
    this.#transfers?.abort(TASK_OVER);
  }

  push(iu: StatusIu): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(iu);
    } else this.mailbox.push(iu);
  }

  /** The first failure wins: a command keeps the error that ended it (timeout) over what recovery adds. */
  fail(err: UsbScsiError): void {
    this.failure ??= err;
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = undefined;
      reject(this.failure);
    }
  }

  next(): Promise<StatusIu> {
    const queued = this.mailbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
}
