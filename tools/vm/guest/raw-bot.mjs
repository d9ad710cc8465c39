// Transfer status travels as a number (core's usb/backend.js); names only where text is printed.
const { TransferStatus } = await import(`${process.cwd()}/packages/core/dist/usb/backend.js`);
// A deliberately minimal BOT client for the guest suite: one CBW, data, one CSW, no recovery.
// It exists so that the harness can check the kernel and QEMU independently of core's
// BotTransport (which the suite tests separately), and to cross-check its bytes.
export function cbw(tag, cdb, length, dirIn, lun = 0) {
  const b = new Uint8Array(31);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x43425355, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, length, true);
  b[12] = dirIn ? 0x80 : 0;
  b[13] = lun;
  b[14] = cdb.length;
  b.set(cdb, 15);
  return b;
}

let nextTag = 1;

/** Runs one command on a claimed handle; returns { status, residue, data }. Throws on any transport fault. */
export async function rawCommand(handle, eps, cdb, { inLength = 0, out } = {}) {
  const tag = nextTag++;
  const length = out ? out.length : inLength;
  const r1 = await handle.bulkOut(eps.out, cbw(tag, cdb, length, !out), 5000);
  if (r1.status !== TransferStatus.OK || r1.actualLength !== 31) throw new Error(`CBW: ${JSON.stringify(r1)}`);
  let data = new Uint8Array(0);
  if (out) {
    const r = await handle.bulkOut(eps.out, out, 20000);
    if (r.status !== TransferStatus.OK) throw new Error(`data out: ${JSON.stringify(r)}`);
  } else if (inLength) {
    const buf = new Uint8Array(inLength);
    const r = await handle.bulkIn(eps.in, buf, 20000);
    if (r.status === TransferStatus.STALL) await handle.clearHalt(eps.in);
    else if (r.status !== TransferStatus.OK) throw new Error(`data in: ${JSON.stringify(r)}`);
    data = buf.subarray(0, r.actualLength);
  }
  const csw = new Uint8Array(13);
  const r3 = await handle.bulkIn(eps.in, csw, 5000);
  if (r3.status !== TransferStatus.OK || r3.actualLength !== 13) throw new Error(`CSW: ${JSON.stringify(r3)}`);
  const v = new DataView(csw.buffer);
  if (v.getUint32(0, true) !== 0x53425355 || v.getUint32(4, true) !== tag)
    throw new Error(`bad CSW ${Buffer.from(csw).toString('hex')}`);
  return { status: csw[12], residue: v.getUint32(8, true), data };
}
