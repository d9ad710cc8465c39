import type { ServerResponse } from 'node:http';
import { overloaded } from './errors.js';

/**
 * Bytes the daemon holds for requests at once: request bodies (buffered
 * whole before their command is queued) and the data-in buffers of queued
 * reads. Admission is decided when a request's headers arrive, so a request
 * over the budget is refused before its body is read, not after.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Takes `bytes` (capped at the whole budget, so one request of any admitted
   * size can always run alone). Returns the release function, or undefined
   * when the budget cannot cover it now.
   */
  tryReserve(bytes: number): (() => void) | undefined {
    const take = Math.min(Math.max(0, bytes), this.limit);
    if (this.used + take > this.limit) return undefined;
    this.used += take;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= take;
    };
  }
}

/**
 * Holds `bytes` of `budget` until the response `res` is closed (answered or
 * abandoned); refuses with 503 E_BUSY + Retry-After when they do not fit now.
 */
export function holdUntilAnswered(budget: ByteBudget, res: ServerResponse, bytes: number, what: string): void {
  if (bytes <= 0) return;
  const release = budget.tryReserve(bytes);
  if (!release) {
    throw overloaded(
      `the daemon already holds ${budget.inUse} bytes for other requests (--max-bytes-in-flight ` +
        `${budget.limit}); ${what} of ${bytes} bytes does not fit now; retry shortly`,
      { bytes, inFlight: budget.inUse, maxBytesInFlight: budget.limit },
    );
  }
  res.once('close', release);
}

/** What a request body will occupy, from its headers: Content-Length, or the whole --body-limit for a chunked body. */
export function bodyBytesOf(headers: import('node:http').IncomingHttpHeaders, bodyLimit: number): number {
  const length = headers['content-length'];
  if (length !== undefined && /^\d+$/.test(length)) return Number(length);
  return headers['transfer-encoding'] !== undefined ? bodyLimit : 0;
}
