// Guest-only check of the engine's short data-in facts with several URBs queued: the project's
// FunctionFS emulator (tools/vm/guest/gadget.mjs) on dummy_hcd sends 1000 of 4096 bytes, then
// the CSW. The plan ends at the short phase (no CSW read by the engine); this script then reads
// the CSW as core does. With several URBs queued, the CSW can land in a URB queued behind the
// short one: the engine reports those bytes (data.afterShort) and no CSW read is needed. Run in
// the guest through the VM harness:
//   VM_SCENARIOS=gadget VM_BACKENDS=native VM_GUEST_SCRIPT=native/test/manual-short-data.sh node tools/vm/run-e2e.mjs
// Prints one DEBUG line per mode; a mode passes with data 1000, no CSW from the engine, and either
// a CSW with the right tag and residue, from data.afterShort or from a read after it.
import { startGadget } from '../../tools/vm/guest/gadget.mjs';
const { loadNativeBackend } = await import('../../packages/core/dist/backends/native.js');
const g = await startGadget();
const { backend } = await loadNativeBackend({ required: true });
const info = (await backend.list()).find((d) => d.vendorId === 0x1d6b && d.productId === 0x0104);
const h = await backend.open(info);
await h.detachKernelDriver(0);
await h.claimInterface(0);
let tag = 0x500;
const cbw = (len) => {
  const b = Buffer.alloc(31);
  b.write('USBC', 0, 'latin1');
  b.writeUInt32LE(++tag, 4);
  b.writeUInt32LE(len, 8);
  b[12] = 0x80;
  b[14] = 10;
  Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]).copy(b, 15);
  return b;
};
for (const [chunkSize, depth] of [
  [1024, 4],
  [1024, 1],
  [4096, 1],
]) {
  await g.inject({ kind: 'short-data', opcode: 0x28, bytes: 1000 });
  const buf = Buffer.alloc(4096);
  const r = await h.botExchange({
    cbw: cbw(4096),
    outEndpoint: 0x02,
    inEndpoint: 0x81,
    timeoutMs: 3000,
    data: { direction: 'in', buffer: buf },
    chunkSize,
    depth,
  });
  const cswBuf = Buffer.alloc(13);
  const after = r.data?.afterShort;
  const read = r.csw || after ? null : await h.bulkIn(0x81, cswBuf, 1000);
  const csw = after ? Buffer.from(after.bytes) : cswBuf.subarray(0, read?.actualLength ?? 0);
  const cswGood =
    csw.length === 13 &&
    csw.toString('latin1', 0, 4) === 'USBS' &&
    csw.readUInt32LE(4) === tag &&
    csw.readUInt32LE(8) === 3096;
  const ok = r.data?.actualLength === 1000 && !r.csw && cswGood;
  if (!cswGood) {
    await h.clearHalt(0x81).catch(() => {});
    await h.clearHalt(0x02).catch(() => {});
  }
  if (!ok) process.exitCode = 1;
  console.log(
    ok ? 'DEBUG PASS' : 'DEBUG FAIL',
    JSON.stringify({
      chunkSize,
      depth,
      cbw: r.cbw,
      data: r.data,
      afterShort: after && [...after.bytes],
      cswRead: read,
      cswGood,
      notes: r.notes,
    }),
  );
}
await h.releaseInterface(0);
await h.attachKernelDriver(0);
await h.close();
g.stop();
