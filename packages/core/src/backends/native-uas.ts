/**
 * A UAS command on bulk streams as one engine plan (exchange_block.h): the status read on the
 * command's stream (into the plan's side buffer, posted again each time it receives the Ready
 * IU core describes, and ending the plan when it receives anything else), the data phase on the
 * same stream, the Command IU. Phases run side by side: a short data phase ends only itself.
 */
import { badInput } from '../errors.js';
import type { StreamCommandRequest } from '../usb/backend.js';
import {
  EXCHANGE_BLOCK,
  PHASE_ENDS,
  PHASE_SOURCE,
  PHASE_START,
  writeHeader,
  writePhase,
  type ExchangeBlock,
} from './native-exchange.js';

/**
 * The data phase's URBs on a stream: one at a time (QEMU's usb-uas holds one pending packet per
 * stream and asserts when a second one comes before its command), each at most this large, so
 * that one command never asks usbfs for all of usbfs_memory_mb (16 MiB by default) at once.
 */
export const STREAM_DATA_CHUNK = 1 << 20;
const MAX_TIMEOUT = 0x7fff_ffff;
const MAX_DATA = 0xffff_ffff;

export interface StreamPlanLayout {
  status: number;
  data: number | undefined;
  command: number;
  count: number;
}

function endpoint(value: number, name: string, wantIn: boolean): number {
  if (!Number.isInteger(value) || value < 1 || value > 0xff || (value & 0x0f) === 0 || (value & 0x70) !== 0)
    throw badInput(`${name} must be a non-control endpoint address, got ${value}`);
  if (((value & 0x80) !== 0) !== wantIn) throw badInput(`${name} must be an ${wantIn ? 'IN' : 'OUT'} endpoint`);
  return value;
}

/** Checks a stream command (typed E_BAD_INPUT, nothing sent) and writes its plan into `b`. */
export function encodeStreamCommand(request: StreamCommandRequest, opId: number, b: ExchangeBlock): StreamPlanLayout {
  const B = EXCHANGE_BLOCK;
  const { status, ready, command, data, streamId } = request;
  const statusIn = endpoint(request.statusIn, 'statusIn', true);
  const commandOut = endpoint(request.commandOut, 'commandOut', false);
  if (!Number.isInteger(streamId) || streamId < 1 || streamId > 0xffff)
    throw badInput(`a stream id is 1 to 65535; got ${streamId}`);
  if (!Number.isInteger(request.timeoutMs) || request.timeoutMs < 1 || request.timeoutMs > MAX_TIMEOUT)
    throw badInput(`timeoutMs must be 1 to ${MAX_TIMEOUT}; got ${request.timeoutMs}`);
  if (!(status instanceof Uint8Array) || status.length < 1 || status.length > MAX_DATA)
    throw badInput('the status buffer must be a non-empty Uint8Array');
  if (!(command instanceof Uint8Array) || command.length < 1 || command.length > B.inlineMax)
    throw badInput(`the Command IU is 1 to ${B.inlineMax} bytes`);
  if (ready !== undefined && (!(ready instanceof Uint8Array) || ready.length < 1 || ready.length > B.repostMax))
    throw badInput(`the Ready IU to re-post on is 1 to ${B.repostMax} bytes`);
  let at = writePhase(b, 0, statusIn, PHASE_START.atOnce, PHASE_SOURCE.side, status.length, 0, 0, 0, 1, streamId);
  b.bytes[at + B.ends] = PHASE_ENDS.whenBack;
  // One URB: the status read is never split, whatever its length.
  b.view.setUint32(at + B.chunkSize, Math.ceil(status.length / 1024) * 1024, true);
  if (ready) {
    b.bytes[at + B.repostLength] = ready.length;
    b.bytes.set(ready, at + B.repost);
  }
  let count = 1;
  let dataAt: number | undefined;
  const length = data?.buffer.length ?? 0;
  if (data && length > 0) {
    if (!(data.buffer instanceof Uint8Array)) throw badInput('the data buffer must be a Uint8Array');
    if (length > MAX_DATA) throw badInput('a UAS data phase is at most 4 GiB - 1 bytes');
    const ep = endpoint(data.endpoint, 'data.endpoint', (data.endpoint & 0x80) !== 0);
    const chunk = Math.min(Math.ceil(length / 1024) * 1024, STREAM_DATA_CHUNK);
    dataAt = count;
    writePhase(b, count++, ep, PHASE_START.atOnce, PHASE_SOURCE.buffer, length, 0, 0, chunk, 1, streamId);
  }
  const commandAt = count;
  at = writePhase(b, count++, commandOut, PHASE_START.atOnce, PHASE_SOURCE.inline, command.length, 0, 0, 0, 0, 0);
  b.bytes.set(command, at + B.inline);
  b.bytes[at + B.ends] = PHASE_ENDS.ifIncomplete;
  writeHeader(b, count, request.timeoutMs, opId);
  return { status: 0, data: dataAt, command: commandAt, count };
}
