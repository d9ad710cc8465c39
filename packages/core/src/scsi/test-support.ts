import { expect } from 'vitest';
import { isUsbScsiError } from '../errors.js';

/** Asserts that `fn` throws E_BAD_INPUT with a message matching `text` (test support). */
export function expectBadInput(fn: () => unknown, text: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isUsbScsiError(caught, 'E_BAD_INPUT'), `expected E_BAD_INPUT, got ${String(caught)}`).toBe(true);
  expect((caught as Error).message).toMatch(text);
}
