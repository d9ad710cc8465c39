/**
 * The native engine's transfer plans: validated here, once, and encoded into the exchange
 * block that `NativeDeviceHandle.exchange(block, data?)` takes (layout:
 * native/src/common/exchange_block.h; `native-exchange.test.ts` checks every constant against
 * that header). The engine moves bytes and reports facts per phase; what they mean is the
 * caller's business (BOT: core's BotTransport).
 */
import { badInput } from '../errors.js';
import type { BotExchangeRequest, BotJobRequest } from '../usb/backend.js';

/** Byte offsets and sizes of the exchange block; names as in exchange_block.h without the `k`. */
export const EXCHANGE_BLOCK = {
  maxPhases: 4,
  headerSize: 32,
  phaseSize: 128,
  size: 544,
  phaseCount: 0,
  timeoutMs: 4,
  opId: 8,
  jobCommands: 16,
  jobDone: 20,
  reposts: 24,
  commandSize: 48,
  commandBytes: 0,
  commandBytesSize: 31,
  commandStatus: 31,
  commandStatusSize: 13,
  commandLength: 44,
  maxJobCommands: 1048576,
  endpoint: 0,
  source: 1,
  start: 2,
  status: 3,
  streamId: 4,
  chunkSize: 8,
  depth: 12,
  length: 16,
  offset: 24,
  fd: 32,
  stage: 37,
  repostLength: 38,
  repost: 120,
  repostMax: 8,
  ends: 39,
  reported: 36,
  actual: 40,
  inline: 48,
  inlineMax: 32,
  afterEndLength: 80,
  afterEndBytes: 88,
  afterEndMax: 32,
} as const;

export const PHASE_SOURCE = { inline: 0, buffer: 1, fd: 2, side: 3 } as const;
/** How a phase ends a plan (exchange_block.h `Ends` bits): set on any phase, phases run side by side. */
export const PHASE_ENDS = { whenBack: 1, ifIncomplete: 2 } as const;
export const PHASE_START = { atOnce: 0, afterPrevious: 1 } as const;

/** Where a phase's bytes are. */
export type PhaseSource =
  /** OUT: these bytes (1..32) travel in the block. */
  | { kind: 'inline'; bytes: Uint8Array }
  /** IN: up to 32 bytes land in the block and come back as `bytes`. */
  | { kind: 'inline'; length: number }
  /** The plan's `buffer`, in place. */
  | { kind: 'buffer'; offset: number; length: number }
  /** Streamed to or from a file descriptor at `position`. */
  | { kind: 'fd'; fd: number; position: number; length: number };

export interface ExchangePhase {
  /** Endpoint address; bit 7 set = IN. */
  endpoint: number;
  /** `after-previous`: only once the previous phase moved every byte with status ok. The first phase starts at once. */
  start: 'at-once' | 'after-previous';
  source: PhaseSource;
  /** Bulk stream id (USB 3 streams, allocated beforehand); 0 or absent: none. */
  streamId?: number;
  /** Bytes per URB (buffer, fd): a multiple of 1024 from 1 KiB to 64 MiB; engine default 256 KiB. */
  chunkSize?: number;
  /** URBs in flight (buffer, fd): 1..64; engine default 4, cut to fit usbfs_memory_mb (noted). */
  depth?: number;
}

export interface ExchangePlan {
  phases: ExchangePhase[];
  /** The whole plan's budget; each URB gets the time left when it is submitted. */
  timeoutMs: number;
  /** The memory of `buffer` phases. */
  buffer?: Uint8Array;
  /** For `cancel(opId)`. */
  opId?: number;
}

/** Facts of one phase, as the engine saw them. */
export interface PhaseFacts {
  /** A transfer status number (core's TransferStatus; exchange_block.h `Status`). */
  status: number;
  /** Every byte moved up to the first short or failed URB. */
  actualLength: number;
  /** Inline IN phases: the bytes received. */
  bytes?: Uint8Array;
  /**
   * A phase that ended early (a short or failed URB) with later URBs already queued: what those
   * URBs received. Not part of `actualLength` (nor written to an fd); `length` counts every byte,
   * `bytes` holds the first `afterEndMax` (32) of them, the rest were dropped. Absent when none arrived.
   */
  afterEnd?: { length: number; bytes: Uint8Array };
}

export interface ExchangeFacts {
  /** The phases that ran, in order; the first one that did not move every byte with status ok is the last. */
  phases: PhaseFacts[];
  notes?: string[];
}

