import {
  TransferStatus,
  type StreamCommandRequest,
  type StreamCommandResult,
  type UsbDeviceHandle,
} from '../usb/backend.js';

/** An abort reason given, so that no DOMException is built per command. */
const STOPPED = Object.freeze({ reason: 'the Command IU did not go out' });

/**
 * `streamCommand` over a handle's single transfers (`streamTransfer`, `bulkOut`), for backends
 * without a transfer engine (the emulator): both posted at once; a Command IU that did not go
 * out (or a transfer that threw) cancels the data transfer, as the engine's plan does.
 */
export async function genericStreamCommand(
  handle: Pick<UsbDeviceHandle, 'bulkOut' | 'streamTransfer'>,
  request: StreamCommandRequest,
): Promise<StreamCommandResult> {
  const { data, timeoutMs, signal } = request;
  const stopData = new AbortController();
  const stop = () => stopData.abort(STOPPED);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const moved =
      data && data.buffer.length > 0
        ? handle.streamTransfer!(data.endpoint, request.streamId, data.buffer, timeoutMs, stopData.signal)
        : Promise.resolve(undefined);
    moved.catch(() => undefined);
    const sent = await handle.bulkOut(request.commandOut, request.command, timeoutMs, signal).catch((err: unknown) => {
      stop();
      throw err;
    });
    if (sent.status !== TransferStatus.OK) stop();
    const dataResult = await moved;
    return { command: sent, ...(dataResult ? { data: dataResult } : {}) };
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
