import { TransferStatus, type TransferResult } from '../usb/backend.js';

/**
 * A transfer result (what happened on the wire) is not a command result (what
 * the device said about the command). As in Linux's `interpret_urb_result`,
 * one function turns raw transfer status into one of five outcomes, and the
 * BOT state machine only ever looks at the outcome.
 */
export type TransferOutcome =
  | 'good' // everything asked for moved
  | 'short' // less moved, no error (a short packet ended it)
  | 'stalled' // the endpoint halted; clear it before the next transfer on it
  | 'long' // the device sent more than asked (babble)
  | 'timeout'
  | 'cancelled';

export function interpretTransfer(result: TransferResult, requested: number): TransferOutcome {
  switch (result.status) {
    case TransferStatus.OK:
      return result.actualLength >= requested ? 'good' : 'short';
    case TransferStatus.STALL:
      return 'stalled';
    case TransferStatus.OVERFLOW:
      return 'long';
    case TransferStatus.TIMEOUT:
      return 'timeout';
    case TransferStatus.CANCELLED:
      return 'cancelled';
  }
}
