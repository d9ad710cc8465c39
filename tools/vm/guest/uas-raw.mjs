// A minimal UAS initiator written straight on the native engine's transfer plans, for the guest's
// checks of what UAS needs of the engine (streams, stream ids per phase, several plans in flight,
// facts per transfer) against QEMU's usb-uas. Test code, not the product's transport: core's
// UasTransport (packages/core/src/uas) is that. IU layouts: Linux include/linux/usb/uas.h.
import { assert } from './util.mjs';

/** core's TransferStatus.OK (the engine's status numbers are core's). */
const TransferStatusOk = 0;

export const IU = { COMMAND: 0x01, SENSE: 0x03, RESPONSE: 0x04, TASK_MGMT: 0x05, READ_READY: 0x06, WRITE_READY: 0x07 };
export const TMF = { ABORT_TASK: 0x01, LOGICAL_UNIT_RESET: 0x08 };
/** Response IU codes (uas.h RC_*). */
export const RC = { TMF_COMPLETE: 0x00, INVALID_INFO_UNIT: 0x02, TMF_NOT_SUPPORTED: 0x04, TMF_SUCCEEDED: 0x08 };
const STATUS_BYTES = 64;

/** Command IU: 32 bytes, LUN 0, simple task attribute, no additional CDB length. */
export function commandIu(tag, cdb) {
  assert(cdb.length <= 16, 'a CDB of at most 16 bytes');
  const iu = new Uint8Array(32);
  iu[0] = IU.COMMAND;
  iu[2] = tag >> 8;
  iu[3] = tag & 0xff;
  iu.set(cdb, 16);
  return iu;
}

/** Task Management IU: 16 bytes, LUN 0. */
export function taskIu(tag, fn, taskTag = 0) {
  const iu = new Uint8Array(16);
  iu[0] = IU.TASK_MGMT;
  iu[2] = tag >> 8;
  iu[3] = tag & 0xff;
  iu[4] = fn;
  iu[6] = taskTag >> 8;
  iu[7] = taskTag & 0xff;
  return iu;
}

/** Decodes a status-pipe IU (Sense, Response, Read/Write Ready). */
export function parseStatusIu(bytes) {
  assert(bytes.length >= 4, `a status IU of at least 4 bytes, got ${bytes.length}`);
  const id = bytes[0];
  const tag = (bytes[2] << 8) | bytes[3];
  if (id === IU.SENSE) {
    const senseLength = (bytes[14] << 8) | bytes[15];
    const sense = bytes.slice(16, 16 + senseLength);
    return {
      id,
      tag,
      status: bytes[6],
      sense,
      senseKey: sense.length > 2 ? sense[2] & 0x0f : null,
      asc: sense.length > 13 ? sense[12] : null,
    };
  }
  if (id === IU.RESPONSE) return { id, tag, responseCode: bytes[7] };
  return { id, tag };
}

/** The Pipe Usage descriptors (type 24h) of the configuration: pipe id → endpoint address. */
export function pipeUsage(configDescriptor) {
  const pipes = {};
  let lastEndpoint = null;
  let uasInterface = null;
  let inUas = false;
  for (let at = 0; at + 2 <= configDescriptor.length;) {
    const len = configDescriptor[at];
    const type = configDescriptor[at + 1];
    if (len < 2) break;
    if (type === 0x04) {
      inUas = configDescriptor[at + 5] === 8 && configDescriptor[at + 6] === 6 && configDescriptor[at + 7] === 0x62;
      if (inUas) uasInterface = { number: configDescriptor[at + 2], alternate: configDescriptor[at + 3] };
    } else if (type === 0x05) {
      lastEndpoint = configDescriptor[at + 2];
    } else if (type === 0x24 && inUas && lastEndpoint !== null) {
      pipes[configDescriptor[at + 2]] = lastEndpoint;
    }
    at += len;
  }
  return { uasInterface, command: pipes[1], status: pipes[2], dataIn: pipes[3], dataOut: pipes[4] };
}

/** Reads the whole active configuration descriptor with two GET_DESCRIPTORs. */
export async function readConfigDescriptor(handle) {
  const setup = { requestType: 0x80, request: 6, value: 0x0200, index: 0 };
  const head = await handle.controlTransfer(setup, 9, 5000);
  assert(head.status === TransferStatusOk && head.data?.length === 9, 'the configuration descriptor header');
  const total = head.data[2] | (head.data[3] << 8);
  const whole = await handle.controlTransfer(setup, total, 5000);
  assert(whole.status === TransferStatusOk && whole.data?.length === total, 'the whole configuration descriptor');
  return whole.data;
}

