import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import {
  DEFAULT_TIMEOUT_MS,
  type ScsiJob,
  type ScsiJobResult,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransport,
} from '../transport.js';
import { TransferStatus, transferStatusName, type TransferResult, type UsbDeviceHandle } from '../usb/backend.js';
import type { UasEvent } from './events.js';
import {
  ResponseCode,
  STATUS_IU_MAX_LENGTH,
  TaskManagementFunction,
  decodeStatusIu,
  encodeCommandIu,
  encodeTaskManagementIu,
  responseCodeName,
  type StatusIu,
} from './ius.js';
import { findUasInterface, readConfigurationDescriptor, type UasPipes } from './pipes.js';
import { TagAllocator } from './tags.js';
import { TASK_OVER, UasTask } from './task.js';
import { STATUS_READ_TIMEOUT_MS, readStatusStream } from './status-stream.js';
import { allocateStreams, refusesUas, streamEndpoints } from './setup.js';
import { commandOnStreams, type StreamsContext } from './on-streams.js';
import { runQueuedJob } from './queued-job.js';
import { highestReportedLun } from './luns.js';
import { asError, cancelled, ignoreGone, phaseError, responseError, resultOfSenseIu } from './outcomes.js';
import { Slots, leftMs, nextMacrotask, settledWithin, stopper } from './timing.js';
import { monotonicMs } from '../clock.js';

const DEFAULT_QUEUE_DEPTH = 16;
/** Linux `uas` queues 32 commands on a device without streams. */
const MAX_QUEUE_DEPTH_WITHOUT_STREAMS = 32;
/** Tags beyond the queue depth without streams: room for task management while every slot is busy. */
const SPARE_TAGS = 2;
const DEFAULT_TASK_MANAGEMENT_TIMEOUT_MS = 2_000;
/** How long a cancelled plan may take to come back before task management goes out anyway. */
const CANCEL_SETTLE_MS = 1_000;

export { uasUnsupportedReason } from './setup.js';

export interface UasTransportOptions {
  /** Which mass-storage interface to use when the device has several. */
  interfaceNumber?: number;
  /** Detach an active kernel driver (`uas`, `usb-storage`) before claiming: only the handoff lease passes true. */
  detachKernelDriver?: boolean;
  /**
   * Commands in flight at once (default 16). With streams at most the streams the device and
   * controller give; without, at most 32.
   */
  queueDepth?: number;
  /** How long a task management function may wait for its Response IU (default 2000 ms). */
  taskManagementTimeoutMs?: number;
  onEvent?: (event: UasEvent) => void;
}

/**
 * SCSI over USB Attached SCSI, host side, several commands in flight by tag.
 *
 * With bulk streams (a SuperSpeed device: its companion descriptors offer them, and it needs them)
 * each command's status read and data transfer are posted up front on stream = tag, then its
 * Command IU goes out. Without (USB 2 high speed) one status read is kept
 * pending for all commands, and a command's data moves only once the device sent Read Ready /
 * Write Ready for its tag: the order of Linux `drivers/usb/storage/uas.c`.
 *
 * A command that times out or is cancelled is aborted on the device: ABORT TASK for its tag,
 * LOGICAL UNIT RESET if that fails, a USB port reset if that fails too (each reported through
 * `onEvent`). CHECK CONDITION with the Sense IU's sense is a result, as on BOT.
 */
export class UasTransport implements ScsiTransport {
  readonly kind = 'uas' as const;
  /** Highest LUN REPORT LUNS listed at open (luns.ts): UAS has no GET MAX LUN. */
  get maxLun(): number {
    return this.highestLun;
  }
  private highestLun = 0;
  readonly fdStreaming = false;
  private readonly tasks = new Map<number, UasTask>();
  private readonly tags: TagAllocator;
  private readonly slots: Slots;
  private commandPipe: Promise<unknown> = Promise.resolve();
  private readonly dataPipes = new Map<number, Promise<unknown>>();
  private statusReader: Promise<void> | null = null;
  private readonly readerStop = new AbortController();
  private lunReset: Promise<boolean> | null = null;
  private broken: UsbScsiError | null = null;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();
  private readonly streamsContext: StreamsContext;
  /** Most tasks outstanding at once so far (commands and task management), for tests and benchmarks. */
  maxOutstanding = 0;
  /** Read/Write Ready IUs on streams that the backend posted the status read again on, for tests. */
  get readyIus(): number {
    return this.streamsContext.readyIus;
  }

