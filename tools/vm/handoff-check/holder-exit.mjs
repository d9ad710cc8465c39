// Holds the lease and a usbfs claim (no hook), then calls process.exit(): the exit helper must give the disk back.
import { acquireLease, createLinuxPlatform } from './lib/handoff/index.js';
import { usb } from 'usb';
const device = JSON.parse(process.argv[2]);
await acquireLease(device, { platform: createLinuxPlatform(), unmount: true, remount: true });
const dev = await usb.findDeviceByIds(0x46f4, 1);
await dev.open();
await dev.claimInterface(0);
console.log('HELD');
setTimeout(() => process.exit(4), 100);
