/**
 * BOT in raw bytes, written out here so that the backend-level cases depend on nothing but the
 * backend under test (not on core's codec, which they would then fail to check).
 */
import assert from 'node:assert/strict';
import type { TransferResult } from '../../usb/backend.js';
import type { RawTarget } from './context.js';

const CBW_SIGNATURE = 0x43425355;
const CSW_SIGNATURE = 0x53425355;
/** Transfer statuses in the order of their numbers (usb/backend.ts, native's exchange block). */
const STATUS_NAMES = ['ok', 'stall', 'timeout', 'overflow', 'cancelled'] as const;

/** A transfer status by name, whether the backend reports it as a number or a name. */
export function statusOf(result: { status: unknown }): string {
  const s = result.status;
  return typeof s === 'number' ? (STATUS_NAMES[s] ?? `status ${s}`) : String(s);
}

/** `{ status: name, actualLength }` for comparing a whole result. */
export function named(result: TransferResult): { status: string; actualLength: number } {
  return { status: statusOf(result), actualLength: result.actualLength };
}

let tagCounter = 0x7e570000;

export function cbwBytes(
  length: number,
  dirIn: boolean,
  cdb: number[] | Uint8Array,
  signature = CBW_SIGNATURE,
): { bytes: Uint8Array; tag: number } {
  const tag = tagCounter++ >>> 0;
  const bytes = new Uint8Array(31);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, signature, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, length, true);
  bytes[12] = dirIn ? 0x80 : 0;
  bytes[14] = cdb.length;
  bytes.set(cdb, 15);
  return { bytes, tag };
}

export const INQUIRY_36 = [0x12, 0, 0, 0, 36, 0];

export function expectCsw(bytes: Uint8Array, result: TransferResult, tag: number): { residue: number; status: number } {
  assert.equal(statusOf(result), 'ok', 'CSW transfer status');
  assert.equal(result.actualLength, 13, 'CSW length');
  const v = new DataView(bytes.buffer, bytes.byteOffset, 13);
  assert.equal(v.getUint32(0, true).toString(16), CSW_SIGNATURE.toString(16), 'CSW signature');
  assert.equal(v.getUint32(4, true), tag, 'CSW tag');
  return { residue: v.getUint32(8, true), status: v.getUint8(12) };
}

/** CBW → data-in → CSW of an INQUIRY; checks tag, residue and status, returns the data. */
export async function rawInquiry(t: RawTarget, timeoutMs: number): Promise<Uint8Array> {
  const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
  assert.deepEqual(named(await t.handle.bulkOut(t.outEp, bytes, timeoutMs)), { status: 'ok', actualLength: 31 }, 'CBW');
  const data = new Uint8Array(36);
  const din = await t.handle.bulkIn(t.inEp, data, timeoutMs);
  assert.equal(statusOf(din), 'ok', 'INQUIRY data-in status');
  assert.ok(din.actualLength >= 5 && din.actualLength <= 36, `INQUIRY data length ${din.actualLength}`);
  const csw = new Uint8Array(13);
  const { residue, status } = expectCsw(csw, await t.handle.bulkIn(t.inEp, csw, timeoutMs), tag);
  assert.equal(status, 0, 'CSW status');
  assert.equal(residue, 36 - din.actualLength, 'CSW residue');
  return data.subarray(0, din.actualLength);
}

/** Bulk-Only Mass Storage Reset, then clear both halts (§5.3.4). */
export async function rawResetRecovery(t: RawTarget, timeoutMs: number): Promise<void> {
  const reset = await t.handle.controlTransfer(
    { requestType: 0x21, request: 0xff, value: 0, index: t.interfaceNumber },
    new Uint8Array(0),
    timeoutMs,
  );
  assert.equal(statusOf(reset), 'ok', 'Bulk-Only Mass Storage Reset');
  await t.handle.clearHalt(t.inEp);
  await t.handle.clearHalt(t.outEp);
}

/** Waits `ms` and tells whether `p` settled meanwhile. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

const bytesAsLength = (_key: string, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v);

/** Resolves with the rejection of `p` (fails if it resolves). */
export async function rejection(
  p: Promise<unknown>,
  what: string,
): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    const value = await p;
    assert.fail(`${what}: expected an error, got ${JSON.stringify(value, bytesAsLength)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err as Error & { code?: string };
  }
}
