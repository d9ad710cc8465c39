import { describe, expect, it } from 'vitest';
import { bodyBytesOf, ByteBudget } from './byte-budget.js';

describe('ByteBudget', () => {
  it('admits up to its limit, releases once per reservation, and lets one request of any size run alone', () => {
    const budget = new ByteBudget(100);
    const a = budget.tryReserve(60)!;
    expect(budget.tryReserve(50)).toBeUndefined();
    const b = budget.tryReserve(40)!;
    expect(budget.inUse).toBe(100);
    a();
    a(); // a second call is a no-op
    expect(budget.inUse).toBe(40);
    b();
    const huge = budget.tryReserve(1000)!; // capped at the whole budget
    expect(budget.inUse).toBe(100);
    huge();
    expect(budget.inUse).toBe(0);
  });

  it('counts a body by Content-Length, a chunked one at the whole body limit, none as 0', () => {
    expect(bodyBytesOf({ 'content-length': '4096' }, 1 << 20)).toBe(4096);
    expect(bodyBytesOf({ 'transfer-encoding': 'chunked' }, 1 << 20)).toBe(1 << 20);
    expect(bodyBytesOf({}, 1 << 20)).toBe(0);
  });
});
