/**
 * The program behind `usbscsi` (main.ts loads it once the compile cache is on): runs it on this
 * process's argv and exits with its status. SIGINT/SIGTERM abort the running transfer; the device
 * is then closed (and any lease released) before exit.
 */
import { runCli } from './program.js';

const controller = new AbortController();
let interrupted = 0;
const onSignal = (signal: NodeJS.Signals) => {
  interrupted++;
  if (interrupted > 1) process.exit(130); // a second Ctrl-C: give up waiting for cleanup
  process.stderr.write(`\nusbscsi: ${signal}: stopping and releasing the device…\n`);
  controller.abort(new Error(signal));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// Writing to a closed pipe (`usbscsi read … | head`) is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// Not a top-level await: the bundle's lazily loaded chunks import from the entry's chunk, and a
// chunk that awaited at the top would wait on them while they wait on it.
void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
}).then((code) => {
  process.exitCode = code;
});
