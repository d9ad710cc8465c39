// UsbBackend contract points that only a real device and kernel can show. QEMU's usb-storage
// answers an IN with nothing to send by STALL (never NAK), so timeouts and cancellation are
// shown on the gadget (the emulator NAKs when told `no-response`), see cases/gadget.mjs.
import { test, skip } from '../runner.mjs';
import { withClaimedDisk } from './qemu-disk.mjs';
import { rawCommand } from '../raw-bot.mjs';
import { assertEqual } from '../util.mjs';
// Transfer status travels as a number (core's usb/backend.js); names only where text is printed.
const { TransferStatus } = await import(`${process.cwd()}/packages/core/dist/usb/backend.js`);

const INQUIRY = Uint8Array.of(0x12, 0, 0, 0, 36, 0);

export function registerContractCases(scenario, backends) {
  for (const { name, backend, reason } of backends) {
    const t = (title, fn) => (backend ? test(`[${scenario}/${name}] ${title}`, () => fn(backend)) : skip(`[${scenario}/${name}] ${title}`, reason));

    t('contract: real STALLs resolve as status stall (idle IN, invalid CBW), clearHalt recovers both endpoints', async (b) => {
      await withClaimedDisk(b, async (h, intf) => {
        const idle = await h.bulkIn(intf.eps.in, new Uint8Array(13), 2000);
        assertEqual(idle.status, TransferStatus.STALL, 'an IN with no command (QEMU stalls it)');
        await h.clearHalt(intf.eps.in);
        const bad = await h.bulkOut(intf.eps.out, new Uint8Array(31).fill(0x55), 2000);
        assertEqual(bad.status, TransferStatus.STALL, 'a CBW with a bad signature');
        await h.clearHalt(intf.eps.out);
        const inq = await rawCommand(h, intf.eps, INQUIRY, { inLength: 36 });
        assertEqual(inq.status, 0, 'INQUIRY after the halts were cleared');
      });
    });
  }
}

/** On the gadget: raw timeout vs cancelled, one transfer per endpoint, close() settling a pending IN. */
export async function gadgetTimeoutContract(h, intf, injectNoResponse) {
  await injectNoResponse();
  // CBW + data of an INQUIRY whose CSW never comes (the emulator NAKs it).
  const cbw = new Uint8Array(31);
  const v = new DataView(cbw.buffer);
  v.setUint32(0, 0x43425355, true); v.setUint32(4, 0x1234, true); v.setUint32(8, 36, true);
  cbw[12] = 0x80; cbw[14] = 6; cbw.set(INQUIRY, 15);
  assertEqual((await h.bulkOut(intf.eps.out, cbw, 2000)).status, TransferStatus.OK, 'CBW');
  assertEqual((await h.bulkIn(intf.eps.in, new Uint8Array(36), 2000)).status, TransferStatus.OK, 'INQUIRY data');
  const t0 = Date.now();
  const timedOut = await h.bulkIn(intf.eps.in, new Uint8Array(13), 300);
  const took = Date.now() - t0;
  assertEqual(timedOut.status, TransferStatus.TIMEOUT, 'CSW read with a 300 ms budget');
  if (took < 250 || took > 3000) throw new Error(`the timeout took ${took} ms`);
  const ac = new AbortController();
  const pending = h.bulkIn(intf.eps.in, new Uint8Array(13), 2000, ac.signal);
  let second;
  try { await h.bulkIn(intf.eps.in, new Uint8Array(13), 100); } catch (err) { second = err; }
  assertEqual(second?.code, 'E_BAD_INPUT', `a second IN on the endpoint (${second?.message})`);
  const t1 = Date.now();
  setTimeout(() => ac.abort(), 100);
  assertEqual((await pending).status, TransferStatus.CANCELLED, 'status after abort');
  if (Date.now() - t1 > 3000) throw new Error(`abort settled after ${Date.now() - t1} ms`);
  // Bulk-Only reset + clear halts: the device forgets the command and waits for a CBW again.
  const reset = await h.controlTransfer({ requestType: 0x21, request: 0xff, value: 0, index: intf.number }, new Uint8Array(0), 2000);
  assertEqual(reset.status, TransferStatus.OK, 'Bulk-Only Mass Storage Reset');
  await h.clearHalt(intf.eps.in);
  await h.clearHalt(intf.eps.out);
  // An IN with no command pending: the emulator NAKs it; close() must settle it as cancelled.
  const pendingAtClose = h.bulkIn(intf.eps.in, new Uint8Array(13), 5000);
  pendingAtClose.catch(() => undefined);
  return { pendingAtClose }; // wrapped: an async function returning the promise itself would wait for it
}
