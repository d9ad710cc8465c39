import { acquireLease, LeaseJournal, createLinuxPlatform } from './lib/handoff/index.js';
const device = JSON.parse(process.argv[2]);
await acquireLease(device, {
  platform: createLinuxPlatform(),
  journal: new LeaseJournal({ path: '/tmp/state/leases.json' }),
  unmount: true,
  remount: true,
});
console.log('HELD');
setInterval(() => {}, 1000);