const MAX_TIMEOUT = 0x7fff_ffff;
const MAX_PHASE = 0xffff_ffff;

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badInput(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function endpointAddress(value: unknown, name: string, wantIn?: boolean): number {
  const ep = integer(value, name, 1, 0xff);
  if ((ep & 0x0f) === 0 || (ep & 0x70) !== 0)
    throw badInput(`${name} must be a non-control endpoint address (1..15, bit 7 = IN), got ${ep}`);
  if (wantIn === true && !(ep & 0x80)) throw badInput(`${name} must be an IN endpoint (bit 7 set), got ${ep}`);
  if (wantIn === false && ep & 0x80) throw badInput(`${name} must be an OUT endpoint (bit 7 clear), got ${ep}`);
  return ep;
}

function chunkSizeOf(value: unknown, name: string): number {
  if (value === undefined) return 0;
  const chunk = integer(value, name, 1024, 64 << 20);
  if (chunk % 1024 !== 0)
    throw badInput(`${name} must be a multiple of 1024 (whole packets at every speed), got ${chunk}`);
  return chunk;
}

function depthOf(value: unknown, name: string): number {
  return value === undefined ? 0 : integer(value, name, 1, 64);
}

/** Exchange blocks are reused: a fresh one per command would be a small on-heap array that N-API must move off-heap. */
export interface ExchangeBlock {
  bytes: Uint8Array;
  view: DataView;
}
const freeBlocks: ExchangeBlock[] = [];
export function takeBlock(): ExchangeBlock {
  const b = freeBlocks.pop();
  if (b) {
    b.bytes.fill(0);
    return b;
  }
  const bytes = new Uint8Array(new ArrayBuffer(EXCHANGE_BLOCK.size));
  return { bytes, view: new DataView(bytes.buffer) };
}
export function giveBack(b: ExchangeBlock): void {
  if (freeBlocks.length < 16) freeBlocks.push(b);
}

export function writeHeader(b: ExchangeBlock, phaseCount: number, timeoutMs: number, opId: number): void {
  b.bytes[EXCHANGE_BLOCK.phaseCount] = phaseCount;
  b.view.setUint32(EXCHANGE_BLOCK.timeoutMs, timeoutMs, true);
  b.view.setUint32(EXCHANGE_BLOCK.opId, opId, true);
}

export function writePhase(
  b: ExchangeBlock,
  i: number,
  endpoint: number,
  start: number,
  source: number,
  length: number,
  offset: number,
  fd: number,
  chunkSize: number,
  depth: number,
  streamId: number,
): number {
  const at = EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
  const { bytes, view } = b;
  bytes[at + EXCHANGE_BLOCK.endpoint] = endpoint;
  bytes[at + EXCHANGE_BLOCK.source] = source;
  bytes[at + EXCHANGE_BLOCK.start] = start;
  view.setUint32(at + EXCHANGE_BLOCK.streamId, streamId, true);
  view.setUint32(at + EXCHANGE_BLOCK.chunkSize, chunkSize, true);
  view.setUint32(at + EXCHANGE_BLOCK.depth, depth, true);
  view.setFloat64(at + EXCHANGE_BLOCK.length, length, true);
  view.setFloat64(at + EXCHANGE_BLOCK.offset, offset, true);
  view.setInt32(at + EXCHANGE_BLOCK.fd, fd, true);
  return at;
}

/** Checks a plan (typed E_BAD_INPUT, nothing sent) and writes it into `b`. */
export function encodePlan(plan: ExchangePlan, b: ExchangeBlock): void {
  if (plan === null || typeof plan !== 'object') throw badInput('an exchange plan must be an object');
  const { phases } = plan;
  if (!Array.isArray(phases) || phases.length < 1 || phases.length > EXCHANGE_BLOCK.maxPhases) {
    throw badInput(`an exchange plan has 1 to ${EXCHANGE_BLOCK.maxPhases} phases`);
  }
  const timeoutMs = integer(plan.timeoutMs, 'timeoutMs', 1, MAX_TIMEOUT);
  const opId = plan.opId === undefined ? 0 : integer(plan.opId, 'opId', 1, MAX_TIMEOUT);
  if (plan.buffer !== undefined && !(plan.buffer instanceof Uint8Array))
    throw badInput('the plan buffer must be a Uint8Array (or Buffer)');
  phases.forEach((phase, i) => {
    const name = `phase ${i}`;
    if (phase === null || typeof phase !== 'object') throw badInput(`${name} must be an object`);
    const endpoint = endpointAddress(phase.endpoint, `${name}.endpoint`);
    const isIn = (endpoint & 0x80) !== 0;
    if (phase.start !== 'at-once' && phase.start !== 'after-previous')
      throw badInput(`${name}.start must be 'at-once' or 'after-previous'`);
    if (i === 0 && phase.start !== 'at-once') throw badInput('the first phase starts at once');
    const start = phase.start === 'at-once' ? PHASE_START.atOnce : PHASE_START.afterPrevious;
    const streamId = phase.streamId === undefined ? 0 : integer(phase.streamId, `${name}.streamId`, 0, 0xffff);
    const src = phase.source as Partial<{
      kind: string;
      bytes: unknown;
      length: unknown;
      offset: unknown;
      fd: unknown;
      position: unknown;
    }>;
    if (src === null || typeof src !== 'object') throw badInput(`${name}.source must be an object`);
    if (src.kind === 'inline') {
      if (phase.chunkSize !== undefined || phase.depth !== undefined)
        throw badInput(`${name}: an inline phase is one URB (no chunkSize or depth)`);
      if (!isIn) {
        if (!(src.bytes instanceof Uint8Array))
          throw badInput(`${name}: an inline OUT phase carries its bytes (a Uint8Array)`);
        integer(src.bytes.byteLength, `${name}.source.bytes length`, 1, EXCHANGE_BLOCK.inlineMax);
        const at = writePhase(b, i, endpoint, start, PHASE_SOURCE.inline, src.bytes.byteLength, 0, 0, 0, 0, streamId);
        b.bytes.set(src.bytes, at + EXCHANGE_BLOCK.inline);
      } else {
        if (src.bytes !== undefined) throw badInput(`${name}: an inline IN phase has a length, not bytes`);
        const length = integer(src.length, `${name}.source.length`, 1, EXCHANGE_BLOCK.inlineMax);
        writePhase(b, i, endpoint, start, PHASE_SOURCE.inline, length, 0, 0, 0, 0, streamId);
      }
      return;
    }
    const chunkSize = chunkSizeOf(phase.chunkSize, `${name}.chunkSize`);
    const depth = depthOf(phase.depth, `${name}.depth`);
    if (src.kind === 'buffer') {
      if (!plan.buffer) throw badInput(`${name}: a buffer phase needs the plan's buffer`);
      const offset = integer(src.offset, `${name}.source.offset`, 0, Number.MAX_SAFE_INTEGER);
      const length = integer(src.length, `${name}.source.length`, 1, MAX_PHASE);
      if (offset + length > plan.buffer.byteLength) {
        throw badInput(
          `${name}: offset + length (${offset + length}) exceeds the buffer (${plan.buffer.byteLength} bytes)`,
        );
      }
      writePhase(b, i, endpoint, start, PHASE_SOURCE.buffer, length, offset, 0, chunkSize, depth, streamId);
    } else if (src.kind === 'fd') {
      const fd = integer(src.fd, `${name}.source.fd`, 0, MAX_TIMEOUT);
      const position = integer(src.position, `${name}.source.position`, 0, Number.MAX_SAFE_INTEGER);
      const length = integer(src.length, `${name}.source.length`, 1, MAX_PHASE);
      writePhase(b, i, endpoint, start, PHASE_SOURCE.fd, length, position, fd, chunkSize, depth, streamId);
    } else {
      throw badInput(`${name}.source.kind must be 'inline', 'buffer' or 'fd'`);
    }
  });
  writeHeader(b, phases.length, timeoutMs, opId);
}

/** Reads the engine's facts back from the block. */
export function decodeFacts(b: ExchangeBlock, phaseCount: number, notes: string[] | undefined): ExchangeFacts {
  const phases: PhaseFacts[] = [];
  for (let i = 0; i < phaseCount; i++) {
    const at = EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
    if (b.bytes[at + EXCHANGE_BLOCK.reported] !== 1) break;
    const facts: PhaseFacts = {
      status: b.bytes[at + EXCHANGE_BLOCK.status]!,
      actualLength: b.view.getFloat64(at + EXCHANGE_BLOCK.actual, true),
    };
    if (b.bytes[at + EXCHANGE_BLOCK.endpoint]! & 0x80 && b.bytes[at + EXCHANGE_BLOCK.source] === PHASE_SOURCE.inline) {
      facts.bytes = b.bytes.slice(
        at + EXCHANGE_BLOCK.inline,
        at + EXCHANGE_BLOCK.inline + Math.min(facts.actualLength, EXCHANGE_BLOCK.inlineMax),
      );
    }
    const afterEndLength = b.view.getFloat64(at + EXCHANGE_BLOCK.afterEndLength, true);
    if (afterEndLength > 0) {
      const from = at + EXCHANGE_BLOCK.afterEndBytes;
      facts.afterEnd = {
        length: afterEndLength,
        bytes: b.bytes.slice(from, from + Math.min(afterEndLength, EXCHANGE_BLOCK.afterEndMax)),
      };
    }
    phases.push(facts);
  }
  return notes?.length ? { phases, notes } : { phases };
}

const CSW_LENGTH = 13;

/**
 * Checks a BOT command for the engine and writes its plan into `b`: the CBW inline at once, the
 * data phase (if any) after it, the 13-byte CSW read inline after that. Returns the data buffer
 * to pass along and whether there is a data phase. The BOT checks live here, once: a 31-byte CBW
 * with the USBC signature whose length and direction match the data phase.
 */
export function encodeBotPlan(
  request: BotExchangeRequest,
  opId: number,
  b: ExchangeBlock,
  stage = false,
): { buffer: Uint8Array | undefined; hasData: boolean } {
  if (request === null || typeof request !== 'object') throw badInput('a BOT exchange request must be an object');
  const { cbw, data } = request;
  if (!(cbw instanceof Uint8Array) || cbw.byteLength !== 31)
    throw badInput(`the CBW must be a Uint8Array of exactly 31 bytes`);
  if (cbw[0] !== 0x55 || cbw[1] !== 0x53 || cbw[2] !== 0x42 || cbw[3] !== 0x43)
    throw badInput('the CBW must start with the signature USBC');
  const outEp = endpointAddress(request.outEndpoint, 'outEndpoint', false);
  const inEp = endpointAddress(request.inEndpoint, 'inEndpoint', true);
  const timeoutMs = integer(request.timeoutMs, 'timeoutMs', 1, MAX_TIMEOUT);
  const chunkSize = chunkSizeOf(request.chunkSize, 'chunkSize');
  const depth = depthOf(request.depth, 'depth');
  const declared = (cbw[8]! | (cbw[9]! << 8) | (cbw[10]! << 16)) + cbw[11]! * 0x100_0000;
  let buffer: Uint8Array | undefined;
  let length = 0;
  let source: number = PHASE_SOURCE.buffer;
  let fd = 0;
  let offset = 0;
  let dataIn = false;
  if (data !== undefined) {
    if (data === null || typeof data !== 'object') throw badInput('data must be an object');
    if (data.direction !== 'in' && data.direction !== 'out') throw badInput("data.direction must be 'in' or 'out'");
    dataIn = data.direction === 'in';
    if ('buffer' in data && data.buffer !== undefined) {
      if (!(data.buffer instanceof Uint8Array)) throw badInput('data.buffer must be a Uint8Array (or Buffer)');
      buffer = data.buffer;
      length = data.buffer.byteLength;
    } else {
      const streamed = data as { fd: unknown; length: unknown; position: unknown };
      fd = integer(streamed.fd, 'data.fd', 0, MAX_TIMEOUT);
      length = integer(streamed.length, 'data.length', 0, Number.MAX_SAFE_INTEGER);
      offset = integer(streamed.position, 'data.position', 0, Number.MAX_SAFE_INTEGER);
      source = PHASE_SOURCE.fd;
    }
    if (length > MAX_PHASE)
      throw badInput('a BOT data phase is at most 4 GiB - 1 bytes (dCBWDataTransferLength is 32-bit)');
  }
  if (declared !== length)
    throw badInput(`the CBW's dCBWDataTransferLength (${declared}) does not match the data phase length (${length})`);
  if (length > 0 && ((cbw[12]! & 0x80) !== 0) !== dataIn)
    throw badInput('the CBW direction flag (bmCBWFlags bit 7) does not match data.direction');

  let at = writePhase(b, 0, outEp, PHASE_START.atOnce, PHASE_SOURCE.inline, 31, 0, 0, 0, 0, 0);
  b.bytes.set(cbw, at + EXCHANGE_BLOCK.inline);
  let count = 1;
  if (length > 0) {
    if (stage && source === PHASE_SOURCE.buffer)
      b.bytes[EXCHANGE_BLOCK.headerSize + count * EXCHANGE_BLOCK.phaseSize + EXCHANGE_BLOCK.stage] = 1;
    writePhase(
      b,
      count++,
      dataIn ? inEp : outEp,
      PHASE_START.afterPrevious,
      source,
      length,
      offset,
      fd,
      chunkSize,
      depth,
      0,
    );
  }
  at = writePhase(b, count++, inEp, PHASE_START.afterPrevious, PHASE_SOURCE.inline, CSW_LENGTH, 0, 0, 0, 0, 0);
  writeHeader(b, count, timeoutMs, opId);
  return { buffer: length > 0 ? buffer : undefined, hasData: length > 0 };
}

/**
 * Checks a BOT job for the engine and writes it: the 3-phase BOT plan in `b` (the data phase
 * covering every command's data, back to back) and the command table (exchange_block.h,
 * kCommandSize bytes per command: CBW, expected CSW, data length). Returns the table and the
 * data buffer. `stage`: move a buffer's bytes through the engine's pinned memory.
 */
export function encodeBotJob(
  request: BotJobRequest,
  opId: number,
  b: ExchangeBlock,
  stage: boolean,
): { table: Uint8Array; buffer: Uint8Array | undefined } {
  if (request === null || typeof request !== 'object') throw badInput('a BOT job must be an object');
  const { commands, data } = request;
  const B = EXCHANGE_BLOCK;
  if (!Array.isArray(commands) || commands.length < 1 || commands.length > B.maxJobCommands)
    throw badInput(`a BOT job has 1 to ${B.maxJobCommands} commands`);
  const outEp = endpointAddress(request.outEndpoint, 'outEndpoint', false);
  const inEp = endpointAddress(request.inEndpoint, 'inEndpoint', true);
  const timeoutMs = integer(request.timeoutMs, 'timeoutMs', 1, MAX_TIMEOUT);
  const chunkSize = chunkSizeOf(request.chunkSize, 'chunkSize');
  const depth = depthOf(request.depth, 'depth');
  if (data === null || typeof data !== 'object') throw badInput('a BOT job needs its data');
  if (data.direction !== 'in' && data.direction !== 'out') throw badInput("data.direction must be 'in' or 'out'");
  const dataIn = data.direction === 'in';
  const table = new Uint8Array(commands.length * B.commandSize);
  const view = new DataView(table.buffer);
  let total = 0;
  commands.forEach((c, k) => {
    const { cbw, csw } = c;
    if (!(cbw instanceof Uint8Array) || cbw.byteLength !== 31 || cbw[0] !== 0x55 || cbw[3] !== 0x43)
      throw badInput(`command ${k}: the CBW must be 31 bytes starting with USBC`);
    if (!(csw instanceof Uint8Array) || csw.byteLength !== CSW_LENGTH)
      throw badInput(`command ${k}: the expected CSW must be ${CSW_LENGTH} bytes`);
    const length = integer(c.length, `command ${k}: length`, 1, MAX_PHASE);
    const declared = (cbw[8]! | (cbw[9]! << 8) | (cbw[10]! << 16)) + cbw[11]! * 0x100_0000;
    if (declared !== length)
      throw badInput(`command ${k}: the CBW's dCBWDataTransferLength (${declared}) is not its length (${length})`);
    if (((cbw[12]! & 0x80) !== 0) !== dataIn)
      throw badInput(`command ${k}: the CBW direction flag does not match data.direction`);
    const at = k * B.commandSize;
    table.set(cbw, at + B.commandBytes);
    table.set(csw, at + B.commandStatus);
    view.setUint32(at + B.commandLength, length, true);
    total += length;
  });
  let buffer: Uint8Array | undefined;
  let source: number = PHASE_SOURCE.buffer;
  let fd = 0;
  let offset = 0;
  if ('buffer' in data) {
    if (!(data.buffer instanceof Uint8Array)) throw badInput('data.buffer must be a Uint8Array (or Buffer)');
    if (data.buffer.byteLength !== total)
      throw badInput(`the job's data buffer has ${data.buffer.byteLength} bytes; its commands move ${total}`);
    buffer = data.buffer;
  } else {
    fd = integer(data.fd, 'data.fd', 0, MAX_TIMEOUT);
    offset = integer(data.position, 'data.position', 0, Number.MAX_SAFE_INTEGER);
    source = PHASE_SOURCE.fd;
  }
  writePhase(b, 0, outEp, PHASE_START.atOnce, PHASE_SOURCE.inline, 31, 0, 0, 0, 0, 0);
  const at = writePhase(
    b,
    1,
    dataIn ? inEp : outEp,
    PHASE_START.afterPrevious,
    source,
    total,
    offset,
    fd,
    chunkSize,
    depth,
    0,
  );
  if (stage && source === PHASE_SOURCE.buffer) b.bytes[at + B.stage] = 1;
  writePhase(b, 2, inEp, PHASE_START.afterPrevious, PHASE_SOURCE.inline, CSW_LENGTH, 0, 0, 0, 0, 0);
  writeHeader(b, 3, timeoutMs, opId);
  b.view.setUint32(B.jobCommands, commands.length, true);
  return { table, buffer };
}

/** Commands of a job that completed whole with the expected CSW (the engine's count). */
export function decodeJobDone(b: ExchangeBlock): number {
  return b.view.getUint32(EXCHANGE_BLOCK.jobDone, true);
}
