// What BotTransport does besides the commands, for tracing and `--verbose`.
import { hex0x } from '../hex.js';

export type BotEvent =
  | { type: 'reset-recovery'; reason: string }
  | { type: 'select-alternate'; alternateSetting: number; current: number | null }
  | { type: 'clear-halt'; endpoint: number }
  | { type: 'csw-retry'; reason: string }
  | { type: 'auto-sense' }
  | { type: 'start-unit'; lun: number; outcome: string }
  /** A remark of the backend's engine (pinned memory refused, depth cut to fit usbfs_memory_mb), once each. */
  | { type: 'engine-note'; note: string };

/** One line for a log: what BotTransport did besides the command itself. */
export function describeBotEvent(event: BotEvent): string {
  switch (event.type) {
    case 'reset-recovery':
      return `reset recovery (${event.reason})`;
    case 'select-alternate':
      return `SET_INTERFACE to alternate setting ${event.alternateSetting} (current: ${event.current ?? 'unknown'})`;
    case 'clear-halt':
      return `CLEAR_FEATURE(ENDPOINT_HALT) on endpoint ${hex0x(event.endpoint)}`;
    case 'csw-retry':
      return `CSW read again after a ${event.reason}`;
    case 'auto-sense':
      return 'REQUEST SENSE after CHECK CONDITION';
    case 'start-unit':
      return `START STOP UNIT (start) on LUN ${event.lun} before the first media access: ${event.outcome}`;
    case 'engine-note':
      return `engine: ${event.note}`;
  }
}
