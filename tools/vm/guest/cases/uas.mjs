// QEMU's usb-uas disk (46f4:0003, UAS only) on xhci (SuperSpeed, 16 bulk streams) and ehci (high
// speed, no streams). Two groups:
// * engine: what UAS needs of the native engine, driven by a minimal initiator written on its
//   transfer plans (../uas-raw.mjs) under core's lease: streams, stream id per phase, a command's
//   status read posted before its data and Command IU, several commands in flight, facts per
//   transfer, task management, `uas` given back;
// * UasTransport: core's UAS transport (packages/core/src/uas) under the same lease
//   (./uas-transport.mjs).
// Every command's data is checked against what the kernel's own `uas` driver wrote or reads back.
import { readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { loadHandoff } from './core-api.mjs';
import { registerUasTransportCases } from './uas-transport.mjs';
import { registerContractCases, qemuUasEnv } from './contract.mjs';
import { RawUas, RC, TMF, commandIu, pipeUsage, readConfigDescriptor } from '../uas-raw.mjs';
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
/** The kernel writes this region before the lease; the engine reads it. */
const KERNEL_REGION = { lba: 0, bytes: 4 << 20 };
/** The engine writes this region; the kernel reads it after `uas` is back. */
const ENGINE_REGION = { lba: (8 << 20) / BLOCK, bytes: 1 << 20 };
const DEPTHS = [1, 4, 16];
const READS_PER_DEPTH = 96;
const MAX_STREAMS = 16;

const READ10 = 0x28;
const WRITE10 = 0x2a;

async function findUasDevice(backend) {
  const found = (await backend.list()).filter((d) => d.vendorId === QEMU_VID && d.productId === QEMU_UAS_PID);
  assertEqual(found.length, 1, `46f4:0003 devices listed by ${backend.name}`);
  const info = found[0];
  const intf = info.configurations[0]?.interfaces.find(
    (i) => i.interfaceClass === 8 && i.interfaceSubClass === 6 && i.interfaceProtocol === 0x62,
  );
  assert(intf, `a UAS interface (08/06/62) in ${JSON.stringify(info.configurations)}`);
  return { info, intf };
}

/**
 * Leases the usb-uas interface (core's lease unbinds `uas`), opens and claims it, selects its
 * alternate setting, allocates streams where the controller has them, then `fn(uas, ctx)`;
 * afterwards frees the streams, closes, releases, and waits for `uas` to hold the disk again.
 */
async function withUasLease(handoff, backend, scenario, fn) {
  await waitForUasDisk();
  const { info, intf } = await findUasDevice(backend);
  const lease = await handoff.acquireLease(handoff.leaseDeviceOf(info, intf.interfaceNumber), {
    journal: null,
    registry: null,
  });
  const ctx = { info, intf, streams: 0, streamRefusal: null };
  let result;
  let caseError = null;
  try {
    assertEqual(uasDisks().length, 0, 'usb-uas sd disks while leased');
    const handle = await backend.open(info);
    lease.onRelease(() => handle.close());
    await handle.claimInterface(intf.interfaceNumber);
    await handle.setAlternateSetting(intf.interfaceNumber, intf.alternateSetting);
    const pipes = pipeUsage(await readConfigDescriptor(handle));
    ctx.pipes = pipes;
    const streamEps = [pipes.status, pipes.dataIn, pipes.dataOut];
    try {
      ctx.streams = await handle.allocStreams(MAX_STREAMS, streamEps);
    } catch (err) {
      ctx.streamRefusal = err;
    }
    const uas = new RawUas(handle, pipes, { streams: ctx.streams > 0 });
    try {
      result = await fn(uas, ctx);
    } finally {
      if (ctx.streams > 0) await handle.freeStreams(streamEps);
      await handle.releaseInterface(intf.interfaceNumber).catch(() => undefined);
    }
  } catch (err) {
    caseError = err;
  }
  try {
    ctx.released = await lease.release();
    await waitForUasDisk();
    const disk = uasDisks()[0];
    const link = readFileSync(`/sys/bus/usb/devices/${usbInterfaceOfDisk(disk)}/uevent`, 'utf8');
    assert(/DRIVER=uas/.test(link), `the usb-uas interface is bound to uas again: ${link}`);
  } catch (giveBackError) {
    // The case's own failure, often the cause of this one, is the one to report.
    if (!caseError) throw giveBackError;
    console.log(`VM_NOTE [${scenario}/uas] after the case failed, giving the device back failed too: ${giveBackError}`);
  }
  if (caseError) throw caseError;
  return result;
}

/** TEST UNIT READY until GOOD (a unit attention or two after attach or reset); returns the sense keys seen. */
async function untilReady(uas, tag = 1) {
  const seen = [];
  for (let i = 0; i < 4; i++) {
    const r = await uas.command(tag, new Uint8Array(6));
    if (r.status === 0) return seen;
    seen.push(r.senseKey);
    assertEqual(r.senseKey, 6, `TEST UNIT READY sense key (UNIT ATTENTION only), IU ${JSON.stringify(r)}`);
  }
  throw new Error(`TEST UNIT READY never GOOD: sense keys ${seen}`);
}

/** Deterministic random LBAs (4 KiB aligned) inside the kernel-written region. */
function randomLbas(count, seed) {
  let x = seed >>> 0 || 1;
  const slots = KERNEL_REGION.bytes / 4096;
  return Array.from({ length: count }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return KERNEL_REGION.lba + ((x >>> 0) % slots) * 8;
  });
}

