// Child process for the SIGKILL case: takes a lease (unmount + remount) through openDevice,
// prints HELD, then keeps reading until it is killed.
import { loadBackends } from './backends.mjs';

const name = process.argv[2];
const { backend, reason } = (await loadBackends()).find((b) => b.name === name) ?? {};
if (!backend) {
  console.log(`NO BACKEND ${name}: ${reason}`);
  process.exit(3);
}
const { openDevice } = await import(`${process.cwd()}/packages/core/dist/open.js`);
const dev = await openDevice({
  selector: '46f4:0001',
  backend,
  transport: 'bot',
  lease: { unmount: true, remount: true },
});
await dev.testUnitReady().catch(() => undefined);
console.log('HELD');
for (;;) await dev.read(0, 2048);
