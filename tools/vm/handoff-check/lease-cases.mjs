// Handoff lease against a real kernel: E_MOUNTED, unmount/unbind/bind/remount, SIGTERM/SIGINT/SIGKILL, busy mount.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { acquireLease, LeaseJournal, recoverLeases, createLinuxPlatform, LeaseRegistry } from './lib/handoff/index.js';
import { linuxStorageBindings } from './lib/topology/linux-sysfs.js';

const results = [];
const check = (name, ok, extra = '') => {
  results.push(ok);
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name} ${extra}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MNT = '/mnt/usb disk';
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
  serialNumber: readFileSync(`/sys/bus/usb/devices/${name}/serial`, 'utf8').trim(),
  busNumber: Number(bus),
  portNumbers: ports.split('.').map(Number),
  configurationValue: 1,
  interfaceNumber: 0,
};
console.log('device', JSON.stringify(device));
const bindings = await linuxStorageBindings(device.busNumber, device.portNumbers);
console.log('bindings', JSON.stringify(bindings));
check(
  'bindings',
  bindings[0]?.driver === 'usb-storage' &&
    bindings[0].blockDevices[0] === '/dev/sda' &&
    bindings[0].mounts[0]?.mountPoint === MNT &&
    bindings[0].sgDevices[0] === '/dev/sg0',
);

const platform = createLinuxPlatform();
const journal = new LeaseJournal({ path: '/tmp/state/leases.json' });
const registry = new LeaseRegistry();
try {
  await acquireLease(device, { platform, journal, registry });
  check('E_MOUNTED', false);
} catch (e) {
  check('E_MOUNTED', e.code === 'E_MOUNTED', e.message);
}

let t0 = Date.now();
const states = [];
const lease = await acquireLease(device, {
  platform,
  journal,
  registry,
  unmount: true,
  remount: true,
  onStateChange: (s) => states.push(`${s}@${Date.now() - t0}`),
});
console.log('acquired in', Date.now() - t0, 'ms', states.join(' '));
check(
  'unmounted+detached',
  mounted().length === 0 && !existsSync('/dev/sda') && !existsSync(`/sys/bus/usb/devices/${name}:1.0/driver`),
);
check('journal held', (await journal.list())[0]?.status === 'held');
t0 = Date.now();
const report = await lease.release();
console.log('released in', Date.now() - t0, 'ms', states.join(' '));
check(
  'remounted',
  mounted().length === 1 && readFileSync(`${MNT}/before.txt`, 'utf8') === 'hello-from-before\n',
  JSON.stringify(report.remounted),
);
check('mount options kept', mounted()[0]?.includes('noatime'), mounted()[0]);
check('journal empty', (await journal.list()).length === 0);

async function child(signal) {
  const c = spawn(process.execPath, ['holder.mjs', JSON.stringify(device)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('HELD') && c.exitCode === null; i++) await sleep(50);
  const heldOk = out.includes('HELD') && mounted().length === 0 && !existsSync('/dev/sda');
  t0 = Date.now();
  c.kill(signal);
  const [code, sig] = await new Promise((r) => c.on('exit', (code, sig) => r([code, sig])));
  return { heldOk, code, sig, ms: Date.now() - t0, out };
}
for (const sig of ['SIGTERM', 'SIGINT']) {
  const r = await child(sig);
  check(
    `${sig}: released and remounted before dying of ${sig}`,
    r.heldOk && r.sig === sig && mounted().length === 1 && existsSync('/dev/sda1'),
    `${r.ms} ms ${r.out.trim()}`,
  );
}
const k = await child('SIGKILL');
check('SIGKILL leaves it detached', k.heldOk && mounted().length === 0 && !existsSync('/dev/sda'));
t0 = Date.now();
const rec = await recoverLeases(platform, journal);
check(
  'recover',
  rec.recovered.length === 1 &&
    mounted().length === 1 &&
    readFileSync(`${MNT}/before.txt`, 'utf8') === 'hello-from-before\n',
  `${Date.now() - t0} ms ${JSON.stringify(rec.failed.map((f) => f.error.message))}`,
);

// A busy filesystem: a process sits in the mount point -> E_BUSY with the holder, nothing changed.
const sitter = spawn('sh', ['-c', 'sleep 30'], { cwd: MNT, stdio: 'ignore' });
await sleep(200);
try {
  await acquireLease(device, { platform, journal, registry, unmount: true });
  check('E_BUSY', false);
} catch (e) {
  check(
    'E_BUSY with holder',
    e.code === 'E_BUSY' && /sleep|sh/.test(e.message) && e.details.rolledBack === true && mounted().length === 1,
    e.message,
  );
}
sitter.kill();
console.log(`RESULT ${results.filter(Boolean).length}/${results.length}`);
process.exit(results.every(Boolean) ? 0 : 1);
