// A watchdog on its own thread: when the main thread's event loop stops turning for `stallMs`
// (a synchronous call that blocks it: no timer, not even a case timeout, can fire then), it
// prints where each thread of the process waits in the kernel, once per stall.
import { Worker } from 'node:worker_threads';

const WATCHER = `
const { workerData } = require('node:worker_threads');
const { readdirSync, readFileSync } = require('node:fs');
const beat = new Int32Array(workerData.shared);
const read = (p) => { try { return readFileSync(p, 'utf8').trim(); } catch (e) { return '(' + e.code + ')'; } };
let last = Atomics.load(beat, 0);
let since = Date.now();
let reported = false;
setInterval(() => {
  const now = Atomics.load(beat, 0);
  if (now !== last) { last = now; since = Date.now(); reported = false; return; }
  if (reported || Date.now() - since < workerData.stallMs) return;
  reported = true;
  const lines = ['VM_STALL the event loop has not turned for ' + (Date.now() - since) + ' ms; threads:'];
  for (const tid of readdirSync('/proc/self/task')) {
    const at = '/proc/self/task/' + tid;
    const where = ' wchan=' + read(at + '/wchan') + ' syscall=' + read(at + '/syscall');
    lines.push('  ' + tid + ' ' + read(at + '/comm') + where);
    for (const l of read(at + '/stack').split('\\n').slice(0, 12)) lines.push('      ' + l);
  }
  process.stdout.write(lines.join('\\n') + '\\n');
}, 1000);
`;

/** Starts the watchdog; returns a stop function. */
export function watchForStalls(stallMs = 20_000) {
  const shared = new SharedArrayBuffer(4);
  const beat = new Int32Array(shared);
  const timer = setInterval(() => Atomics.add(beat, 0, 1), 250);
  timer.unref();
  const worker = new Worker(WATCHER, { eval: true, workerData: { shared, stallMs } });
  worker.unref();
  return () => {
    clearInterval(timer);
    void worker.terminate();
  };
}