/**
 * `count` 4 KiB READs at `depth` in flight (tags 1..depth, reused as they free), each checked
 * against `expected`. Returns what shows the overlap: how many were pending when each came back,
 * and how many came back before one issued earlier.
 */
async function readsAtDepth(uas, depth, count, expected) {
  const lbas = randomLbas(count, 0x9e3779b9 ^ depth);
  let next = 0;
  let pending = 0;
  let maxPending = 0;
  let overtakes = 0;
  let lastDoneIndex = -1;
  const pendingAtCompletion = [];
  const t0 = performance.now();
  let failure = null;
  const worker = async (tag) => {
    while (next < count && !failure) {
      const i = next++;
      pending++;
      maxPending = Math.max(maxPending, pending);
      const r = await uas.command(tag, cdb10(READ10, lbas[i], 8), { dataIn: 4096 });
      pendingAtCompletion.push(pending);
      pending--;
      if (i < lastDoneIndex) overtakes++;
      lastDoneIndex = Math.max(lastDoneIndex, i);
      assertEqual(r.status, 0, `READ ${i} (tag ${tag}) status`);
      const off = (lbas[i] - KERNEL_REGION.lba) * BLOCK;
      assertBytesEqual(r.data, expected.subarray(off, off + 4096), `READ ${i} at LBA ${lbas[i]} (tag ${tag})`);
    }
  };
  // On a failure the other workers issue nothing more and their commands finish before this returns:
  // none is left in flight when the lease gives the device back (a tag the device still holds would
  // meet the kernel's first commands after `uas` binds again).
  await Promise.all(
    Array.from({ length: depth }, (_, k) =>
      worker(k + 1).catch((err) => {
        failure ??= err;
      }),
    ),
  );
  if (failure) throw failure;
  const seconds = (performance.now() - t0) / 1000;
  return {
    depth,
    count,
    iops: Math.round(count / seconds),
    maxPending,
    meanPendingAtCompletion: Number(
      (pendingAtCompletion.reduce((a, b) => a + b, 0) / pendingAtCompletion.length).toFixed(2),
    ),
    overtakes,
  };
}

