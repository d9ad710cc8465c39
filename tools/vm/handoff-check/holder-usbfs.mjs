// Holds the lease AND a usbfs claim on the interface, like openDevice does.
import { acquireLease, LeaseJournal, createLinuxPlatform } from './lib/handoff/index.js';
import { usb } from 'usb';
const [deviceJson, withHook] = process.argv.slice(2);
const device = JSON.parse(deviceJson);
const lease = await acquireLease(device, {
  platform: createLinuxPlatform(),
  journal: new LeaseJournal({ path: '/tmp/state/leases.json' }),
  unmount: true,
  remount: true,
});
const dev = await usb.findDeviceByIds(0x46f4, 1);
await dev.open();
await dev.claimInterface(0);
if (withHook === 'hook')
  lease.onRelease(async () => {
    await dev.releaseInterface(0).catch(() => {});
    await dev.close();
  });
console.log('HELD');

setInterval(() => {}, 1000);
