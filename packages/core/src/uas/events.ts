// What UasTransport does besides the commands, for tracing and `--verbose`.
import { hex0x } from '../hex.js';

export type UasEvent =
  | { type: 'select-alternate'; alternateSetting: number }
  | { type: 'streams'; count: number }
  | { type: 'no-streams'; reason: string }
  | { type: 'abort-task'; tag: number; reason: string; outcome: string }
  | { type: 'lun-reset'; lun: number; reason: string; outcome: string }
  | { type: 'usb-reset'; reason: string }
  | { type: 'clear-halt'; endpoint: number }
  | { type: 'protocol-fault'; message: string };

/** One line for a log. */
export function describeUasEvent(event: UasEvent): string {
  switch (event.type) {
    case 'select-alternate':
      return `SET_INTERFACE to UAS alternate setting ${event.alternateSetting}`;
    case 'streams':
      return `${event.count} bulk streams per endpoint (tag = stream id)`;
    case 'no-streams':
      return `no bulk streams (${event.reason}): status first, data after Read/Write Ready`;
    case 'abort-task':
      return `ABORT TASK for tag ${event.tag} (${event.reason}): ${event.outcome}`;
    case 'lun-reset':
      return `LOGICAL UNIT RESET on LUN ${event.lun} (${event.reason}): ${event.outcome}`;
    case 'usb-reset':
      return `USB port reset (${event.reason})`;
    case 'clear-halt':
      return `CLEAR_FEATURE(ENDPOINT_HALT) on endpoint ${hex0x(event.endpoint)}`;
    case 'protocol-fault':
      return `protocol fault: ${event.message}`;
  }
}
