// Builds a configfs gadget with one FunctionFS function on dummy_hcd and starts the emulator
// behind it (ffs-device.mjs, a child with an IPC channel). The guest's host side then sees it.
import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { waitFor, sdDisks } from './util.mjs';

const CFG = '/sys/kernel/config';
const G = `${CFG}/usb_gadget/g1`;
const FFS_DIR = '/dev/ffs-bot';
export const GADGET_VID = 0x1d6b;
export const GADGET_PID = 0x0104;

const put = (path, value) => writeFileSync(path, `${value}\n`);

export async function startGadget() {
  if (!existsSync(`${CFG}/usb_gadget`)) execFileSync('mount', ['-t', 'configfs', 'none', CFG]);
  mkdirSync(G);
  put(`${G}/idVendor`, '0x1d6b');
  put(`${G}/idProduct`, '0x0104');
  mkdirSync(`${G}/strings/0x409`);
  put(`${G}/strings/0x409/manufacturer`, 'usbscsi');
  put(`${G}/strings/0x409/product`, 'emulator over FunctionFS');
  put(`${G}/strings/0x409/serialnumber`, 'FFS0001');
  mkdirSync(`${G}/configs/c.1`);
  mkdirSync(`${G}/functions/ffs.bot`);
  symlinkSync(`${G}/functions/ffs.bot`, `${G}/configs/c.1/ffs.bot`);
  mkdirSync(FFS_DIR, { recursive: true });
  execFileSync('mount', ['-t', 'functionfs', 'bot', FFS_DIR]);

  let reenumerated = Promise.resolve();
  const { child, ask } = await startDeviceProgram([FFS_DIR], (m) => {
    if (m.event !== 'reenumerate') return false;
    reenumerated = reenumerate(m).catch((err) => console.log(`VM_NOTE gadget re-enumeration failed: ${err.message}`));
    return true;
  });
  const udc = readdirSync('/sys/class/udc')[0];
  // New firmware: off the bus (after the CSW has gone out), new bcdDevice from the revision, back on.
  const reenumerate = async ({ ms, revision }) => {
    await new Promise((r) => setTimeout(r, 300));
    put(`${G}/UDC`, '');
    put(`${G}/bcdDevice`, `0x${revision.replace(/\D/g, '').padStart(4, '0').slice(-4)}`);
    await new Promise((r) => setTimeout(r, ms));
    put(`${G}/UDC`, udc);
  };
  put(`${G}/UDC`, udc);
  const t0 = Date.now();
  await waitFor(
    () => sdDisks().length === 1 && Number(readFileSync(`/sys/block/${sdDisks()[0]}/size`, 'utf8')) > 0,
    'usb-storage to bind the FunctionFS emulator',
    30_000,
  );
  const enumerationMs = Date.now() - t0;
  return {
    udc,
    enumerationMs,
    inject: async (spec) => (await ask({ inject: spec })).injected,
    /** The next READ(10) sends only its first `bytes` bytes, then CHECK CONDITION MEDIUM ERROR. */
    mediumError: async (bytes) => (await ask({ mediumError: { bytes } })).armed,
    stats: async () => (await ask({ stats: true })).stats,
    events: async () => (await ask({ events: true })).events,
    /** Unplug and replug (unbind/bind the UDC): DISABLE on the device, queued endpoint I/O is flushed. */
    replug: async () => {
      put(`${G}/UDC`, '');
      await waitFor(() => sdDisks().length === 0, 'the sd disk to leave on unplug', 20_000);
      put(`${G}/UDC`, udc);
      await waitFor(
        () => sdDisks().length === 1 && Number(readFileSync(`/sys/block/${sdDisks()[0]}/size`, 'utf8')) > 0,
        'usb-storage to bind the replugged emulator',
        30_000,
      );
    },
    /** Resolves when the last firmware re-enumeration (if any) has bound the UDC again. */
    reenumerated: () => reenumerated,
    stop: () => {
      child.disconnect();
      child.kill();
    },
  };
}

const G2 = `${CFG}/usb_gadget/fms`;
export const FMS_PID = 0x0105;

/**
 * The kernel's own BOT device (f_mass_storage) on the same UDC, once the FunctionFS gadget is
 * unbound: an 8 MiB backing file, usb-storage binds it. It takes every SET_INTERFACE as a reset
 * (UNIT ATTENTION 06/29/00), which is what it is here for.
 */
