// Core's UasTransport (packages/core/src/uas) on QEMU's usb-uas disk through the native backend,
// under core's lease: what a user gets. xhci: 16 streams, tag = stream id; ehci: no streams,
// status first and data after Read/Write Ready. Data is checked against the kernel's own bytes.
import { readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { loadHandoff } from './core-api.mjs';
import {
  assert,
  assertBytesEqual,
  assertEqual,
  cdb10,
  kernelRead,
  kernelWrite,
  QEMU_UAS_PID,
  QEMU_VID,
  uasDisks,
  usbInterfaceOfDisk,
  waitForUasDisk,
} from '../util.mjs';

const BLOCK = 512;
const DISK_BYTES = 64 << 20;
const REGION = { lba: (16 << 20) / BLOCK, bytes: 4 << 20 };
const WRITTEN = { lba: (24 << 20) / BLOCK, bytes: 4 << 20 };
const DEPTHS = [1, 4, 16];
const READS_PER_DEPTH = 96;

const t0 = performance.now();
/** A stall shows as the last step printed (a blocked event loop prints nothing else). */
const logStep = (what) => console.log(`VM_STEP +${Math.round(performance.now() - t0)} ms UasTransport ${what}`);

/**
 * Lease (unbinds `uas`), open, UasTransport.open, `fn(transport, events)`; then the transport's
 * close (frees streams, releases, closes the handle) and the lease's release: `uas` has the disk.
 */
async function withUasTransport(uasMod, handoff, backend, fn, step = logStep) {
  step('waiting for the disk');
  await waitForUasDisk();
  step('listing');
  const info = (await backend.list()).find((d) => d.vendorId === QEMU_VID && d.productId === QEMU_UAS_PID);
  assert(info, '46f4:0003 listed');
  step('leasing');
  const intf = info.configurations[0].interfaces.find((i) => i.interfaceProtocol === 0x62);
  const lease = await handoff.acquireLease(handoff.leaseDeviceOf(info, intf.interfaceNumber), {
    journal: null,
    registry: null,
  });
  const events = [];
  let transport = null;
  try {
    assertEqual(uasDisks().length, 0, 'usb-uas sd disks while leased');
    step('leased');
    const handle = await backend.open(info);
    step('opened');
    lease.onRelease(() => (transport ? transport.close() : handle.close()));
    transport = await uasMod.UasTransport.open(handle, {
      onEvent: (e) => {
        events.push(e);
        step(`event ${JSON.stringify(e)}`);
      },
    });
    step('transport open');
    return await fn(transport, events);
  } finally {
    step('releasing');
    await lease.release();
    step('released');
    const disk = (await waitForUasDisk()).slice('/dev/'.length);
    const uevent = readFileSync(`/sys/bus/usb/devices/${usbInterfaceOfDisk(disk)}/uevent`, 'utf8');
    assert(/DRIVER=uas/.test(uevent), `the usb-uas interface is bound to uas again: ${uevent}`);
  }
}

async function ready(tr) {
  for (let i = 0; i < 4; i++) {
    const r = await tr.execute({ cdb: new Uint8Array(6), direction: 'none', timeoutMs: 10_000 });
    if (r.status === 0) return;
    assertEqual(r.sense?.senseKey, 6, 'TEST UNIT READY: only UNIT ATTENTION before GOOD');
  }
  throw new Error('TEST UNIT READY never GOOD');
}

const read10 = (tr, lba, bytes, extra = {}) =>
  tr.execute({
    cdb: cdb10(0x28, lba, bytes / BLOCK),
    direction: 'in',
    data: new Uint8Array(bytes),
    timeoutMs: 20_000,
    ...extra,
  });

export async function registerUasTransportCases(scenario, native) {
  const title = (s) => `[${scenario}/uas/native] UasTransport: ${s}`;
  const path = `${process.cwd()}/packages/core/dist/uas/index.js`;
  let uasMod = null;
  let reason = null;
  try {
    uasMod = await import(path);
    if (!uasMod.UasTransport) reason = `${path} exports no UasTransport`;
  } catch (err) {
    reason = `NOT LANDED: core's UasTransport (${path}) did not load: ${err?.message ?? err}`;
  }
  const handoff = await loadHandoff();
  if (!reason && !handoff.mod) reason = handoff.reason;
  if (!reason && !native?.backend) reason = native?.reason ?? 'the native backend did not load';
  const t = (s, fn, opts) => (reason ? skip(title(s), reason) : test(title(s), () => fn(native.backend), opts));
  const streams = scenario === 'xhci' ? 16 : 0;

  t(
    `INQUIRY, READ CAPACITY and a CHECK CONDITION with its sense; ${streams ? '16 streams' : 'no streams'}`,
    async (b) => {
      await withUasTransport(uasMod, handoff.mod, b, async (tr, events) => {
        assertEqual([tr.kind, tr.streams], ['uas', streams], 'kind and streams');
        await ready(tr);
        const inq = await tr.execute({
          cdb: Uint8Array.of(0x12, 0, 0, 0, 36, 0),
          direction: 'in',
          data: new Uint8Array(36),
        });
        assertEqual(Buffer.from(inq.data.subarray(16, 32)).toString('latin1').trim(), 'QEMU HARDDISK', 'product');
        const cap = await tr.execute({
          cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
          direction: 'in',
          data: new Uint8Array(8),
        });
        const v = new DataView(cap.data.buffer, cap.data.byteOffset, 8);
        assertEqual([v.getUint32(0) + 1, v.getUint32(4)], [DISK_BYTES / BLOCK, BLOCK], 'READ CAPACITY');
        const bad = await read10(tr, DISK_BYTES / BLOCK, BLOCK);
        assertEqual([bad.status, bad.sense?.senseKey, bad.sense?.asc], [2, 5, 0x21], 'READ past the end');
        console.log(`VM_NOTE [${scenario}/uas] UasTransport events ${JSON.stringify(events)}`);
      });
    },
  );

  t(
    'data both ways: 4 MiB the kernel wrote read back; 4 MiB written, read by the kernel once `uas` is back',
    async (b) => {
      const dev = await waitForUasDisk();
      const theirs = randomFillSync(new Uint8Array(REGION.bytes));
      kernelWrite(dev, REGION.lba, theirs);
      const ours = randomFillSync(new Uint8Array(WRITTEN.bytes));
      await withUasTransport(uasMod, handoff.mod, b, async (tr) => {
        await ready(tr);
        for (const size of [4096, 65536, 1 << 20]) {
          for (let off = 0; off < REGION.bytes; off += Math.max(size, REGION.bytes / 16)) {
            const r = await read10(tr, REGION.lba + off / BLOCK, size);
            assertEqual([r.status, r.transferred], [0, size], `READ ${size} at +${off}`);
            assertBytesEqual(r.data, theirs.subarray(off, off + size), `READ ${size} at +${off}`);
          }
        }
        // One 16 MiB command on streams (once E_NO_MEMORY: its data phase was one URB of all
        // usbfs_memory_mb beside the Command IU). Not on EHCI, where usb-uas moves well under
        // 1 MiB/s here: 16 MiB would outlast any budget worth waiting for.
        if (tr.streams > 0) {
          const around = (12 << 20) / BLOCK;
          const whole = await read10(tr, REGION.lba - around, 16 << 20);
          assertEqual([whole.status, whole.transferred], [0, 16 << 20], 'READ of 16 MiB in one command');
          assertBytesEqual(whole.data.subarray(12 << 20, (12 << 20) + REGION.bytes), theirs, 'READ of 16 MiB');
        }
        const chunk = 1 << 20;
        for (let off = 0; off < ours.length; off += chunk) {
          const w = await tr.execute({
            cdb: cdb10(0x2a, WRITTEN.lba + off / BLOCK, chunk / BLOCK),
            direction: 'out',
            data: ours.subarray(off, off + chunk),
            timeoutMs: 20_000,
          });
          assertEqual([w.status, w.transferred], [0, chunk], `WRITE at +${off}`);
        }
      });
      assertBytesEqual(kernelRead(await waitForUasDisk(), WRITTEN.lba, ours.length), ours, 'the kernel reads');
    },
    { timeoutMs: 240_000 },
  );

  t(
    `queue depth ${DEPTHS.join('/')}: concurrent execute() calls overlap on the device (recorded), data checked`,
    async (b) => {
      const dev = await waitForUasDisk();
      const theirs = randomFillSync(new Uint8Array(REGION.bytes));
      kernelWrite(dev, REGION.lba, theirs);
      const rows = [];
      await withUasTransport(uasMod, handoff.mod, b, async (tr) => {
        await ready(tr);
        for (const depth of DEPTHS) {
          tr.maxOutstanding = 0;
          let x = depth * 2654435761;
          const lbas = Array.from({ length: READS_PER_DEPTH }, () => {
            x = (x ^ (x << 13)) >>> 0;
            x = (x ^ (x >>> 17)) >>> 0;
            x = (x ^ (x << 5)) >>> 0;
            return (x % (REGION.bytes / 4096)) * 8;
          });
          let next = 0;
          let lastDone = -1;
          let overtakes = 0;
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: depth }, async () => {
              while (next < lbas.length) {
                const i = next++;
                const r = await read10(tr, REGION.lba + lbas[i], 4096);
                if (i < lastDone) overtakes++;
                lastDone = Math.max(lastDone, i);
                assertEqual(r.status, 0, `READ ${i}`);
                assertBytesEqual(r.data, theirs.subarray(lbas[i] * BLOCK, lbas[i] * BLOCK + 4096), `READ ${i}`);
              }
            }),
          );
          const seconds = (performance.now() - t0) / 1000;
          rows.push({ depth, iops: Math.round(lbas.length / seconds), maxOutstanding: tr.maxOutstanding, overtakes });
        }
      });
      for (const r of rows) console.log(`VM_NOTE [${scenario}/uas] UasTransport ${JSON.stringify(r)}`);
      for (const r of rows)
        assertEqual(r.maxOutstanding, r.depth, `commands outstanding at the device at depth ${r.depth}`);
    },
    { timeoutMs: 240_000 },
  );

  t(
    'a READ cancelled mid-flight is aborted (ABORT TASK); reset() is LOGICAL UNIT RESET; the disk answers after',
    async (b) => {
      await withUasTransport(uasMod, handoff.mod, b, async (tr, events) => {
        await ready(tr);
        const abort = new AbortController();
        const big = read10(tr, 0, 16 << 20, { signal: abort.signal });
        setTimeout(() => abort.abort(), 20);
        const err = await big.then(
          (r) => ({ code: 'completed', r }),
          (e) => e,
        );
        const aborts = events.filter((e) => e.type === 'abort-task');
        console.log(
          `VM_NOTE [${scenario}/uas] cancelled READ: ${err.code}; events ${JSON.stringify(events.slice(-4))}`,
        );
        if (err.code !== 'completed') {
          assertEqual(err.code, 'E_CANCELLED', 'the cancelled READ rejects E_CANCELLED');
          assertEqual(aborts.length, 1, 'one ABORT TASK');
        }
        const inq = await tr.execute({
          cdb: Uint8Array.of(0x12, 0, 0, 0, 36, 0),
          direction: 'in',
          data: new Uint8Array(36),
        });
        assertEqual(inq.status, 0, 'INQUIRY after the abort');
        await tr.reset();
        assert(
          events.some((e) => e.type === 'lun-reset'),
          `a LOGICAL UNIT RESET event in ${JSON.stringify(events)}`,
        );
        await ready(tr);
        const r = await read10(tr, 0, 4096);
        assertEqual(r.status, 0, 'READ after the reset');
      });
    },
    { timeoutMs: 120_000 },
  );
}
