import {
  TransferStatus,
  type StreamCommandRequest,
  type StreamCommandResult,
  type TransferResult,
  type UsbDeviceHandle,
} from '../usb/backend.js';
import { monotonicMs } from '../clock.js';

/** An abort reason given, so that no DOMException is built per command. */
const PLAN_OVER = Object.freeze({ reason: 'the stream command plan is over' });

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

function sameBytes(a: Uint8Array, length: number, b: Uint8Array): boolean {
  if (length !== b.length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `streamCommand` over a handle's single transfers (`streamTransfer`, `bulkOut`), for backends
 * without a transfer engine (the emulator), with the engine's rules: status read, data and
 * Command IU posted at once; the status read posted again while it receives the `ready` bytes;
 * the first other status IU, or a Command IU that did not go out, ends the plan (what is still
 * pending is cancelled, after one turn of the event loop so that data already moved is counted).
 */
export async function genericStreamCommand(
  handle: Pick<UsbDeviceHandle, 'bulkOut' | 'streamTransfer'>,
  request: StreamCommandRequest,
): Promise<StreamCommandResult> {
  const { data, timeoutMs, signal, ready } = request;
  const end = monotonicMs() + timeoutMs;
  const left = () => Math.max(1, Math.ceil(end - monotonicMs()));
  const stopAll = new AbortController();
  const stop = () => stopAll.abort(PLAN_OVER);
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  try {
    let readies = 0;
    const status = (async (): Promise<TransferResult> => {
      for (;;) {
        const r = await handle.streamTransfer!(
          request.statusIn,
          request.streamId,
          request.status,
          left(),
          stopAll.signal,
        );
        if (
          ready &&
          r.status === TransferStatus.OK &&
          !stopAll.signal.aborted &&
          sameBytes(request.status, r.actualLength, ready)
        ) {
          readies++;
          continue;
        }
        return r;
      }
    })();
    status.catch(() => undefined);
    let dataSettled = false;
    const moved =
      data && data.buffer.length > 0
        ? handle.streamTransfer!(data.endpoint, request.streamId, data.buffer, left(), stopAll.signal).finally(
            () => (dataSettled = true),
          )
        : Promise.resolve(undefined);
    moved.catch(() => undefined);
    const sent = await handle
      .bulkOut(request.commandOut, request.command, left(), stopAll.signal)
      .catch((err: unknown) => {
        stop();
        throw err;
      });
    if (sent.status !== TransferStatus.OK || sent.actualLength !== request.command.length) stop();
    const last = await status;
    if (!dataSettled) await nextMacrotask();
    stop();
    const dataResult = await moved;
    return { status: last, readies, command: sent, ...(dataResult ? { data: dataResult } : {}) };
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
