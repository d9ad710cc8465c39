// process.exit() while holding a lease and a usbfs claim: the detached helper gives the disk back.
import { readdirSync, readFileSync, existsSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mounted = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/mnt/usb\\040disk'));
const name = readdirSync('/sys/bus/usb/devices').find(
  (n) =>
    !n.includes(':') &&
    existsSync(`/sys/bus/usb/devices/${n}/idVendor`) &&
    readFileSync(`/sys/bus/usb/devices/${n}/idVendor`, 'utf8').trim() === '46f4',
);
const [bus, ports] = name.split('-');
const device = {
  vendorId: 0x46f4,
  productId: 1,
  busNumber: Number(bus),
  portNumbers: ports.split('.').map(Number),
  interfaceNumber: 0,
};
const drv = () => {
  try {
    return readlinkSync(`/sys/bus/usb/devices/${name}:1.0/driver`).split('/').pop();
  } catch {
    return null;
  }
};
const c = spawn(process.execPath, ['holder-exit.mjs', JSON.stringify(device)], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '',
  err = '';
c.stdout.on('data', (d) => (out += d));
c.stderr.on('data', (d) => (err += d));
const code = await new Promise((r) => c.on('exit', (code) => r(code)));
const t0 = Date.now();
console.log(`exit code=${code} out=${out.trim()} driver=${drv()} mounts=${mounted().length} stderr=${err.trim()}`);
while (Date.now() - t0 < 20000 && mounted().length === 0) await sleep(100);
console.log(
  `after ${Date.now() - t0} ms: driver=${drv()} mounts=${mounted().length} ` +
    `file=${existsSync('/mnt/usb disk/before.txt') && readFileSync('/mnt/usb disk/before.txt', 'utf8').trim()} ` +
    `journal=${readFileSync('/var/lib/usbscsi/leases.json', 'utf8').replace(/\s+/g, ' ')}`,
);
console.log(
  `${mounted().length === 1 ? 'PASS' : 'FAIL'} process.exit() with a lease ` +
    `and a usbfs claim: the exit helper re-mounted the disk after ${Date.now() - t0} ms`,
);
