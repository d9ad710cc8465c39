import { TransferStatus, type TransferResult } from '../usb/backend.js';
import { monotonicMs } from '../clock.js';

/**
 * One BOT command's time budget. Every transfer of the command (CBW, data, CSW read and its
 * retry) gets what is left of it, so `timeoutMs` bounds the whole command on every backend.
 */
export class Deadline {
  private readonly end: number;

  /** `startMs`: when the command started, on `monotonicMs()`'s clock (default: now). */
  constructor(budgetMs: number, startMs: number = monotonicMs()) {
    this.end = startMs + budgetMs;
  }

  /** Whole milliseconds left, rounded up (a transfer timeout of 0 would mean "cancel at once"); 0 once passed. */
  leftMs(): number {
    const left = this.end - monotonicMs();
    return left > 0 ? Math.ceil(left) : 0;
  }

  /**
   * Runs one transfer with the time left, or reports it timed out without starting it when
   * the budget is spent.
   */
  async within(run: (timeoutMs: number) => Promise<TransferResult>): Promise<TransferResult> {
    const left = this.leftMs();
    if (left === 0) return { status: TransferStatus.TIMEOUT, actualLength: 0 };
    return run(left);
  }
}
