import type { BulkInOutcome, BulkOutOutcome } from '../bot/types.js';
import type { FaultInjector } from '../faults.js';
import { encodeSense } from '../scsi/sense.js';
import { Sense } from '../scsi/sense.js';
import type { ScsiTarget } from '../scsi/target.js';
import type { TargetResult } from '../scsi/types.js';

// The device side's own IU numbers (UAS-2 §6.2), apart from core's codec so that it can catch core's bugs.
const IuId = { COMMAND: 0x01, SENSE: 0x03, RESPONSE: 0x04, TASK_MANAGEMENT: 0x05, READ_READY: 0x06, WRITE_READY: 0x07 };
const ResponseCode = {
  TMF_COMPLETE: 0x00,
  INVALID_IU: 0x02,
  TMF_NOT_SUPPORTED: 0x04,
  TMF_FAILED: 0x05,
  INCORRECT_LUN: 0x09,
  OVERLAPPED_TAG: 0x0a,
};
const TaskManagementFunction = { ABORT_TASK: 0x01, LOGICAL_UNIT_RESET: 0x08 };

/** The pipes of the UAS alternate setting, as QEMU's `usb-uas` numbers them. */
export const UAS_PIPES = { commandOut: 0x01, statusIn: 0x82, dataIn: 0x83, dataOut: 0x04 } as const;

export interface UasDeviceOptions {
  target: ScsiTarget;
  faults: FaultInjector;
  /**
   * Streams per endpoint the device offers (its companion descriptors); 0: none (high speed). They
   * are used once the host allocates them; until then (and after a reset) the no-streams protocol runs.
   */
  streams: number;
  /** Milliseconds before the target runs a command (default 0): holds commands outstanding, reorders completions. */
  commandDelayMs?: (cdb: Uint8Array, tag: number) => number;
}

export interface UasDeviceStats {
  commands: number;
  /** Most commands the device held at once. */
  maxOutstanding: number;
  /** Order in which commands sent their status, by tag. */
  completionOrder: number[];
  taskManagement: { function: number; tag: number; taskTag: number; response: number | null }[];
}

interface UasCommand {
  tag: number;
  lun: number;
  cdb: Uint8Array;
  phase: 'executing' | 'data-out' | 'data-in' | 'status' | 'lost';
  /** The target has been started (a data-in command runs once the host's read shows how much it takes). */
  started: boolean;
  dataIn: Uint8Array;
  sentIn: number;
  expectOut: number;
  received: Uint8Array[];
  receivedBytes: number;
  result?: TargetResult;
  /** Data phase announced by Read/Write Ready (without streams). */
  ready: boolean;
  /** A `not-ready` fault took this command: NOT READY sense instead of running it. */
  notReady?: 'becoming-ready' | 'medium-not-present';
}

/**
 * Device side of USB Attached SCSI in process, on the same SCSI target as BOT: Command and Task
 * Management IUs on the command pipe, Sense / Response / Read Ready / Write Ready on the status
 * pipe, several commands outstanding by tag, completions in the order the target finishes them.
 * With streams each IU and data transfer travels on stream = tag; without, one status queue and
 * one data phase at a time, announced by Read/Write Ready (as QEMU's `hw/usb/dev-uas.c` does).
 */
export class UasDevice {
  readonly stats: UasDeviceStats = { commands: 0, maxOutstanding: 0, completionOrder: [], taskManagement: [] };
  private readonly commands = new Map<number, UasCommand>();
  /** Status IUs waiting for a read: one queue without streams (key 0), one per stream with. */
  private readonly status = new Map<number, Uint8Array[]>();
  /** Without streams: commands waiting for their data phase, in order; the head has it. */
  private readonly dataQueue: UasCommand[] = [];
  private readonly listeners = new Set<() => void>();
  private generation = 0;
  /** Streams the host allocated (0: the no-streams protocol, whatever the link offers). */
  private activeStreams = 0;

  constructor(private readonly options: UasDeviceOptions) {}

  get streams(): number {
    return this.options.streams;
  }

