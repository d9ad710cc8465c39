import { readdirSync, readFileSync, existsSync, readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { LeaseJournal, recoverLeases, createLinuxPlatform } from './lib/handoff/index.js';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mounted = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/mnt/usb\\040disk'));
// A real kernel, a real usbfs claim (node-usb v3), a holder killed by SIGTERM with and without the release hook.
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
for (const mode of ['hook', 'nohook']) {
  const c = spawn(process.execPath, ['holder-usbfs.mjs', JSON.stringify(device), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 300 && !out.includes('HELD') && c.exitCode === null; i++) await sleep(50);
  console.log(`${mode}: held=${out.includes('HELD')} driver while held=${drv()} mounts=${mounted().length}`);
  c.kill('SIGTERM');
  const [code, sig] = await new Promise((r) => c.on('exit', (code, sig) => r([code, sig])));
  console.log(
    `${mode}: exit code=${code} signal=${sig} driver=${drv()} mounts=${mounted().length} ` +
      `sda=${existsSync('/dev/sda')} stderr=${err.trim().replace(/\n/g, ' | ').slice(0, 400)}`,
  );
  if (mode === 'hook')
    console.log(
      `${drv() === 'usb-storage' && mounted().length === 1 && sig === 'SIGTERM' ? 'PASS' : 'FAIL'} ` +
        `usbfs claim + onRelease hook: SIGTERM gives the disk back`,
    );
  else
    console.log(
      `${drv() === null && /still claimed through usbfs/.test(err) ? 'PASS' : 'FAIL'} ` +
        `usbfs claim without hook: bind refused, journal keeps the lease`,
    );
  if (!mounted().length) {
    const rep = await recoverLeases(createLinuxPlatform(), new LeaseJournal({ path: '/tmp/state/leases.json' }));
    console.log(
      `${rep.recovered.length === 1 && drv() === 'usb-storage' && mounted().length === 1 ? 'PASS' : 'FAIL'} ` +
        `${mode}: recover -> recovered=${rep.recovered.length} failed=${rep.failed.length}`,
    );
  }
}
