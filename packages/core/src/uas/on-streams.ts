// One UAS command on bulk streams (USB 3): one plan in the backend, one round trip.
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { ScsiRequest, ScsiResult } from '../transport.js';
import { TransferStatus, transferStatusName, type TransferResult, type UsbDeviceHandle } from '../usb/backend.js';
import type { UasEvent } from './events.js';
import { STATUS_IU_MAX_LENGTH, decodeStatusIu, encodeCommandIu, encodeReadyIu, type StatusIu } from './ius.js';
import { cancelled, phaseError, responseError, resultOfSenseIu, timedOut } from './outcomes.js';
import type { UasPipes } from './pipes.js';
import type { UasTask } from './task.js';
import { leftMs } from './timing.js';
import { monotonicMs } from '../clock.js';

export interface StreamsContext {
  readonly handle: UsbDeviceHandle;
  readonly pipes: UasPipes;
  readonly onEvent?: ((event: UasEvent) => void) | undefined;
  /** Ready IUs the backend re-posted the status read on, summed. */
  readyIus: number;
}

/**
 * The command's status read, data transfer and Command IU go to the backend as one plan
 * (`streamCommand`), posted in the order Linux `uas` posts them. Core tells the backend what a
 * Ready IU for this tag and direction looks like: the backend posts the status read again when
 * it receives exactly that, with no round trip here, and the plan comes back with the
 * command's last IU (or with the Command IU that did not go out). The plan's deadline is the
 * command's budget, and the caller's signal cancels it: no timer and no AbortController of ours.
 */
export async function commandOnStreams(
  ctx: StreamsContext,
  task: UasTask,
  request: ScsiRequest,
  timeoutMs: number,
): Promise<ScsiResult> {
  const { handle, pipes } = ctx;
  const direction = request.data && request.data.length > 0 ? request.direction : 'none';
  const buffer = direction === 'none' ? undefined : request.data!;
  const endpoint = direction === 'in' ? pipes.dataIn : pipes.dataOut;
  const end = monotonicMs() + timeoutMs;
  const status = new Uint8Array(STATUS_IU_MAX_LENGTH);
  const done = await handle.streamCommand!({
    statusIn: pipes.statusIn,
    status,
    ...(direction === 'none'
      ? {}
      : { ready: encodeReadyIu(direction === 'in' ? 'read-ready' : 'write-ready', task.tag) }),
    commandOut: pipes.commandOut,
    command: encodeCommandIu({ tag: task.tag, lun: task.lun, cdb: request.cdb }),
    streamId: task.tag,
    ...(buffer ? { data: { endpoint, buffer } } : {}),
    timeoutMs,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  ctx.readyIus += done.readies;
  if (done.data?.status === TransferStatus.STALL) {
    ctx.onEvent?.({ type: 'clear-halt', endpoint });
    await handle.clearHalt(endpoint).catch(() => undefined);
  }
  const sent = done.command;
  if (sent.status !== TransferStatus.OK || sent.actualLength !== 32) {
    // A Command IU that did not go out leaves no task on the device.
    if (sent.status === TransferStatus.STALL) task.ended = true;
    if (sent.status === TransferStatus.CANCELLED && request.signal?.aborted) throw cancelled();
    throw new UsbScsiError(
      sent.status === TransferStatus.TIMEOUT ? ErrorCodes.TIMEOUT : ErrorCodes.IO,
      `the Command IU for tag ${task.tag} did not go out ` +
        `(${transferStatusName(sent.status)}, ${sent.actualLength} of 32 bytes)`,
    );
  }
  let iu = statusIuOf(done.status, status, task, timeoutMs, request.signal);
  while (iu.id === 'read-ready' || iu.id === 'write-ready') {
    if (direction !== 'none') {
      // The backend re-posts on the Ready IU it was given: this one is for the other direction,
      // or not the 4 bytes the spec gives it, and the data transfer was cancelled with the plan.
      throw phaseError(
        `the device sent ${iu.id} (${done.status.actualLength} bytes) for tag ${task.tag}, ` +
          `whose command moves data ${direction}`,
        { tag: task.tag },
      );
    }
    // A command without data: the device's Ready IU adds nothing; its status comes next.
    const r = await handle.streamTransfer!(pipes.statusIn, task.tag, status, leftMs(end) || 1, request.signal);
    iu = statusIuOf(r, status, task, timeoutMs, request.signal);
  }
  task.ended = true;
  if (iu.id === 'response') throw responseError(iu, task.lun);
  return resultOfSenseIu(iu, direction, buffer, done.data?.actualLength ?? 0);
}

/** The IU the status read brought, or the error its transfer ended with. */
function statusIuOf(
  read: TransferResult,
  bytes: Uint8Array,
  task: UasTask,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): StatusIu {
  if (read.status === TransferStatus.TIMEOUT) throw timedOut(timeoutMs, task.tag);
  if (read.status === TransferStatus.CANCELLED && signal?.aborted) throw cancelled();
  if (read.status !== TransferStatus.OK) {
    throw new UsbScsiError(
      ErrorCodes.IO,
      `the status read of stream ${task.tag} ended with ${transferStatusName(read.status)}`,
    );
  }
  const iu = decodeStatusIu(bytes.subarray(0, read.actualLength));
  if (iu.tag !== task.tag)
    throw phaseError(`the device sent an IU for tag ${iu.tag} on stream ${task.tag}`, { tag: task.tag, iuTag: iu.tag });
  return iu;
}