  /** The host allocated (count > 0) or freed (0) streams on the UAS endpoints. */
  useStreams(count: number): void {
    this.activeStreams = Math.min(count, this.options.streams);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Power-on / port reset / SET_INTERFACE: every task and queued IU is gone. */
  powerOn(): void {
    this.generation++;
    this.activeStreams = 0;
    this.commands.clear();
    this.status.clear();
    this.dataQueue.length = 0;
    this.emit();
  }

  resetStats(): void {
    Object.assign(this.stats, { commands: 0, maxOutstanding: 0, completionOrder: [], taskManagement: [] });
  }

  offerBulkOut(endpoint: number, stream: number, bytes: Uint8Array): BulkOutOutcome {
    if (endpoint === UAS_PIPES.commandOut) {
      this.receiveIu(bytes);
      this.emit();
      return { status: 'ok', accepted: bytes.length };
    }
    const command = this.dataCommand('data-out', stream);
    if (!command) return { status: 'nak' };
    const take = Math.min(bytes.length, command.expectOut - command.receivedBytes);
    command.received.push(bytes.slice(0, take));
    command.receivedBytes += take;
    if (command.receivedBytes >= command.expectOut) {
      this.releaseDataPhase(command);
      this.execute(command, concat(command.received), 0);
    }
    this.emit();
    return { status: 'ok', accepted: bytes.length };
  }

  pollBulkIn(endpoint: number, stream: number, maxLength: number): BulkInOutcome {
    if (endpoint === UAS_PIPES.statusIn) {
      const queue = this.status.get(this.activeStreams > 0 ? stream : 0);
      const iu = queue?.shift();
      return iu ? { status: 'ok', data: iu } : { status: 'nak' };
    }
    const command = this.dataCommand('data-in', stream);
    if (!command) return { status: 'nak' };
    if (!command.started) this.execute(command, new Uint8Array(0), maxLength);
    // Still running; a command that has no data after all ends its data phase with a zero-length packet.
    if (!command.result) return { status: 'nak' };
    const chunk = command.dataIn.subarray(command.sentIn, command.sentIn + maxLength);
    command.sentIn += chunk.length;
    if (command.sentIn >= command.dataIn.length) this.finishData(command);
    this.emit();
    return { status: 'ok', data: chunk.slice() };
  }

  // ---- command pipe ---------------------------------------------------------------------------

  private receiveIu(bytes: Uint8Array): void {
    const tag = bytes.length >= 4 ? (bytes[2]! << 8) | bytes[3]! : 0;
    if (bytes[0] === IuId.TASK_MANAGEMENT && bytes.length >= 16) {
      this.taskManagement(bytes, tag);
      return;
    }
    if (bytes[0] !== IuId.COMMAND || bytes.length < 32 || (bytes[6]! & 0xfc) !== 0) {
      this.respond(tag, ResponseCode.INVALID_IU);
      return;
    }
    if (this.activeStreams > 0 && (tag < 1 || tag > this.activeStreams)) {
      this.respond(tag, ResponseCode.INVALID_IU);
      return;
    }
    if (this.commands.has(tag)) {
      this.respond(tag, ResponseCode.OVERLAPPED_TAG);
      return;
    }
    const lun = bytes[9]!;
    if (!this.options.target.units[lun]) {
      this.respond(tag, ResponseCode.INCORRECT_LUN);
      return;
    }
    const cdb = bytes.slice(16, 32);
    const opcode = cdb[0]!;
    this.stats.commands++;
    const ctx = { opcode, lun, commandIndex: this.stats.commands };
    const faults = this.options.faults;
    if (faults.take('uas-overlapped-tag', ctx)) {
      this.respond(tag, ResponseCode.OVERLAPPED_TAG);
      return;
    }
    const refused = faults.take('uas-response', ctx);
    if (refused) {
      this.respond(tag, refused.responseCode ?? ResponseCode.INVALID_IU);
      return;
    }
    const command: UasCommand = {
      tag,
      lun,
      cdb,
      phase: 'executing',
      dataIn: new Uint8Array(0),
      sentIn: 0,
      expectOut: 0,
      received: [],
      receivedBytes: 0,
      ready: false,
      started: false,
    };
    if (faults.take('uas-lost-status', ctx)) command.phase = 'lost';
    else if (faults.take('uas-wrong-tag', ctx)) command.tag = tag ^ 0x4000;
    // INQUIRY, REQUEST SENSE and REPORT LUNS report normally (as on BOT, SPC-5 §5.14).
    const notReady = [0x12, 0x03, 0xa0].includes(cdb[0]!) ? undefined : faults.take('not-ready', ctx);
    if (notReady) command.notReady = notReady.reason ?? 'becoming-ready';
    this.commands.set(tag, command);
    this.stats.maxOutstanding = Math.max(this.stats.maxOutstanding, this.commands.size);
    if (command.phase === 'lost') return;
    const plan = this.options.target.plan(lun, cdb, 'in', 0);
    if (plan.direction === 'out' && plan.length > 0) {
      command.phase = 'data-out';
      command.expectOut = plan.length;
      this.queueData(command);
      return;
    }
    if (plan.direction === 'in') {
      // The target's models size their data by the host's transfer length (BOT's dCBWDataTransferLength):
      // here that is the length of the host's data-in read, so the command runs when the read arrives.
      command.phase = 'data-in';
      this.queueData(command);
      // With streams the host posts its data read before the Command IU: none by now means it expects no data.
      if (this.activeStreams > 0)
        setImmediate(() => {
          if (!command.started && this.commandAt(command) === command) this.execute(command, new Uint8Array(0), 0);
        });
      return;
    }
    this.execute(command, new Uint8Array(0), 0);
  }

  private execute(command: UasCommand, dataOut: Uint8Array, hostLength: number): void {
    command.started = true;
    const input = command.phase === 'data-in';
    if (!input) command.phase = 'executing';
    const generation = this.generation;
    const run = () => {
      const sense = command.notReady === 'medium-not-present' ? Sense.mediumNotPresent() : Sense.becomingReady();
      const outcome: Promise<TargetResult> = command.notReady
        ? Promise.resolve({ status: 0x02, data: new Uint8Array(0), sense })
        : this.options.target.execute({
            lun: command.lun,
            cdb: command.cdb,
            dataOut,
            hostDirection: input ? 'in' : dataOut.length > 0 ? 'out' : 'none',
            hostLength: input ? hostLength : dataOut.length,
            tag: command.tag,
          });
      void outcome
        .catch((): TargetResult => ({ status: 0x02, data: new Uint8Array(0), sense: Sense.internalTargetFailure() }))
        .then((result) => {
          // aborted or reset while it ran: the result goes nowhere
          if (generation !== this.generation || this.commandAt(command) !== command) return;
          command.result = result;
          if (input && hostLength > 0) command.dataIn = result.data.subarray(0, hostLength);
          else this.sendStatus(command);
          this.emit();
        });
    };
    const delay = this.options.commandDelayMs?.(command.cdb, command.tag) ?? 0;
    if (delay > 0) setTimeout(run, delay);
    else run();
  }

  /** The command a tag maps to, whatever tag its (faulty) IUs carry. */
  private commandAt(command: UasCommand): UasCommand | undefined {
    for (const c of this.commands.values()) if (c === command) return c;
    return undefined;
  }

  private queueData(command: UasCommand): void {
    if (this.activeStreams > 0) {
      // The host's stream transfers find it by tag. Some bridges announce the data phase anyway.
      const ready = this.options.faults.take('uas-ready-on-streams', { opcode: command.cdb[0]!, lun: command.lun });
      if (ready) {
        const id = command.phase === 'data-in' ? IuId.READ_READY : IuId.WRITE_READY;
        this.queueStatus(streamOf(command), iu(id, command.tag, ready.bytes ?? 4));
      }
      return;
    }
    this.dataQueue.push(command);
    this.announceData();
  }

  private announceData(): void {
    const head = this.dataQueue[0];
    if (!head || head.ready) return;
    head.ready = true;
    this.queueStatus(head.tag, iu(head.phase === 'data-in' ? IuId.READ_READY : IuId.WRITE_READY, head.tag, 4));
  }

  private dataCommand(phase: 'data-in' | 'data-out', stream: number): UasCommand | undefined {
    if (this.activeStreams > 0) {
      const c = this.commands.get(stream);
      return c && c.phase === phase ? c : undefined;
    }
    const head = this.dataQueue[0];
    return head && head.ready && head.phase === phase ? head : undefined;
  }

  private finishData(command: UasCommand): void {
    this.releaseDataPhase(command);
    this.sendStatus(command);
  }

  /** Without streams the next command's Read/Write Ready goes out once this one's data has moved. */
  private releaseDataPhase(command: UasCommand): void {
    const i = this.dataQueue.indexOf(command);
    if (i < 0) return;
    this.dataQueue.splice(i, 1);
    if (i === 0) this.announceData();
  }

  private sendStatus(command: UasCommand): void {
    const result = command.result!;
    const sense = result.status === 0x02 && result.sense ? encodeSense(result.sense, false) : new Uint8Array(0);
    const bytes = iu(IuId.SENSE, command.tag, 16 + sense.length);
    bytes[6] = result.status;
    bytes[14] = sense.length >> 8;
    bytes[15] = sense.length & 0xff;
    bytes.set(sense, 16);
    command.phase = 'status';
    this.forget(command);
    this.stats.completionOrder.push(command.tag);
    this.queueStatus(streamOf(command), bytes);
  }

  private forget(command: UasCommand): void {
    for (const [tag, c] of this.commands) if (c === command) this.commands.delete(tag);
    this.releaseDataPhase(command);
  }

  private respond(tag: number, code: number): void {
    const bytes = iu(IuId.RESPONSE, tag, 8);
    bytes[7] = code;
    this.queueStatus(tag, bytes);
  }

  private queueStatus(stream: number, bytes: Uint8Array): void {
    const key = this.activeStreams > 0 ? stream : 0;
    const queue = this.status.get(key) ?? [];
    queue.push(bytes);
    this.status.set(key, queue);
  }

  // ---- task management ------------------------------------------------------------------------

  private taskManagement(bytes: Uint8Array, tag: number): void {
    const fn = bytes[4]!;
    const taskTag = (bytes[6]! << 8) | bytes[7]!;
    const lun = bytes[9]!;
    const record = { function: fn, tag, taskTag, response: null as number | null };
    this.stats.taskManagement.push(record);
    const faults = this.options.faults;
    if (faults.take('uas-tmf-no-response')) return;
    if (this.commands.has(tag)) {
      this.respond(tag, (record.response = ResponseCode.OVERLAPPED_TAG));
      return;
    }
    let code: number;
    if (fn === TaskManagementFunction.ABORT_TASK) {
      const victim = this.commands.get(taskTag);
      code = faults.take('uas-abort-fails') ? ResponseCode.TMF_FAILED : ResponseCode.TMF_COMPLETE;
      if (victim && code === ResponseCode.TMF_COMPLETE) this.abort(victim);
    } else if (fn === TaskManagementFunction.LOGICAL_UNIT_RESET) {
      code = ResponseCode.TMF_COMPLETE;
      for (const c of [...this.commands.values()]) if (c.lun === lun) this.abort(c);
    } else code = ResponseCode.TMF_NOT_SUPPORTED;
    record.response = code;
    this.respond(tag, code);
  }

  /** Drops a task: its queued status IUs and its data phase go with it. */
  private abort(command: UasCommand): void {
    this.forget(command);
    if (this.activeStreams > 0) this.status.delete(command.tag);
    else {
      const queue = this.status.get(0) ?? [];
      this.status.set(
        0,
        queue.filter((b) => b[0] === IuId.RESPONSE || ((b[2]! << 8) | b[3]!) !== command.tag),
      );
    }
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}

function streamOf(command: UasCommand): number {
  // A wrong-tag fault changes the tag inside the IU, not the stream it travels on.
  return command.tag & ~0x4000;
}

function iu(id: number, tag: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  bytes[0] = id;
  bytes[2] = tag >> 8;
  bytes[3] = tag & 0xff;
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
