// One process of the `multi` path's two-process case (started by pairs.mjs): opens its disk with
// core (native BOT, default tuning), says "ready", and on "go" on stdin reads then writes BYTES,
// printing {"read":seconds,"write":seconds}. Start-up and opening are not timed.
//   node multi-worker.mjs SELECTOR BYTES WRITE_LBA
import { createInterface } from 'node:readline';
import { loadBackends } from '../../vm/guest/backends.mjs';
import { readThenWrite } from './pairs.mjs';

const [selector, bytesText, writeLbaText] = process.argv.slice(2);
const open = await import(`${process.cwd()}/packages/core/dist/open.js`);
const native = (await loadBackends()).find((b) => b.name === 'native')?.backend;
if (!native) throw new Error('the native backend did not load');
const dev = await open.openDevice({ selector, backend: native, transport: 'bot' });
try {
  const buffer = new Uint8Array(Number(bytesText)).fill(0x5a);
  await dev.readCapacity();
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line === 'go') break;
  console.log(JSON.stringify(await readThenWrite(dev, buffer, Number(writeLbaText))));
} finally {
  await dev.close();
}
