import { ErrorCodes, UsbScsiError } from '../errors.js';
import {
  TransferStatus,
  type BotExchangeRequest,
  type BotExchangeResult,
  type BotJobRequest,
  type BotJobResult,
  type UsbDeviceHandle,
} from '../usb/backend.js';
import { Deadline } from './deadline.js';
import { CSW_LENGTH } from './wrappers.js';

/** The two single transfers a generic exchange is built from. */
export type BulkTransfers = Pick<UsbDeviceHandle, 'bulkIn' | 'bulkOut'>;

/**
 * `UsbDeviceHandle.botExchange` from single `bulkOut` / `bulkIn` transfers, for backends
 * without an engine of their own (node-usb, the emulator). Follows the chain rule written on
 * `botExchange`: each phase starts only when the one before moved every byte with status OK,
 * and all of them share one deadline. It reports what each transfer did and decides nothing
 * about what the bytes mean.
 */
export async function genericBotExchange(
  transfers: BulkTransfers,
  request: BotExchangeRequest,
): Promise<BotExchangeResult> {
  const { cbw, outEndpoint, inEndpoint, data, signal } = request;
  if (data && !('buffer' in data)) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      'this backend cannot stream a data phase to a file descriptor; pass a buffer',
    );
  }
  const deadline = new Deadline(request.timeoutMs);
  const result: BotExchangeResult = {
    cbw: await deadline.within((ms) => transfers.bulkOut(outEndpoint, cbw, ms, signal)),
  };
  if (result.cbw.status !== TransferStatus.OK || result.cbw.actualLength !== cbw.length) return result;

  if (data && data.buffer.length > 0) {
    const { buffer } = data;
    result.data = await deadline.within((ms) =>
      data.direction === 'in'
        ? transfers.bulkIn(inEndpoint, buffer, ms, signal)
        : transfers.bulkOut(outEndpoint, buffer, ms, signal),
    );
    if (result.data.status !== TransferStatus.OK || result.data.actualLength !== buffer.length) return result;
  }

  const bytes = new Uint8Array(CSW_LENGTH);
  const csw = await deadline.within((ms) => transfers.bulkIn(inEndpoint, bytes, ms, signal));
  result.csw = {
    status: csw.status,
    actualLength: csw.actualLength,
    bytes: bytes.subarray(0, Math.min(csw.actualLength, CSW_LENGTH)),
  };
  return result;
}

/** Whether an exchange moved every byte of every phase and ended with exactly `csw`. */
export function matchesExpected(r: BotExchangeResult, length: number, csw: Uint8Array): boolean {
  if (r.cbw.status !== TransferStatus.OK || r.cbw.actualLength !== 31) return false;
  if (length > 0 && (r.data?.status !== TransferStatus.OK || r.data.actualLength !== length)) return false;
  const got = r.csw;
  if (got?.status !== TransferStatus.OK || got.actualLength !== CSW_LENGTH || got.bytes.length !== CSW_LENGTH)
    return false;
  return got.bytes.every((b, i) => b === csw[i]);
}

/**
 * `UsbDeviceHandle.botJob` over the handle's own `botExchange`, for backends without an engine
 * that runs jobs (node-usb, the emulator): the same facts, one exchange per command.
 */
export async function genericBotJob(
  handle: Pick<UsbDeviceHandle, 'botExchange'>,
  request: BotJobRequest,
): Promise<BotJobResult> {
  const { commands, data } = request;
  let offset = 0;
  for (let done = 0; done < commands.length; done++) {
    const { cbw, csw, length } = commands[done]!;
    const exchange: BotExchangeRequest = {
      cbw,
      outEndpoint: request.outEndpoint,
      inEndpoint: request.inEndpoint,
      timeoutMs: request.timeoutMs,
      data:
        'buffer' in data
          ? { direction: data.direction, buffer: data.buffer.subarray(offset, offset + length) }
          : { direction: data.direction, fd: data.fd, length, position: data.position + offset },
    };
    if (request.chunkSize) exchange.chunkSize = request.chunkSize;
    if (request.depth) exchange.depth = request.depth;
    if (request.signal) exchange.signal = request.signal;
    const r = await handle.botExchange(exchange);
    if (!matchesExpected(r, length, csw)) return { done, stopped: r };
    offset += length;
  }
  return { done: commands.length };
}
