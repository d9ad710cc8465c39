// The status pipe with streams: one read per tag, posted again after each Read/Write Ready.
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { TransferStatus, transferStatusName, type UsbDeviceHandle } from '../usb/backend.js';
import { STATUS_IU_MAX_LENGTH, decodeStatusIu } from './ius.js';
import { asError, phaseError } from './outcomes.js';
import type { UasPipes } from './pipes.js';
import type { UasTask } from './task.js';

/**
 * A status read waits for as long as its task lives: the largest budget every backend takes
 * (native and node-usb refuse 0, which only the emulator read as "none").
 */
export const STATUS_READ_TIMEOUT_MS = 0x7fff_ffff;

/** With streams: the status read of one tag, again after each Read/Write Ready, until its last IU. */
export function readStatusStream(handle: UsbDeviceHandle, pipes: UasPipes, task: UasTask): void {
  const read = async () => {
    for (;;) {
      const bytes = new Uint8Array(STATUS_IU_MAX_LENGTH);
      const r = await handle.streamTransfer!(
        pipes.statusIn,
        task.tag,
        bytes,
        STATUS_READ_TIMEOUT_MS,
        task.transfers.signal,
      );
      if (r.status === TransferStatus.CANCELLED) return;
      if (r.status !== TransferStatus.OK) {
        throw new UsbScsiError(
          ErrorCodes.IO,
          `the status read of stream ${task.tag} ended with ${transferStatusName(r.status)}`,
        );
      }
      const iu = decodeStatusIu(bytes.subarray(0, r.actualLength));
      if (iu.tag !== task.tag) {
        throw phaseError(`the device sent an IU for tag ${iu.tag} on stream ${task.tag}`, {
          tag: task.tag,
          iuTag: iu.tag,
        });
      }
      task.push(iu);
      if (iu.id === 'sense' || iu.id === 'response') return;
    }
  };
  read().catch((err: unknown) => task.fail(asError(err)));
}
