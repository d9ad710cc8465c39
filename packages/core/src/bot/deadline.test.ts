import { describe, expect, it } from 'vitest';
import { TransferStatus } from '../usb/backend.js';
import { monotonicMs } from '../clock.js';
import { Deadline } from './deadline.js';

describe('Deadline', () => {
  it('counts from the given start, not from its construction', () => {
    const startedMs = monotonicMs() - 400;
    const left = new Deadline(1000, startedMs).leftMs();
    expect(left).toBeLessThanOrEqual(600);
    expect(left).toBeGreaterThan(0);
  });

  it('counts from now when no start is given', () => {
    expect(new Deadline(1000).leftMs()).toBeGreaterThan(900);
  });

  it('reports a timeout without starting the transfer once the budget is spent', async () => {
    const deadline = new Deadline(100, monotonicMs() - 200);
    let ran = false;
    const r = await deadline.within(async () => {
      ran = true;
      return { status: TransferStatus.OK, actualLength: 0 };
    });
    expect(ran).toBe(false);
    expect(r.status).toBe(TransferStatus.TIMEOUT);
  });
});