/**
 * One initiator per claimed handle. `streams`: USB 3 mode (tag = stream id; each command is ONE
 * plan: the Command IU, then the data and the status read on stream = tag, all submitted at once);
 * else USB 2 mode (Command IUs on their own, one reader of the status pipe dispatching by tag;
 * data only after Read/Write Ready).
 */
export class RawUas {
  constructor(handle, pipes, { streams }) {
    this.handle = handle;
    this.pipes = pipes;
    this.streams = streams;
    this.pending = new Map(); // tag → { resolve, reject, dataIn, dataOut, buffer }
    this.reader = null;
    this.events = []; // [ms since start, what, tag]: the order transfers came back in
    this.t0 = performance.now();
  }

  note(what, tag) {
    this.events.push([Number((performance.now() - this.t0).toFixed(2)), what, tag]);
  }

  /**
   * Runs one command. `dataIn`: bytes expected (exact); `dataOut`: bytes sent. Resolves with
   * { tag, status, sense, senseKey, asc, data, facts }; `signal` cancels its plan(s).
   */
  command(tag, cdb, { dataIn = 0, dataOut = null, timeoutMs = 20_000, signal } = {}) {
    return this.streams
      ? this.#streamCommand(tag, cdb, dataIn, dataOut, timeoutMs, signal)
      : this.#queuedCommand(tag, cdb, dataIn, dataOut, timeoutMs, signal);
  }

  /** A task management function; resolves with the Response IU. */
  async task(tag, fn, taskTag, { timeoutMs = 20_000 } = {}) {
    const iu = taskIu(tag, fn, taskTag);
    if (this.streams) {
      const buffer = new Uint8Array(STATUS_BYTES);
      // The response read first, then the IU: two plans, as in #streamCommand.
      const response = this.handle.exchange({
        timeoutMs,
        buffer,
        phases: [
          {
            endpoint: this.pipes.status,
            start: 'at-once',
            streamId: tag,
            source: { kind: 'buffer', offset: 0, length: STATUS_BYTES },
          },
        ],
      });
      const sent = this.handle.exchange({
        timeoutMs,
        phases: [{ endpoint: this.pipes.command, start: 'at-once', source: { kind: 'inline', bytes: iu } }],
      });
      const [facts, sentFacts] = await Promise.all([response, sent]);
      this.note('response', tag);
      assert(sentFacts.phases[0]?.status === TransferStatusOk, `the IU went out: ${JSON.stringify(sentFacts.phases)}`);
      const st = facts.phases[0];
      assert(st && st.status === TransferStatusOk, `the Response IU arrived: ${JSON.stringify(facts.phases)}`);
      return parseStatusIu(buffer.subarray(0, st.actualLength));
    }
    const done = this.#expect(tag, { task: true });
    await this.#sendIu(iu, timeoutMs);
    return done;
  }

