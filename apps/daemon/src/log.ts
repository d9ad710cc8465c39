import { pino, type Logger } from 'pino';

/**
 * usbscsid's JSON log on `fd` (stdout), written synchronously: each line is in the file, the pipe or
 * journald's socket when the call returns, so a crash or a kill loses none. pino's default stream
 * writes through the thread pool instead, and that round trip per line cost about a fifth of a small
 * command's time through usbscsid (docs/benchmarks.md, round eight).
 */
export function daemonLogger(level = 'info', fd = 1): Logger {
  return pino({ name: 'usbscsid', level }, pino.destination({ dest: fd, sync: true }));
}