  private constructor(
    readonly handle: UsbDeviceHandle,
    readonly pipes: UasPipes,
    /** Streams allocated per endpoint; 0: the USB 2 protocol. */
    readonly streams: number,
    readonly queueDepth: number,
    private readonly options: UasTransportOptions,
    private readonly detachedKernelDriver: boolean,
  ) {
    this.tags = new TagAllocator(streams > 0 ? streams : queueDepth + SPARE_TAGS);
    this.slots = new Slots(queueDepth);
    this.streamsContext = { handle, pipes, onEvent: options.onEvent, readyIus: 0 };
  }

  /**
   * Finds the UAS alternate setting from the configuration descriptor's Pipe Usage descriptors,
   * claims the interface, selects the setting and allocates streams where device, controller
   * and backend have them.
   */
  static async open(handle: UsbDeviceHandle, options: UasTransportOptions = {}): Promise<UasTransport> {
    const refused = refusesUas(handle);
    if (refused) throw new UsbScsiError(ErrorCodes.UNSUPPORTED, refused);
    const asked = options.queueDepth;
    if (asked !== undefined && (!Number.isInteger(asked) || asked < 1 || asked > 256))
      throw badInput(`a UAS queue depth is 1 to 256 commands; got ${asked}`);
    const pipes = findUasInterface(await readConfigurationDescriptor(handle), options.interfaceNumber);
    const n = pipes.interfaceNumber;

    let detached = false;
    if (handle.capabilities.kernelDriver && (await handle.kernelDriverActive(n))) {
      if (!options.detachKernelDriver) {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `the OS storage driver holds interface ${n}: take a handoff lease (it unmounts and detaches ` +
            `safely) or use the SG_IO transport`,
          { details: { interfaceNumber: n } },
        );
      }
      await handle.detachKernelDriver(n);
      detached = true;
    }
    let streams = 0;
    try {
      await handle.claimInterface(n);
      options.onEvent?.({ type: 'select-alternate', alternateSetting: pipes.alternateSetting });
      await handle.setAlternateSetting(n, pipes.alternateSetting);
      streams = await allocateStreams(handle, pipes, options);
      const depth =
        streams > 0
          ? Math.min(streams, asked ?? DEFAULT_QUEUE_DEPTH)
          : Math.min(asked ?? DEFAULT_QUEUE_DEPTH, MAX_QUEUE_DEPTH_WITHOUT_STREAMS);
      const transport = new UasTransport(handle, pipes, streams, depth, options, detached);
      transport.highestLun = await highestReportedLun((request) => transport.execute(request));
      return transport;
    } catch (err) {
      if (streams > 0) await handle.freeStreams?.(streamEndpoints(pipes)).catch(() => undefined);
      await handle.releaseInterface(n).catch(() => undefined);
      if (detached) await handle.attachKernelDriver(n).catch(() => undefined);
      throw err;
    }
  }

  get interfaceNumber(): number {
    return this.pipes.interfaceNumber;
  }

  /** Tasks (commands and task management functions) the device holds right now. */
  get outstanding(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (!t.ended) n++;
    return n;
  }

  async execute(request: ScsiRequest): Promise<ScsiResult> {
    this.assertUsable();
    if (request.dataFd) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        'the UAS transport moves data through buffers, not file descriptors',
      );
    }
    // Refused before a slot or a tag is taken: nothing is sent.
    encodeCommandIu({ tag: 1, lun: request.lun ?? 0, cdb: request.cdb });
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw badInput(`timeout ${timeoutMs} must be a positive number of ms`);
    await this.slots.acquire(request.signal);
    const run = this.run(request, timeoutMs);
    this.running.add(run);
    try {
      return await run;
    } finally {
      this.running.delete(run);
      this.slots.release();
    }
  }

  /**
   * READs or WRITEs back to back with up to `queueDepth` in flight, each on its own tag (and
   * stream), judged in job order (queued-job.ts): `ScsiDevice` runs readInto / read / write over
   * large ranges through it.
   */
  executeJob(job: ScsiJob): Promise<ScsiJobResult> {
    this.assertUsable();
    return runQueuedJob((request) => this.execute(request), job, this.queueDepth);
  }

  /** LOGICAL UNIT RESET on LUN 0, then a USB port reset if the device does not complete it. */
  async reset(): Promise<void> {
    this.assertUsable();
    if (!(await this.resetLun(0, 'requested'))) await this.usbReset('LOGICAL UNIT RESET failed');
    if (this.broken) throw this.broken;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.running]);
    this.readerStop.abort();
    await this.statusReader?.catch(() => undefined);
    const n = this.pipes.interfaceNumber;
    try {
      if (this.streams > 0 && !this.broken)
        await this.handle.freeStreams?.(streamEndpoints(this.pipes)).catch(ignoreGone);
      await this.handle.releaseInterface(n).catch(ignoreGone);
      if (this.detachedKernelDriver) await this.handle.attachKernelDriver(n).catch(ignoreGone);
    } finally {
      await this.handle.close().catch(ignoreGone);
    }
  }

  // ---- one command ------------------------------------------------------------------------

  private async run(request: ScsiRequest, timeoutMs: number): Promise<ScsiResult> {
    const started = process.hrtime.bigint();
    const tag = await this.tags.acquire(request.signal);
    if (tag === undefined) throw cancelled();
    const task = this.track(new UasTask(tag, request.lun ?? 0, 'command'));
    // On streams the backend's plan keeps the budget and hears the signal: no timer of ours.
    const onStreams = this.streams > 0 && this.handle.streamCommand !== undefined;
    const guard = onStreams ? undefined : stopper(timeoutMs, tag, request.signal);
    try {
      let result: ScsiResult;
      if (guard) {
        const work = this.exchange(task, request, monotonicMs() + timeoutMs);
        work.catch(() => undefined);
        result = await Promise.race([work, guard.stop]);
      } else result = await commandOnStreams(this.streamsContext, task, request, timeoutMs);
      result.durationNs = Number(process.hrtime.bigint() - started);
      return result;
    } catch (err) {
      const error = asError(err);
      task.fail(error);
      task.abortTransfers();
      // The device must not see a transfer of the command cancelled after ABORT TASK freed it
      // (QEMU's usb-uas asserts): the plan's cancelled transfers come back first.
      if (task.plan) await settledWithin(task.plan, CANCEL_SETTLE_MS);
      if (!task.ended) await this.recover(task, error.code === ErrorCodes.CANCELLED ? 'cancelled' : error.message);
      throw task.failure ?? error;
    } finally {
      guard?.dispose();
      task.abortTransfers();
      this.untrack(task);
    }
  }

  private async exchange(task: UasTask, request: ScsiRequest, end: number): Promise<ScsiResult> {
    const direction = request.data && request.data.length > 0 ? request.direction : 'none';
    const buffer = direction === 'none' ? undefined : request.data!;
    let data: { done: Promise<TransferResult>; abort: AbortController } | undefined;
    const startData = (input: boolean) => {
      const abort = new AbortController();
      const done = this.dataTransfer(task, input, buffer ?? new Uint8Array(0), end, abort.signal);
      done.catch(() => undefined);
      data = { done, abort };
    };
    if (this.streams > 0) {
      readStatusStream(this.handle, this.pipes, task);
      if (buffer) startData(direction === 'in');
    } else this.ensureStatusReader();
    const sent = await this.sendOnCommandPipe(
      encodeCommandIu({ tag: task.tag, lun: task.lun, cdb: request.cdb }),
      end,
      task.transfers.signal,
    );
    if (sent.status !== TransferStatus.OK || sent.actualLength !== 32) {
      // A Command IU that did not go out leaves no task on the device.
      if (sent.status === TransferStatus.STALL) task.ended = true;
      throw new UsbScsiError(
        sent.status === TransferStatus.TIMEOUT ? ErrorCodes.TIMEOUT : ErrorCodes.IO,
        `the Command IU for tag ${task.tag} did not go out ` +
          `(${transferStatusName(sent.status)}, ${sent.actualLength} of 32 bytes)`,
      );
    }
    for (;;) {
      const iu = await task.next();
      switch (iu.id) {
        case 'read-ready':
        case 'write-ready': {
          const wants = iu.id === 'read-ready' ? 'in' : 'out';
          if (direction !== 'none' && direction !== wants) {
            throw phaseError(`the device sent ${iu.id} for tag ${task.tag}, whose command moves data ${direction}`, {
              tag: task.tag,
            });
          }
          // With streams the data transfer is already posted: the Ready IU adds nothing.
          if (this.streams > 0) break;
          if (data) throw phaseError(`the device sent ${iu.id} twice for tag ${task.tag}`, { tag: task.tag });
          // A command the host sent without data gets a zero-length transfer: the device decided it has a data phase.
          startData(wants === 'in');
          break;
        }
        case 'response':
          task.ended = true;
          throw responseError(iu, task.lun);
        case 'sense': {
          task.ended = true;
          let moved: TransferResult = { status: TransferStatus.OK, actualLength: 0 };
          if (data) {
            await nextMacrotask();
            data.abort.abort(TASK_OVER);
            moved = await data.done;
          }
          return resultOfSenseIu(iu, direction, buffer, moved.actualLength);
        }
      }
    }
  }

  private track(task: UasTask): UasTask {
    this.tasks.set(task.tag, task);
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    return task;
  }

  /** Gives the tag back once the device is done with it; a task left unended keeps its tag until a reset. */
  private untrack(task: UasTask): void {
    if (!task.ended) return;
    if (this.tasks.get(task.tag) === task) this.tasks.delete(task.tag);
    this.tags.release(task.tag);
  }

  // ---- pipes --------------------------------------------------------------------------------

  private sendOnCommandPipe(iu: Uint8Array, end: number, signal: AbortSignal): Promise<TransferResult> {
    const send = this.commandPipe.then(() => {
      const left = leftMs(end);
      if (left === 0 || signal.aborted)
        return { status: left === 0 ? TransferStatus.TIMEOUT : TransferStatus.CANCELLED, actualLength: 0 };
      return this.handle.bulkOut(this.pipes.commandOut, iu, left, signal);
    });
    this.commandPipe = send.catch(() => undefined);
    return send;
  }

  private dataTransfer(
    task: UasTask,
    input: boolean,
    buffer: Uint8Array,
    end: number,
    own: AbortSignal,
  ): Promise<TransferResult> {
    const endpoint = input ? this.pipes.dataIn : this.pipes.dataOut;
    const signal = AbortSignal.any([task.transfers.signal, own]);
    const move = async (): Promise<TransferResult> => {
      const left = leftMs(end);
      if (left === 0) return { status: TransferStatus.TIMEOUT, actualLength: 0 };
      const result =
        this.streams > 0
          ? await this.handle.streamTransfer!(endpoint, task.tag, buffer, left, signal)
          : input
            ? await this.handle.bulkIn(endpoint, buffer, left, signal)
            : await this.handle.bulkOut(endpoint, buffer, left, signal);
      if (result.status === TransferStatus.STALL) {
        this.options.onEvent?.({ type: 'clear-halt', endpoint });
        await this.handle.clearHalt(endpoint).catch(() => undefined);
      }
      return result;
    };
    if (this.streams > 0) return move();
    // One transfer at a time on a pipe without streams.
    const run = (this.dataPipes.get(endpoint) ?? Promise.resolve()).then(move);
    this.dataPipes.set(
      endpoint,
      run.catch(() => undefined),
    );
    return run;
  }

  /**
   * Without streams: one status read pending while any task is outstanding; IUs routed by tag.
   * A reader that ended because no task was left is started again if one came meanwhile; one
   * that failed is not: its failure went to every task, and whichever task comes next (a
   * recovery's task management function first) starts a new one. Restarting from the failure
   * itself looped in promise reactions when a backend refused the read at once, and the event
   * loop never turned again.
   */
  private ensureStatusReader(): void {
    if (this.statusReader || this.closed) return;
    let failed = false;
    this.statusReader = this.readStatusPipe()
      .catch((err: unknown) => {
        failed = true;
        this.faultAll(asError(err));
      })
      .finally(() => {
        this.statusReader = null;
        if (!failed && this.outstanding > 0 && !this.broken && !this.readerStop.signal.aborted)
          this.ensureStatusReader();
      });
  }

  private async readStatusPipe(): Promise<void> {
    while (this.outstanding > 0 && !this.broken) {
      const bytes = new Uint8Array(STATUS_IU_MAX_LENGTH);
      const r = await this.handle.bulkIn(this.pipes.statusIn, bytes, STATUS_READ_TIMEOUT_MS, this.readerStop.signal);
      if (r.status === TransferStatus.CANCELLED) return;
      if (r.status === TransferStatus.STALL) {
        this.options.onEvent?.({ type: 'clear-halt', endpoint: this.pipes.statusIn });
        await this.handle.clearHalt(this.pipes.statusIn);
        continue;
      }
      if (r.status !== TransferStatus.OK)
        throw new UsbScsiError(ErrorCodes.IO, `the status pipe read ended with ${transferStatusName(r.status)}`);
      let iu: StatusIu;
      try {
        iu = decodeStatusIu(bytes.subarray(0, r.actualLength));
      } catch (err) {
        this.faultAll(asError(err));
        continue;
      }
      const task = this.tasks.get(iu.tag);
      if (!task || task.ended) {
        this.faultAll(
          phaseError(`the device sent a ${iu.id} IU for tag ${iu.tag}, which no command holds`, { iuTag: iu.tag }),
        );
        continue;
      }
      task.push(iu);
    }
  }

  /** An IU no task can own: every outstanding task's state is in doubt. */
  private faultAll(err: UsbScsiError): void {
    this.options.onEvent?.({ type: 'protocol-fault', message: err.message });
    for (const task of this.tasks.values()) if (!task.ended) task.fail(err);
  }

  // ---- recovery -----------------------------------------------------------------------------

  private async recover(task: UasTask, reason: string): Promise<void> {
    if (this.broken) return;
    if (await this.taskManagement(TaskManagementFunction.ABORT_TASK, task.lun, reason, task.tag)) {
      task.ended = true;
      return;
    }
    if (await this.resetLun(task.lun, `ABORT TASK for tag ${task.tag} failed`)) return;
    await this.usbReset(`LOGICAL UNIT RESET on LUN ${task.lun} failed`);
  }

  private resetLun(lun: number, reason: string): Promise<boolean> {
    this.lunReset ??= this.taskManagement(TaskManagementFunction.LOGICAL_UNIT_RESET, lun, reason).then((ok) => {
      this.lunReset = null;
      if (ok) {
        const gone = new UsbScsiError(ErrorCodes.IO, `the command was aborted by a LOGICAL UNIT RESET (${reason})`);
        for (const t of this.tasks.values()) {
          if (t.lun !== lun || t.ended || t.kind !== 'command') continue;
          t.ended = true;
          t.fail(gone);
          t.abortTransfers();
        }
      }
      return ok;
    });
    return this.lunReset;
  }

  private async usbReset(reason: string): Promise<void> {
    if (this.broken) return;
    this.options.onEvent?.({ type: 'usb-reset', reason });
    this.broken = new UsbScsiError(
      ErrorCodes.DEVICE_GONE,
      `the UAS device did not recover (${reason}) and its USB port was reset: list and open it again`,
    );
    for (const t of this.tasks.values()) {
      t.ended = true;
      t.fail(this.broken);
      t.abortTransfers();
    }
    this.readerStop.abort();
    await this.handle.resetDevice().catch(() => undefined);
  }

  /** Sends one task management function and waits (bounded) for its Response IU: true when it completed. */
  private async taskManagement(
    fn: TaskManagementFunction,
    lun: number,
    reason: string,
    taskTag?: number,
  ): Promise<boolean> {
    const report = (outcome: string) =>
      this.options.onEvent?.(
        fn === TaskManagementFunction.ABORT_TASK
          ? { type: 'abort-task', tag: taskTag!, reason, outcome }
          : { type: 'lun-reset', lun, reason, outcome },
      );
    if (this.broken) return false;
    const budget = this.options.taskManagementTimeoutMs ?? DEFAULT_TASK_MANAGEMENT_TIMEOUT_MS;
    const giveUp = AbortSignal.timeout(budget);
    const tag = await this.tags.acquire(giveUp);
    if (tag === undefined) {
      report(`no free tag within ${budget} ms`);
      return false;
    }
    const tmf = this.track(new UasTask(tag, lun, 'task-management'));
    const { stop, dispose } = stopper(budget, tag, giveUp);
    try {
      if (this.streams > 0) readStatusStream(this.handle, this.pipes, tmf);
      else this.ensureStatusReader();
      const iu = encodeTaskManagementIu({ tag, function: fn, lun, ...(taskTag !== undefined ? { taskTag } : {}) });
      const sent = await this.sendOnCommandPipe(iu, monotonicMs() + budget, tmf.transfers.signal);
      if (sent.status !== TransferStatus.OK) {
        report(`the Task Management IU did not go out (${transferStatusName(sent.status)})`);
        return false;
      }
      const answer = await Promise.race([tmf.next(), stop]);
      if (answer.id !== 'response') {
        report(`the device answered with a ${answer.id} IU`);
        return false;
      }
      report(responseCodeName(answer.responseCode));
      return answer.responseCode === ResponseCode.TMF_COMPLETE || answer.responseCode === ResponseCode.TMF_SUCCEEDED;
    } catch (err) {
      report(`no answer: ${asError(err).message}`);
      return false;
    } finally {
      dispose();
      tmf.ended = true;
      tmf.abortTransfers();
      this.untrack(tmf);
    }
  }

  private assertUsable(): void {
    if (this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'the transport is closed; open the device again');
    if (this.broken) throw this.broken;
  }
}