  async #streamCommand(tag, cdb, dataIn, dataOut, timeoutMs, signal) {
    const dataLength = dataIn || dataOut?.length || 0;
    const data = dataOut ?? new Uint8Array(dataLength);
    const statusIu = new Uint8Array(STATUS_BYTES);
    // Posted in the order Linux `uas` posts them (uas_submit_urbs): the status read, then data and
    // the Command IU, so the stream is primed before the device can answer. QEMU's usb-uas (7.2)
    // needs it: a status it queues before its stream's read is posted sits at the head of its
    // results list, and its send routine stops there, so the statuses of other tags queued behind
    // it wait, although their reads are posted, until a later status runs the routine again: for
    // the last commands of a run, never (hw/usb/dev-uas.c usb_uas_send_status_bh). Command IU
    // first, a READ at queue depth 16 lost its status about once in 30 runs. Two plans
    // (the engine submits a plan's URBs before its call returns): in one, the status read, which
    // comes back short, would end the plan before the phases after it were reported.
    const status = this.handle.exchange({
      timeoutMs,
      buffer: statusIu,
      phases: [
        {
          endpoint: this.pipes.status,
          start: 'at-once',
          streamId: tag,
          source: { kind: 'buffer', offset: 0, length: STATUS_BYTES },
        },
      ],
      signal,
    });
    const stopTransfer = new AbortController();
    const transferPhases = [];
    if (dataLength)
      transferPhases.push({
        endpoint: dataIn ? this.pipes.dataIn : this.pipes.dataOut,
        start: 'at-once',
        streamId: tag,
        source: { kind: 'buffer', offset: 0, length: dataLength },
      });
    transferPhases.push({
      endpoint: this.pipes.command,
      start: 'at-once',
      source: { kind: 'inline', bytes: commandIu(tag, cdb) },
    });
    const transfer = this.handle.exchange({
      timeoutMs,
      ...(dataLength ? { buffer: data } : {}),
      phases: transferPhases,
      signal: signal ? AbortSignal.any([signal, stopTransfer.signal]) : stopTransfer.signal,
    });
    let statusFacts;
    try {
      statusFacts = await status;
    } catch (err) {
      stopTransfer.abort();
      await transfer.catch(() => undefined);
      throw err;
    }
    // Once the status came (or never will), data the device did not move (a CHECK CONDITION) is not
    // waited for; with GOOD status the data phase is complete already.
    const good = statusFacts.phases[0]?.status === TransferStatusOk && statusIu[0] === IU.SENSE && statusIu[6] === 0;
    if (!good) stopTransfer.abort();
    const transferFacts = await transfer;
    this.note('status', tag);
    const facts = { phases: [...statusFacts.phases, ...transferFacts.phases] };
    const st = statusFacts.phases[0];
    const moved = dataLength ? (transferFacts.phases[0]?.actualLength ?? 0) : 0;
    if (!st || st.status !== TransferStatusOk) return { tag, status: null, facts, data: data.subarray(0, moved) };
    const iu = parseStatusIu(statusIu.subarray(0, st.actualLength));
    assert(iu.tag === tag, `the status IU's tag ${iu.tag} is the command's ${tag}`);
    return { ...iu, facts, data: data.subarray(0, dataIn ? moved : 0) };
  }

  async #queuedCommand(tag, cdb, dataIn, dataOut, timeoutMs, signal) {
    const done = this.#expect(tag, { dataIn, dataOut, timeoutMs, signal });
    await this.#sendIu(commandIu(tag, cdb), timeoutMs);
    return done;
  }

  async #sendIu(iu, timeoutMs) {
    const facts = await this.handle.exchange({
      timeoutMs,
      phases: [{ endpoint: this.pipes.command, start: 'at-once', source: { kind: 'inline', bytes: iu } }],
    });
    assert(facts.phases[0]?.status === TransferStatusOk, `the IU went out: ${JSON.stringify(facts.phases)}`);
  }

  #expect(tag, what) {
    return new Promise((resolve, reject) => {
      this.pending.set(tag, { ...what, resolve, reject, data: null });
      this.reader ??= this.#readStatus().finally(() => {
        this.reader = null;
      });
    });
  }

  /** USB 2: one status read at a time; Read/Write Ready starts that tag's data; Sense/Response ends it. */
  async #readStatus() {
    const buffer = new Uint8Array(STATUS_BYTES);
    while (this.pending.size) {
      let iu;
      try {
        const facts = await this.handle.exchange({
          timeoutMs: 20_000,
          buffer,
          phases: [
            {
              endpoint: this.pipes.status,
              start: 'at-once',
              source: { kind: 'buffer', offset: 0, length: STATUS_BYTES },
            },
          ],
        });
        const f = facts.phases[0];
        assert(f.status === TransferStatusOk, `a status IU: ${JSON.stringify(facts.phases)}`);
        iu = parseStatusIu(buffer.slice(0, f.actualLength));
      } catch (err) {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        return;
      }
      const p = this.pending.get(iu.tag);
      if (!p) {
        this.note(`stray-iu-${iu.id}`, iu.tag); // e.g. Read Ready of an aborted command
        continue;
      }
      if (iu.id === IU.READ_READY || iu.id === IU.WRITE_READY) {
        this.note(iu.id === IU.READ_READY ? 'read-ready' : 'write-ready', iu.tag);
        const length = p.dataIn || p.dataOut?.length || 0;
        const data = p.dataOut ? Uint8Array.from(p.dataOut) : new Uint8Array(length);
        try {
          const facts = await this.handle.exchange({
            timeoutMs: p.timeoutMs,
            buffer: data,
            signal: p.signal,
            phases: [
              {
                endpoint: p.dataIn ? this.pipes.dataIn : this.pipes.dataOut,
                start: 'at-once',
                source: { kind: 'buffer', offset: 0, length },
              },
            ],
          });
          p.data = data.subarray(0, facts.phases[0].actualLength);
          p.dataFacts = facts;
        } catch (err) {
          this.pending.delete(iu.tag);
          p.reject(err);
        }
        continue;
      }
      this.note(iu.id === IU.RESPONSE ? 'response' : 'status', iu.tag);
      this.pending.delete(iu.tag);
      p.resolve({ ...iu, data: p.data ?? new Uint8Array(0), facts: p.dataFacts ?? null });
    }
  }
}