function registerEngineCases(scenario, native, handoff) {
  const title = (s) => `[${scenario}/uas/native] ${s}`;
  const t = (s, fn, opts) => {
    if (!native?.backend) return skip(title(s), native?.reason ?? 'the native backend did not load');
    if (!handoff.mod) return skip(title(s), handoff.reason);
    test(title(s), () => fn(native.backend, handoff.mod), opts);
  };
  const streamsExpected = scenario === 'xhci';

  t(
    'usb-uas enumerates: 46f4:0003, one UAS interface (08/06/62), Pipe Usage 1-4 on its four bulk endpoints; ' +
      '`uas` holds its disk',
    async (b) => {
      await waitForUasDisk();
      const { info, intf } = await findUasDevice(b);
      assertEqual(info.speed, streamsExpected ? 'super' : 'high', 'speed');
      const bulk = intf.endpoints.filter((e) => e.transferType === 'bulk');
      assertEqual(bulk.length, 4, 'bulk endpoints');
      const handle = await b.open(info);
      try {
        const pipes = pipeUsage(await readConfigDescriptor(handle));
        assertEqual(
          [pipes.command, pipes.status, pipes.dataIn, pipes.dataOut],
          [0x01, 0x82, 0x83, 0x04],
          'Pipe Usage: command, status, data-in, data-out endpoints',
        );
      } finally {
        await handle.close();
      }
    },
  );

  t(
    streamsExpected
      ? 'engine under a lease: `uas` unbound, claimed, alternate set, 16 streams on 0x82/0x83/0x04; INQUIRY and ' +
          'READ CAPACITY on stream = tag (status read posted first, then data and Command IU); `uas` back with the disk'
      : 'engine under a lease: `uas` unbound, claimed, alternate set, streams refused (E_BAD_INPUT, high speed); ' +
          'INQUIRY and READ CAPACITY by Read Ready then data then Sense IU; `uas` back with the disk',
    async (b, h) => {
      let sawStreams;
      await withUasLease(h, b, scenario, async (uas, ctx) => {
        sawStreams = ctx.streams;
        if (streamsExpected) assertEqual(ctx.streams, MAX_STREAMS, 'streams allocated per endpoint');
        else {
          assertEqual(ctx.streams, 0, 'streams on a high-speed device');
          assertEqual(ctx.streamRefusal?.code, 'E_BAD_INPUT', `the refusal's code (${ctx.streamRefusal?.message})`);
        }
        await untilReady(uas);
        const inq = await uas.command(2, Uint8Array.of(0x12, 0, 0, 0, 36, 0), { dataIn: 36 });
        assertEqual(inq.status, 0, 'INQUIRY status');
        assertEqual(Buffer.from(inq.data.subarray(8, 16)).toString('latin1').trim(), 'QEMU', 'vendor');
        assertEqual(Buffer.from(inq.data.subarray(16, 32)).toString('latin1').trim(), 'QEMU HARDDISK', 'product');
        if (streamsExpected) {
          // Status read, data, Command IU (posted in that order, two plans), each phase's facts back.
          assertEqual(
            inq.facts.phases.map((p) => [p.status, p.actualLength]),
            [
              [0, 16],
              [0, 36],
              [0, 32],
            ],
            'facts',
          );
        }
        const cap = await uas.command(3, Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), { dataIn: 8 });
        const v = new DataView(cap.data.buffer, cap.data.byteOffset, 8);
        assertEqual([v.getUint32(0) + 1, v.getUint32(4)], [DISK_BYTES / BLOCK, BLOCK], 'READ CAPACITY blocks × size');
        const bad = await uas.command(4, cdb10(READ10, DISK_BYTES / BLOCK, 1), {});
        assertEqual([bad.status, bad.senseKey, bad.asc], [2, 5, 0x21], 'READ past the end: CHECK CONDITION 5/21h');
      });
      console.log(`VM_NOTE [${scenario}/uas] streams allocated: ${sawStreams}`);
    },
  );

  t(
    'engine data both ways: 4 MiB the kernel wrote read back as 4 KiB..256 KiB READs; 1 MiB written as WRITEs ' +
      'read back by the kernel once `uas` is back',
    async (b, h) => {
      const dev = await waitForUasDisk();
      const written = randomFillSync(new Uint8Array(KERNEL_REGION.bytes));
      kernelWrite(dev, KERNEL_REGION.lba, written);
      const ours = randomFillSync(new Uint8Array(ENGINE_REGION.bytes));
      await withUasLease(h, b, scenario, async (uas) => {
        await untilReady(uas);
        let lba = KERNEL_REGION.lba;
        for (const size of [4096, 65536, 262144]) {
          for (let off = 0; off < KERNEL_REGION.bytes / 4; off += size) {
            const r = await uas.command(5, cdb10(READ10, lba, size / BLOCK), { dataIn: size });
            assertEqual(r.status, 0, `READ ${size} at ${lba}`);
            const at = (lba - KERNEL_REGION.lba) * BLOCK;
            assertBytesEqual(r.data, written.subarray(at, at + size), `READ ${size} bytes at LBA ${lba}`);
            lba += size / BLOCK;
          }
        }
        for (let off = 0; off < ours.length; off += 65536) {
          const wlba = ENGINE_REGION.lba + off / BLOCK;
          const w = await uas.command(6, cdb10(WRITE10, wlba, 128), { dataOut: ours.subarray(off, off + 65536) });
          assertEqual(w.status, 0, `WRITE at LBA ${wlba}`);
        }
      });
      assertBytesEqual(kernelRead(await waitForUasDisk(), ENGINE_REGION.lba, ours.length), ours, 'the kernel reads');
    },
    { timeoutMs: 240_000 },
  );

  t(
    `engine queue depth ${DEPTHS.join('/')}: ${READS_PER_DEPTH} random 4 KiB READs per depth, each command by itself ` +
      '(several in flight on one handle), each checked; overlap and order recorded',
    async (b, h) => {
      const dev = await waitForUasDisk();
      const written = randomFillSync(new Uint8Array(KERNEL_REGION.bytes));
      kernelWrite(dev, KERNEL_REGION.lba, written);
      const rows = [];
      await withUasLease(h, b, scenario, async (uas) => {
        await untilReady(uas);
        for (const depth of DEPTHS) rows.push(await readsAtDepth(uas, depth, READS_PER_DEPTH, written));
      });
      for (const r of rows) console.log(`VM_NOTE [${scenario}/uas] ${JSON.stringify(r)}`);
      for (const r of rows) assertEqual(r.maxPending, r.depth, `commands in flight at once at depth ${r.depth}`);
    },
    { timeoutMs: 240_000 },
  );

  t(
    'engine task management: ABORT TASK on a READ the device holds (its data not yet asked for), its plan ' +
      'cancelled; LOGICAL UNIT RESET; then UNIT ATTENTION and GOOD; `uas` back with the disk',
    async (b, h) => {
      const notes = {};
      await withUasLease(h, b, scenario, async (uas, ctx) => {
        await untilReady(uas);
        // The READ's data is never posted (the device holds the command, waiting for it): QEMU's
        // usb-uas would assert, killing the VM, when the host cancels a data packet it had attached
        // to a command that ABORT TASK freed (hw/usb/dev-uas.c usb_uas_cancel_io).
        const abort = new AbortController();
        const command = {
          endpoint: ctx.pipes.command,
          start: 'at-once',
          source: { kind: 'inline', bytes: commandIu(7, cdb10(READ10, 0, 2048)) },
        };
        const statusRead = {
          endpoint: ctx.pipes.status,
          start: 'at-once',
          streamId: 7,
          source: { kind: 'buffer', offset: 0, length: 64 },
        };
        // USB 2: the Read Ready that may come for it is the status reader's (a tag nobody waits for).
        const held = uas.handle.exchange({
          timeoutMs: 30_000,
          signal: abort.signal,
          ...(ctx.streams ? { buffer: new Uint8Array(64), phases: [command, statusRead] } : { phases: [command] }),
        });
        const response = await uas.task(8, TMF.ABORT_TASK, 7);
        assertEqual([response.id, response.tag, response.responseCode], [4, 8, RC.TMF_COMPLETE], 'ABORT TASK response');
        abort.abort();
        const heldFacts = await held;
        notes.abortedPlan = heldFacts.phases.map((p) => [p.status, p.actualLength]);
        if (ctx.streams) assertEqual(heldFacts.phases[1]?.status, 4, "the aborted READ's status read: cancelled");
        const reset = await uas.task(9, TMF.LOGICAL_UNIT_RESET, 0);
        assertEqual([reset.id, reset.tag, reset.responseCode], [4, 9, RC.TMF_COMPLETE], 'LOGICAL UNIT RESET response');
        notes.afterReset = await untilReady(uas, 10);
        const inq = await uas.command(11, Uint8Array.of(0x12, 0, 0, 0, 36, 0), { dataIn: 36 });
        assertEqual(inq.status, 0, 'INQUIRY after the reset');
        notes.events = uas.events.slice(-8);
      });
      console.log(`VM_NOTE [${scenario}/uas] task management ${JSON.stringify(notes)}`);
    },
    { timeoutMs: 120_000 },
  );
}

export async function registerUasCases(scenario, backends) {
  const native = backends.find((b) => b.name === 'native');
  const handoff = await loadHandoff();
  registerEngineCases(scenario, native, handoff);
  await registerUasTransportCases(scenario, native);
  // The contract suite's UAS cases on the real device (its BOT cases need a Bulk-Only alternate).
  await registerContractCases(
    scenario,
    [{ name: 'uas/native', backend: native?.backend, reason: native?.reason ?? 'no native backend' }],
    (_name, backend) => qemuUasEnv(scenario, 'native', backend),
    { levels: ['uas'] },
  );
  const nodeUsb = backends.find((b) => b.name === 'node-usb');
  if (nodeUsb)
    skip(
      `[${scenario}/uas/node-usb] UAS through node-usb`,
      "node-usb v3 runs one transfer per endpoint and has no bulk streams: UAS is the native engine's " +
        '(core answers E_UNSUPPORTED there)',
    );
}
