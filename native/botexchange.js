'use strict';
// botExchange(request) for DeviceHandle, in JavaScript over the engine's exchangeBlock(block,
// data): the request is checked and encoded into a 128-byte exchange block (layout:
// src/common/exchange_block.h), the engine writes the outcome back into the same block and the
// promise resolves with undefined (or the engine's notes). One typed array crosses N-API per
// command instead of a request object read key by key and a result object built key by key:
// that was most of a TEST UNIT READY's cost in the benchmark (docs/benchmarks.md).

const BLOCK_SIZE = 128;
// Byte offsets: the same names and values as src/common/exchange_block.h.
const OFFSET = {
  cbw: 0, flags: 31, outEndpoint: 32, inEndpoint: 33, timeoutMs: 36, opId: 40, chunkSize: 44, depth: 48,
  fd: 52, length: 56, position: 64,
  cbwStatus: 72, dataStatus: 73, cswStatus: 74, outFlags: 75, cbwActual: 76, dataActual: 80, cswLength: 88, cswBytes: 89,
};
const F_QUEUE_AHEAD = 1, F_HAS_DATA = 2, F_DATA_IN = 4, F_DATA_FD = 8;
const R_DATA = 1, R_CSW = 2;
const STATUS_NAMES = ['ok', 'stall', 'timeout', 'overflow', 'cancelled'];

function badInput(message) {
  const err = new TypeError(message);
  err.code = 'E_BAD_INPUT';
  return err;
}

function integer(value, name, min, max) {
  if (typeof value !== 'number') throw badInput(`${name} must be a number`);
  if (!Number.isInteger(value)) throw badInput(`${name} must be an integer, got ${value}`);
  if (value < min || value > max) throw badInput(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function endpoint(value, name, wantIn) {
  const ep = integer(value, name, 0, 0xff);
  if ((ep & 0x0f) === 0 || (ep & 0x70) !== 0) throw badInput(`${name} must be a non-control endpoint address (1..15, bit 7 = IN)`);
  if (wantIn && !(ep & 0x80)) throw badInput(`${name} must be an IN endpoint (bit 7 set)`);
  if (!wantIn && ep & 0x80) throw badInput(`${name} must be an OUT endpoint (bit 7 clear)`);
  return ep;
}

function bytes(value, name) {
  if (!(value instanceof Uint8Array)) throw badInput(`${name} must be a Uint8Array (or Buffer)`);
  return value;
}

// Blocks are reused: allocating one per command would put a small typed array on the V8 heap
// that N-API must move off-heap to hand the engine a pointer.
const free = [];
function takeBlock() {
  const block = free.pop();
  if (block) return block;
  const bytes = new Uint8Array(new ArrayBuffer(BLOCK_SIZE));
  return { bytes, view: new DataView(bytes.buffer) };
}

function encode(request, b) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) throw badInput('request must be an object');
  const cbw = bytes(request.cbw, 'cbw');
  if (cbw.byteLength !== 31) throw badInput(`cbw must be exactly 31 bytes, got ${cbw.byteLength}`);
  const { bytes: u8, view } = b;
  u8.fill(0);
  u8.set(cbw, OFFSET.cbw);
  view.setUint8(OFFSET.outEndpoint, endpoint(request.outEndpoint, 'outEndpoint', false));
  view.setUint8(OFFSET.inEndpoint, endpoint(request.inEndpoint, 'inEndpoint', true));
  view.setUint32(OFFSET.timeoutMs, integer(request.timeoutMs, 'timeoutMs', 1, 0x7fffffff), true);
  if (request.opId !== undefined) view.setUint32(OFFSET.opId, integer(request.opId, 'opId', 1, 0x7fffffff), true);
  if (request.chunkSize !== undefined) {
    const chunk = integer(request.chunkSize, 'chunkSize', 1024, 64 * 1024 * 1024);
    if (chunk % 1024 !== 0) throw badInput('chunkSize must be a multiple of 1024 (whole packets at every speed)');
    view.setUint32(OFFSET.chunkSize, chunk, true);
  }
  if (request.depth !== undefined) view.setUint32(OFFSET.depth, integer(request.depth, 'depth', 1, 64), true);
  let flags = 0;
  if (request.queueAhead !== undefined) {
    if (typeof request.queueAhead !== 'boolean') throw badInput('queueAhead must be a boolean');
    if (request.queueAhead) flags |= F_QUEUE_AHEAD;
  }
  let buffer;
  const data = request.data;
  if (data !== undefined) {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw badInput('data must be an object');
    if (data.direction !== 'in' && data.direction !== 'out') throw badInput("data.direction must be 'in' or 'out'");
    flags |= F_HAS_DATA | (data.direction === 'in' ? F_DATA_IN : 0);
    if (data.buffer !== undefined) {
      buffer = bytes(data.buffer, 'data.buffer');
    } else {
      flags |= F_DATA_FD;
      view.setInt32(OFFSET.fd, integer(data.fd, 'data.fd', 0, 0x7fffffff), true);
      view.setFloat64(OFFSET.length, integer(data.length, 'data.length', 0, Number.MAX_SAFE_INTEGER), true);
      view.setFloat64(OFFSET.position, integer(data.position, 'data.position', 0, Number.MAX_SAFE_INTEGER), true);
    }
  }
  view.setUint8(OFFSET.flags, flags);
  return buffer;
}

function decode(b, notes) {
  const { bytes: u8, view } = b;
  const out = { cbw: { status: STATUS_NAMES[u8[OFFSET.cbwStatus]], actualLength: view.getUint32(OFFSET.cbwActual, true) } };
  const reported = u8[OFFSET.outFlags];
  if (reported & R_DATA) out.data = { status: STATUS_NAMES[u8[OFFSET.dataStatus]], actualLength: view.getFloat64(OFFSET.dataActual, true) };
  if (reported & R_CSW) {
    const length = u8[OFFSET.cswLength];
    out.csw = { status: STATUS_NAMES[u8[OFFSET.cswStatus]], actualLength: length, bytes: u8.slice(OFFSET.cswBytes, OFFSET.cswBytes + length) };
  }
  if (notes) out.notes = notes;
  return out;
}

/** Installs DeviceHandle.prototype.botExchange (see index.d.ts) on the loaded addon. */
function installBotExchange(addon) {
  const proto = addon.DeviceHandle.prototype;
  if (typeof proto.exchangeBlock !== 'function' || proto.botExchange) return;
  proto.botExchange = function botExchange(request) {
    const b = takeBlock();
    let pending;
    try {
      pending = this.exchangeBlock(b.bytes, encode(request, b));
    } catch (err) {
      free.push(b);
      throw err;
    }
    return pending.then(
      (notes) => {
        const out = decode(b, notes);
        free.push(b);
        return out;
      },
      (err) => {
        free.push(b);
        throw err;
      },
    );
  };
}

module.exports = { installBotExchange, BLOCK_SIZE };