export async function startMassStorageGadget(udc) {
  execFileSync('modprobe', ['usb_f_mass_storage']);
  const image = '/tmp/fms.img';
  writeFileSync(image, new Uint8Array(8 << 20));
  mkdirSync(G2);
  put(`${G2}/idVendor`, '0x1d6b');
  put(`${G2}/idProduct`, `0x${FMS_PID.toString(16).padStart(4, '0')}`);
  mkdirSync(`${G2}/strings/0x409`);
  put(`${G2}/strings/0x409/serialnumber`, 'FMS0001');
  mkdirSync(`${G2}/configs/c.1`);
  mkdirSync(`${G2}/functions/mass_storage.0`);
  put(`${G2}/functions/mass_storage.0/lun.0/file`, image);
  symlinkSync(`${G2}/functions/mass_storage.0`, `${G2}/configs/c.1/mass_storage.0`);
  put(`${G2}/UDC`, udc);
  await waitFor(
    () => sdDisks().length === 1 && Number(readFileSync(`/sys/block/${sdDisks()[0]}/size`, 'utf8')) > 0,
    'usb-storage to bind f_mass_storage',
    30_000,
  );
  return {
    stop: async () => {
      put(`${G2}/UDC`, '');
      await waitFor(() => sdDisks().length === 0, 'the f_mass_storage disk to leave', 10_000);
    },
  };
}

/**
 * A gadget of its own per USB-NVMe bridge model (its VID:PID, its FunctionFS instance), bound
 * once the plain gadget has released the UDC. A bridge hazard (the JMS583 port reset) arrives as
 * { disconnect } from the device program: the UDC is unbound and bound again, as a port reset
 * re-enumerates the real chip.
 */
export async function startBridgeGadget(preset, vid, pid) {
  if (!existsSync(`${CFG}/usb_gadget`)) execFileSync('mount', ['-t', 'configfs', 'none', CFG]);
  const g = `${CFG}/usb_gadget/g-${preset}`;
  const dir = `/dev/ffs-${preset}`;
  mkdirSync(g);
  put(`${g}/idVendor`, `0x${vid.toString(16)}`);
  put(`${g}/idProduct`, `0x${pid.toString(16)}`);
  mkdirSync(`${g}/strings/0x409`);
  put(`${g}/strings/0x409/manufacturer`, 'usbscsi');
  put(`${g}/strings/0x409/product`, `${preset} bridge model over FunctionFS`);
  put(`${g}/strings/0x409/serialnumber`, `NVME-${preset}`);
  mkdirSync(`${g}/configs/c.1`);
  mkdirSync(`${g}/functions/ffs.${preset}`);
  symlinkSync(`${g}/functions/ffs.${preset}`, `${g}/configs/c.1/ffs.${preset}`);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'functionfs', preset, dir]);
  const udc = readdirSync('/sys/class/udc')[0];
  const disconnects = [];
  const bound = () => sdDisks().length === 1 && Number(readFileSync(`/sys/block/${sdDisks()[0]}/size`, 'utf8')) > 0;
  const { child, ask } = await startDeviceProgram([dir, preset], (m) => {
    if (!m.disconnect) return false;
    disconnects.push(m.disconnect);
    put(`${g}/UDC`, '');
    setTimeout(() => put(`${g}/UDC`, udc), 300);
    return true;
  });
  const t0 = Date.now();
  put(`${g}/UDC`, udc);
  await waitFor(bound, `usb-storage to bind the ${preset} bridge model`, 30_000);
  return {
    enumerationMs: Date.now() - t0,
    disconnects,
    bridge: async () => (await ask({ bridge: true })).bridge,
    stats: async () => (await ask({ stats: true })).stats,
    waitBound: () => waitFor(bound, `the ${preset} bridge model to re-enumerate`, 30_000),
    stop: async () => {
      put(`${g}/UDC`, '');
      await waitFor(() => sdDisks().length === 0, `the ${preset} sd disk to leave`, 10_000);
      child.disconnect();
      child.kill();
    },
  };
}

/**
 * Forks the device program (ffs-device.mjs) and waits for its `ready`. `onEvent` takes the messages
 * it handles (returns true); every other message answers the oldest `ask`.
 */
async function startDeviceProgram(args, onEvent) {
  const child = fork(`${process.cwd()}/tools/vm/guest/ffs-device.mjs`, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies = [];
  const waiters = [];
  child.on('message', (m) => {
    if (onEvent(m)) return;
    const w = waiters.shift();
    if (w) w(m);
    else replies.push(m);
  });
  const next = () =>
    new Promise((resolve) => {
      const m = replies.shift();
      if (m) resolve(m);
      else waiters.push(resolve);
    });
  const ready = await Promise.race([
    next(),
    new Promise((_, rej) => child.once('exit', (c) => rej(new Error(`ffs-device exited with ${c}`)))),
  ]);
  if (!ready.ready) throw new Error(`ffs-device said ${JSON.stringify(ready)}`);
  const ask = async (msg) => {
    child.send(msg);
    const r = await next();
    if (r.error) throw new Error(r.error);
    return r;
  };
  return { child, ask };
}
