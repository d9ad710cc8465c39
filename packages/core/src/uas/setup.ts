// What UasTransport.open needs besides the descriptors: whether the handle can run UAS at all,
// and the bulk streams of a SuperSpeed device.
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import type { UsbDeviceHandle } from '../usb/backend.js';
import type { UasEvent } from './events.js';
import type { UasPipes } from './pipes.js';

/** Streams asked for at most (tags are 16-bit; no queue gets near this). */
const MAX_STREAMS = 1024;

/** Handles the usb package v3 drives: it cannot cancel one transfer (see FIELD-NOTES / node-usb.ts). */
export function refusesUas(handle: UsbDeviceHandle): string | undefined {
  return handle.capabilities.cancellableTransfers === false
    ? `the ${handle.info.backend} backend cannot cancel a pending transfer, and UAS keeps a status-pipe ` +
        'read pending with no end while commands are queued (an abandoned one would swallow the next ' +
        'status IU): use the native backend'
    : undefined;
}

/** Whether `UasTransport` can run on this handle; the reason when not. */
export function uasUnsupportedReason(handle: UsbDeviceHandle): string | undefined {
  return refusesUas(handle);
}

/**
 * Streams where the device offers them (SuperSpeed companions). A SuperSpeed UAS device moves
 * everything on streams, so a host that cannot allocate them cannot drive it: `E_UNSUPPORTED`,
 * as Linux `uas` fails the probe (no fallback to the USB 2 protocol there).
 */
export async function allocateStreams(
  handle: UsbDeviceHandle,
  pipes: UasPipes,
  options: { onEvent?: ((event: UasEvent) => void) | undefined },
): Promise<number> {
  if (pipes.maxStreams === 0) {
    options.onEvent?.({ type: 'no-streams', reason: `the device runs at ${handle.info.speed} speed without streams` });
    return 0;
  }
  const cannot = (why: string, cause?: unknown) =>
    new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `the UAS device offers ${pipes.maxStreams} bulk streams (SuperSpeed) and moves its IUs and data on ` +
        `them, but ${why}: use the native backend on a USB 3 controller, or the bot or sg transport`,
      cause === undefined ? {} : { cause },
    );
  if (!handle.allocStreams || !handle.streamTransfer)
    throw cannot(`this handle (${handle.info.backend}) has no bulk streams`);
  try {
    // Every stream the device offers, not only the queue depth: tags past it stay free for task management.
    const count = await handle.allocStreams(Math.min(pipes.maxStreams, MAX_STREAMS), streamEndpoints(pipes));
    options.onEvent?.({ type: 'streams', count });
    return count;
  } catch (err) {
    if (isUsbScsiError(err) && (err.code === ErrorCodes.BAD_INPUT || err.code === ErrorCodes.UNSUPPORTED))
      throw cannot(`the host refused them (${err.message})`, err);
    throw err;
  }
}

export function streamEndpoints(pipes: UasPipes): number[] {
  return [pipes.statusIn, pipes.dataIn, pipes.dataOut];
}
