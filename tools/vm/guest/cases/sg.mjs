// SG_IO pass-through (kernel keeps the device) against sg3-utils and against BOT.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test, skip } from '../runner.mjs';
import { loadOpen, loadBot } from './core-api.mjs';
import { perBackend } from './device.mjs';
import { withBot } from './bot.mjs';
import { assertEqual, assertBytesEqual, sdDisks, sgOfDisk, usbInterfaceOfDisk } from '../util.mjs';

const INQUIRY_36 = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const READ_CAPACITY_10 = Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);

function sgPath() {
  const sg = sgOfDisk(sdDisks()[0]);
  return `/dev/${sg}`;
}

/** INQUIRY (36) and READ CAPACITY(10) bytes through SG_IO via openDevice(transport: 'sg'). */
async function viaSg(open) {
  const path = sgPath();
  const dev = await open.openDevice({ selector: path, transport: 'sg' });
  try {
    assertEqual(dev.description.transport, 'sg', 'transport');
    const driverBound = existsSync(`/sys/bus/usb/devices/${usbInterfaceOfDisk(sdDisks()[0])}/driver`);
    assertEqual([sdDisks().length, driverBound], [1, true], 'sd disk present and usb-storage bound while SG_IO is open (no detach)');
    let inq = await dev.execute(INQUIRY_36, { direction: 'in', length: 36 });
    const cap = await dev.execute(READ_CAPACITY_10, { direction: 'in', length: 8 });
    assertEqual([inq.status, cap.status], [0, 0], 'SG_IO statuses');
    return { inquiry: Uint8Array.from(inq.data), capacity: Uint8Array.from(cap.data) };
  } finally {
    await dev.close();
  }
}

function viaSgUtils() {
  const path = sgPath();
  return {
    inquiry: new Uint8Array(execFileSync('sg_inq', ['-r', '-l', '36', path])),
    capacity: new Uint8Array(execFileSync('sg_readcap', ['-r', path])),
  };
}

export async function registerSgCases(scenario, backends) {
  const open = await loadOpen();
  const title = `[${scenario}/sg] SG_IO INQUIRY and READ CAPACITY bytes equal sg_inq -r / sg_readcap -r, with no detach`;
  if (!open.mod && open.reason.startsWith('NOT LANDED')) skip(title, open.reason);
  else if (!open.mod) test(title, () => { throw new Error(open.reason); });
  else test(title, async () => {
    const mine = await viaSg(open.mod);
    const theirs = viaSgUtils();
    assertBytesEqual(mine.inquiry, theirs.inquiry, 'INQUIRY: SG_IO vs sg_inq');
    assertBytesEqual(mine.capacity, theirs.capacity, 'READ CAPACITY: SG_IO vs sg_readcap');
  });

  const bot = await loadBot();
  const both = open.mod && bot.mod ? { mod: { open: open.mod, bot: bot.mod }, reason: null } : open.mod ? bot : open;
  perBackend(scenario, backends, both, 'BOT returns the same INQUIRY and READ CAPACITY bytes as SG_IO', async ({ open: o, bot: botMod }, b) => {
    const sg = await viaSg(o);
    const overBot = await withBot(botMod, b, async (tr) => {
      const inq = await tr.execute({ cdb: INQUIRY_36, direction: 'in', data: new Uint8Array(36) });
      const cap = await tr.execute({ cdb: READ_CAPACITY_10, direction: 'in', data: new Uint8Array(8) });
      return { inquiry: Uint8Array.from(inq.data), capacity: Uint8Array.from(cap.data) };
    });
    assertBytesEqual(overBot.inquiry, sg.inquiry, 'INQUIRY: BOT vs SG_IO');
    assertBytesEqual(overBot.capacity, sg.capacity, 'READ CAPACITY: BOT vs SG_IO');
  });
}
