// Child process for the takeover case: detaches usb-storage, claims the BOT interface, sends the
// CBW of a 1 MiB READ(10), takes 64 KiB of its data and prints MID: it is killed mid-transfer,
// with no lease (nothing gives the device back), so the next holder finds the data phase unfinished.
import { loadBackends } from './backends.mjs';
import { cbw } from './raw-bot.mjs';
import { QEMU_VID, QEMU_PID } from './util.mjs';

const { transferStatusName } = await import(`${process.cwd()}/packages/core/dist/usb/backend.js`);

const name = process.argv[2];
const { backend, reason } = (await loadBackends()).find((b) => b.name === name) ?? {};
if (!backend) {
  console.log(`NO BACKEND ${name}: ${reason}`);
  process.exit(3);
}
const info = (await backend.list()).find((d) => d.vendorId === QEMU_VID && d.productId === QEMU_PID);
const handle = await backend.open(info);
await handle.detachKernelDriver(0);
await handle.claimInterface(0);
const blocks = 2048;
const sent = await handle.bulkOut(
  0x02,
  cbw(0x5151, Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0), blocks * 512, true),
  5000,
);
const got = await handle.bulkIn(0x81, new Uint8Array(64 * 1024), 5000);
console.log(
  `MID cbw=${transferStatusName(sent.status)}/${sent.actualLength} ` +
    `data=${transferStatusName(got.status)}/${got.actualLength}`,
);
setInterval(() => undefined, 1 << 30);
