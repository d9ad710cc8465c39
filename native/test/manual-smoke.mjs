#!/usr/bin/env node
// Real-device smoke test of the native engine (run as root in the QEMU guest, or on a
// machine with a USB stick you may detach). Prints one JSON object; exit 0 = all checks passed.
//   node native/test/manual-smoke.mjs [VID:PID] [--write]
// Default device 46f4:0001 (QEMU usb-storage). --write also streams a WRITE(10) from a file
// and reads it back (destroys the first MiB of the medium: scratch media only).
import { createRequire } from 'node:module';
import { existsSync, openSync, closeSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const loaded = require('../index.js').load();
const args = process.argv.slice(2);
const [vid, pid] = (args.find((a) => a.includes(':')) ?? '46f4:0001').split(':').map((h) => parseInt(h, 16));
const allowWrite = args.includes('--write');
const out = { device: null, steps: [], checks: [], notes: [], ok: true };
const step = (name, value) => out.steps.push({ name, ...value });
const check = (name, pass, detail) => {
  out.checks.push({ name, pass: !!pass, ...(detail === undefined ? {} : { detail }) });
  if (!pass) out.ok = false;
};
const finish = (code = out.ok ? 0 : 1) => {
  console.log(
    JSON.stringify(
      out,
      (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? String(v) : v),
      2,
    ),
  );
  process.exit(code);
};
const codeOf = async (fn) => {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    return e.code ?? String(e);
  }
};

if (!loaded.ok) {
  out.ok = false;
  out.error = loaded.reason;
  finish(2);
}
const addon = loaded.addon;

let tag = 0x1000;
function cbw({ length = 0, dirIn = false, cdb, lun = 0 }) {
  const b = Buffer.alloc(31);
  b.write('USBC', 0, 'latin1');
  b.writeUInt32LE(++tag, 4);
  b.writeUInt32LE(length, 8);
  b[12] = dirIn ? 0x80 : 0;
  b[13] = lun;
  b[14] = cdb.length;
  Buffer.from(cdb).copy(b, 15);
  return b;
}
function parseCsw(bytes) {
  const b = Buffer.from(bytes);
  if (b.length !== 13 || b.toString('latin1', 0, 4) !== 'USBS') return { valid: false, raw: b.toString('hex') };
  return { valid: true, tag: b.readUInt32LE(4), residue: b.readUInt32LE(8), status: b[12] };
}
const sdDisks = () => (existsSync('/sys/block') ? readdirSync('/sys/block').filter((n) => n.startsWith('sd')) : []);

process.on('uncaughtException', (e) => {
  out.ok = false;
  out.error = e && e.stack ? e.stack : String(e);
  finish(1);
});
process.on('unhandledRejection', (e) => {
  throw e;
});

const devices = await addon.list();
step('list', {
  count: devices.length,
  devices: devices.map(
    (d) =>
      `${d.vendorId.toString(16)}:${d.productId.toString(16)} bus ${d.busNumber} addr ${d.deviceAddress} ` +
      `ports ${d.portNumbers.join('.')} ${d.speed} ${d.product ?? ''}`,
  ),
});
const dev = devices.find((d) => d.vendorId === vid && d.productId === pid);
if (!dev) {
  check('device present', false, `no ${vid.toString(16)}:${pid.toString(16)}`);
  finish();
}
out.device = dev;
const itf = dev.configurations[0].interfaces.find((i) => i.interfaceClass === 8 && i.interfaceProtocol === 0x50);
const epIn = itf.endpoints.find((e) => e.transferType === 'bulk' && e.address & 0x80).address;
const epOut = itf.endpoints.find((e) => e.transferType === 'bulk' && !(e.address & 0x80)).address;
step('interface', { number: itf.interfaceNumber, epIn, epOut, maxBurst: itf.endpoints.map((e) => e.maxBurst ?? null) });
const disksBefore = sdDisks();

const h = await addon.open(dev.busNumber, dev.deviceAddress);
const driverWasActive = await h.kernelDriverActive(itf.interfaceNumber);
step('kernelDriverActive', { active: driverWasActive });
await h.detachKernelDriver(itf.interfaceNumber);
await h.claimInterface(itf.interfaceNumber);
await h.setAlternateSetting(itf.interfaceNumber, 0);
step('detach+claim', { ok: true });

// BOT commands go through core's NativeHandle, which validates and encodes the engine's plan.
const { NativeHandle } = await import('../../packages/core/dist/backends/native.js');
const nh = new NativeHandle({ ...dev, backend: 'native', id: 'smoke' }, h);
const run = (c, data, extra = {}) =>
  nh.botExchange({
    cbw: c,
    outEndpoint: epOut,
    inEndpoint: epIn,
    timeoutMs: 10_000,
    ...(data ? { data } : {}),
    ...extra,
  });
// The engine reports facts: after a short data phase the CSW is the caller's to read (as core does).
const readCsw = async (r) => {
  if (r.csw) return r;
  const buf = Buffer.alloc(13);
  const cr = await h.bulkTransfer(epIn, buf, 2000);
  return {
    ...r,
    csw: {
      status: ['ok', 'stall', 'timeout', 'overflow', 'cancelled'][cr.status],
      actualLength: cr.actualLength,
      bytes: buf.subarray(0, cr.actualLength),
    },
  };
};
const cswOk = (r, t) =>
  r.csw && r.csw.status === 'ok' && parseCsw(r.csw.bytes).valid && parseCsw(r.csw.bytes).tag === t;

// GET MAX LUN over a control transfer.
const maxLun = await h.controlTransfer(0xa1, 0xfe, 0, itf.interfaceNumber, 1, 2000);
step('getMaxLun', { status: maxLun.status, data: maxLun.data });

// TEST UNIT READY (no data; the kernel may leave a UNIT ATTENTION behind, so retry once).
let tur;
for (let i = 0; i < 3; i++) {
  const c = cbw({ cdb: [0, 0, 0, 0, 0, 0] });
  tur = await run(c);
  if (parseCsw(tur.csw.bytes).status === 0) break;
  const s = Buffer.alloc(18);
  await run(cbw({ length: 18, dirIn: true, cdb: [3, 0, 0, 0, 18, 0] }), { direction: 'in', buffer: s });
}
step('testUnitReady', { cbw: tur.cbw, csw: parseCsw(tur.csw.bytes) });
check('TEST UNIT READY: GOOD after sense drain', parseCsw(tur.csw.bytes).status === 0);

// INQUIRY (36 bytes).
const inq = Buffer.alloc(36);
let c = cbw({ length: 36, dirIn: true, cdb: [0x12, 0, 0, 0, 36, 0] });
let r = await run(c, { direction: 'in', buffer: inq });
step('inquiry', {
  result: r,
  vendor: inq.toString('latin1', 8, 16).trim(),
  product: inq.toString('latin1', 16, 32).trim(),
});
check(
  'INQUIRY: data ok 36 bytes + CSW good',
  r.data.status === 'ok' && r.data.actualLength === 36 && cswOk(r, tag) && parseCsw(r.csw.bytes).status === 0,
);

// INQUIRY asking for 255 with a 255-byte data phase: the device has fewer bytes (short data).
const inq255 = Buffer.alloc(255);
c = cbw({ length: 255, dirIn: true, cdb: [0x12, 0, 0, 0, 255, 0] });
r = await run(c, { direction: 'in', buffer: inq255 });
const engineGaveCsw = Boolean(r.csw);
r = await readCsw(r);
step('inquiryShort', { result: r, csw: r.csw && parseCsw(r.csw.bytes) });
// QEMU's usb-storage pads INQUIRY to the length asked (residue 0); a device with fewer bytes ends
// the data phase short, and then the plan ends there (no CSW read by the engine).
check(
  'INQUIRY 255: data ok, CSW with matching tag; a short data phase ends the plan',
  r.data.status === 'ok' &&
    r.data.actualLength <= 255 &&
    (r.data.actualLength === 255 || !engineGaveCsw) &&
    cswOk(r, tag),
);

// READ CAPACITY(10).
const cap = Buffer.alloc(8);
c = cbw({ length: 8, dirIn: true, cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
r = await run(c, { direction: 'in', buffer: cap });
const lastLba = cap.readUInt32BE(0);
const blockSize = cap.readUInt32BE(4);
step('readCapacity', { result: r, lastLba, blockSize });
check('READ CAPACITY(10)', r.data.actualLength === 8 && cswOk(r, tag) && blockSize > 0);

// READ(10) 1 MiB in 4 URBs of 256 KiB into a buffer, then the same through fd streaming.
const blocks = (1 << 20) / blockSize;
const read10 = (lba, n) => [
  0x28,
  0,
  lba >>> 24,
  (lba >>> 16) & 255,
  (lba >>> 8) & 255,
  lba & 255,
  0,
  n >> 8,
  n & 255,
  0,
];
const big = Buffer.alloc(1 << 20);
c = cbw({ length: big.length, dirIn: true, cdb: read10(0, blocks) });
let t0 = process.hrtime.bigint();
r = await run(c, { direction: 'in', buffer: big }, { chunkSize: 256 * 1024, depth: 4 });
step('read1MiBBuffer', { result: r, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
check(
  'READ(10) 1 MiB into buffer',
  r.data.status === 'ok' && r.data.actualLength === big.length && cswOk(r, tag) && parseCsw(r.csw.bytes).status === 0,
);
const file = '/tmp/usbscsi-smoke.bin';
writeFileSync(file, '');
let fd = openSync(file, 'r+');
c = cbw({ length: big.length, dirIn: true, cdb: read10(0, blocks) });
r = await run(c, { direction: 'in', fd, length: big.length, position: 0 }, { chunkSize: 128 * 1024, depth: 3 });
closeSync(fd);
step('read1MiBFd', { result: r });
check(
  'READ(10) 1 MiB streamed to a file equals the buffer read',
  r.data.actualLength === big.length && cswOk(r, tag) && readFileSync(file).equals(big),
);

// depth x chunk above usbfs_memory_mb: depth reduced and said so.
const limit = addon.transferMemoryLimit();
if (limit.bytes > 0) {
  // READ(10) moves at most 65535 blocks: 24 MiB with 512-byte blocks, above the default 16 MiB limit.
  const n = Math.min(Math.floor((65535 * blockSize) / (4 << 20)) * (4 << 20), (lastLba + 1) * blockSize, 24 << 20);
  const huge = Buffer.alloc(n);
  c = cbw({ length: n, dirIn: true, cdb: read10(0, n / blockSize) });
  t0 = process.hrtime.bigint();
  r = await run(c, { direction: 'in', buffer: huge }, { chunkSize: 4 << 20, depth: 16 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  step('readLargeDepthCapped', {
    bytes: n,
    result: { ...r, csw: r.csw && parseCsw(r.csw.bytes) },
    ms,
    MBps: +(n / 1e6 / (ms / 1e3)).toFixed(1),
    limit,
  });
  check(
    'depth reduced to fit usbfs_memory_mb, noted, data whole',
    n > limit.bytes / 4 &&
      r.data.actualLength === n &&
      cswOk(r, tag) &&
      parseCsw(r.csw.bytes).residue === 0 &&
      (r.notes ?? []).some((s) => s.includes('depth reduced')),
  );
}

// Unsupported opcode with a data-in phase: CHECK CONDITION; a device may stall the data phase.
const junk = Buffer.alloc(512);
c = cbw({ length: 512, dirIn: true, cdb: [0xc7, 0, 0, 0, 0, 0] });
r = await run(c, { direction: 'in', buffer: junk });
let recovered = null;
if (r.data.status === 'stall') {
  // raw engine results carry status numbers
  await h.clearHalt(epIn);
  const cswBuf = Buffer.alloc(13);
  const cr = await h.bulkTransfer(epIn, cswBuf, 2000);
  recovered = { transfer: cr, csw: parseCsw(cswBuf.subarray(0, cr.actualLength)) };
}
step('unsupportedOpcode', { result: { ...r, csw: r.csw && parseCsw(r.csw.bytes) }, recovered });
check(
  'unsupported opcode: stall reported without a CSW (core recovers) or CSW status 1',
  (r.data.status === 'stall' && !r.csw && recovered?.csw.status === 1 && recovered.transfer.status === 0) ||
    (r.csw && parseCsw(r.csw.bytes).status === 1),
);
const sense = Buffer.alloc(18);
c = cbw({ length: 18, dirIn: true, cdb: [3, 0, 0, 0, 18, 0] });
r = await run(c, { direction: 'in', buffer: sense });
step('requestSense', { sense, key: sense[2] & 15, asc: sense[12], ascq: sense[13] });
check('REQUEST SENSE: ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE', (sense[2] & 15) === 5 && sense[12] === 0x20);

if (allowWrite) {
  const pattern = randomBytes(1 << 20);
  writeFileSync('/tmp/usbscsi-smoke-src.bin', pattern);
  fd = openSync('/tmp/usbscsi-smoke-src.bin', 'r');
  const write10 = read10(0, blocks);
  write10[0] = 0x2a;
  c = cbw({ length: pattern.length, dirIn: false, cdb: write10 });
  r = await run(c, { direction: 'out', fd, length: pattern.length, position: 0 }, { chunkSize: 256 * 1024, depth: 4 });
  closeSync(fd);
  const back = Buffer.alloc(pattern.length);
  const r2 = await run(cbw({ length: back.length, dirIn: true, cdb: read10(0, blocks) }), {
    direction: 'in',
    buffer: back,
  });
  step('write1MiBFd', { result: r, readBack: r2.data });
  check(
    'WRITE(10) streamed from a file reads back identical',
    r.data.actualLength === pattern.length && parseCsw(r.csw.bytes).status === 0 && back.equals(pattern),
  );
}

// Cancellation mid-command, then BOT reset recovery (class reset + clear halts).
const cancelled = Buffer.alloc(8 << 20);
c = cbw({ length: cancelled.length, dirIn: true, cdb: read10(0, cancelled.length / blockSize) });
const abort = new AbortController();
const pending = run(
  c,
  { direction: 'in', buffer: cancelled },
  { signal: abort.signal, chunkSize: 64 * 1024, depth: 2 },
);
abort.abort();
const didCancel = abort.signal.aborted;
r = await pending;
const reset = await h.controlTransfer(0x21, 0xff, 0, itf.interfaceNumber, Buffer.alloc(0), 2000);
await h.clearHalt(epIn);
await h.clearHalt(epOut);
const afterReset = Buffer.alloc(36);
const r3 = await run(cbw({ length: 36, dirIn: true, cdb: [0x12, 0, 0, 0, 36, 0] }), {
  direction: 'in',
  buffer: afterReset,
});
step('cancel', { didCancel, result: { ...r, csw: r.csw && parseCsw(r.csw.bytes) }, reset, inquiryAfter: r3.data });
check(
  'cancel: the exchange resolves cancelled; reset recovery brings the device back',
  didCancel &&
    (r.cbw.status === 'cancelled' || r.data?.status === 'cancelled' || r.csw?.status === 'cancelled') &&
    reset.status === 0 &&
    cswOk(r3, tag),
);

// Bad arguments on a live handle: typed errors, no crash.
const bad = {};
const expectBad = async (name, fn) => (bad[name] = await codeOf(fn));
await expectBad('bulk negative timeout', () => h.bulkTransfer(epIn, Buffer.alloc(8), -1));
await expectBad('bulk string buffer', () => h.bulkTransfer(epIn, 'abc', 1000));
await expectBad('bulk endpoint 0', () => h.bulkTransfer(0, Buffer.alloc(8), 1000));
await expectBad('control negative length', () => h.controlTransfer(0x80, 6, 0x100, 0, -1, 1000));
await expectBad('exchange short cbw', () =>
  nh.botExchange({ cbw: Buffer.alloc(30), outEndpoint: epOut, inEndpoint: epIn, timeoutMs: 1000 }),
);
await expectBad('engine: a block of the wrong size', () => h.exchange(new Uint8Array(100)));
await expectBad('engine: a buffer phase outside the buffer', () => {
  const b = new Uint8Array(336);
  const v = new DataView(b.buffer);
  b[0] = 1;
  v.setUint32(4, 1000, true);
  b[16] = epIn;
  b[17] = 1;
  v.setFloat64(16 + 16, 64, true);
  v.setFloat64(16 + 24, 8, true);
  return h.exchange(b, new Uint8Array(32));
});
await expectBad('exchange length mismatch', () =>
  run(cbw({ length: 8, dirIn: true, cdb: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }), {
    direction: 'in',
    buffer: Buffer.alloc(16),
  }),
);
await expectBad('exchange negative fd length', () =>
  run(cbw({ cdb: [0, 0, 0, 0, 0, 0] }), { direction: 'in', fd: 1, length: -5, position: 0 }),
);
await expectBad('exchange chunk not multiple of 1024', () =>
  run(cbw({ cdb: [0, 0, 0, 0, 0, 0] }), undefined, { chunkSize: 1000 }),
);
await expectBad('claim interface 300', () => h.claimInterface(300));
step('badArguments', bad);
check(
  'bad arguments on a live handle give E_BAD_INPUT',
  Object.values(bad).every((v) => v === 'E_BAD_INPUT'),
  bad,
);

// Bulk streams on a BOT device (its endpoints have none; on EHCI the controller has none either):
// the host refuses with INVALID_PARAM, a typed E_BAD_INPUT, and the handle keeps working.
const streams = await nh.allocStreams(4, [epIn, epOut]).then(
  (n) => ({ allocated: n }),
  (e) => ({ code: e.code, libusbError: e.details?.libusbError, message: e.message }),
);
const afterStreams = Buffer.alloc(36);
const r4 = await run(cbw({ length: 36, dirIn: true, cdb: [0x12, 0, 0, 0, 36, 0] }), {
  direction: 'in',
  buffer: afterStreams,
});
step('allocStreams', { streams, inquiryAfter: r4.data });
check(
  'allocStreams on endpoints without streams: E_BAD_INPUT (INVALID_PARAM), device still answers',
  streams.code === 'E_BAD_INPUT' && streams.libusbError === 'LIBUSB_ERROR_INVALID_PARAM' && cswOk(r4, tag),
);

await h.releaseInterface(itf.interfaceNumber);
await h.attachKernelDriver(itf.interfaceNumber);
step('release+attach', { ok: true });
await h.close();
const closedCodes = {
  claim: await codeOf(() => h.claimInterface(0)),
  bulk: await codeOf(() => h.bulkTransfer(epIn, Buffer.alloc(8), 1000)),
  exchange: await codeOf(() => run(cbw({ cdb: [0, 0, 0, 0, 0, 0] }))),
  reset: await codeOf(() => h.resetDevice()),
  closeAgain: await codeOf(() => h.close()),
};
step('closedHandle', closedCodes);
check(
  'a closed handle gives E_DEVICE_GONE (close again is a no-op)',
  closedCodes.claim === 'E_DEVICE_GONE' &&
    closedCodes.bulk === 'E_DEVICE_GONE' &&
    closedCodes.exchange === 'E_DEVICE_GONE' &&
    closedCodes.reset === 'E_DEVICE_GONE' &&
    closedCodes.closeAgain === 'no error',
);

// The kernel takes the disk back (usb-storage waits ~1 s before scanning): bounded wait.
if (driverWasActive) {
  const until = Date.now() + 15_000;
  while (Date.now() < until && sdDisks().length < disksBefore.length) await new Promise((res) => setTimeout(res, 200));
  step('blockDeviceBack', { before: disksBefore, after: sdDisks() });
  check('block device back after attach', sdDisks().length >= disksBefore.length);
}

// USB port reset: the handle is dead afterwards; the device is listed again and the kernel gets it back.
{
  const h2 = await addon.open(dev.busNumber, dev.deviceAddress);
  await h2.detachKernelDriver(itf.interfaceNumber);
  await h2.claimInterface(itf.interfaceNumber);
  const resetErr = await codeOf(() => h2.resetDevice());
  const afterReset = await codeOf(() => h2.claimInterface(itf.interfaceNumber));
  let again = null;
  for (let i = 0; i < 25 && !again; i++) {
    again = (await addon.list()).find((d) => d.vendorId === vid && d.productId === pid) ?? null;
    if (!again) await new Promise((res) => setTimeout(res, 200));
  }
  if (again) {
    const h3 = await addon.open(again.busNumber, again.deviceAddress);
    if (!(await h3.kernelDriverActive(itf.interfaceNumber)))
      await h3.attachKernelDriver(itf.interfaceNumber).catch(() => {});
    await h3.close();
  }
  const until = Date.now() + 15_000;
  while (Date.now() < until && sdDisks().length < disksBefore.length) await new Promise((res) => setTimeout(res, 200));
  step('portReset', {
    reset: resetErr,
    callAfterReset: afterReset,
    listedAgain: again && `${again.busNumber}:${again.deviceAddress}`,
    disks: sdDisks(),
  });
  check(
    'port reset: resolves, handle dead (E_DEVICE_GONE), device listed again, disk back',
    resetErr === 'no error' && afterReset === 'E_DEVICE_GONE' && again && sdDisks().length >= disksBefore.length,
  );
}

// SG_IO through the kernel (Linux, once the disk is back): INQUIRY and READ CAPACITY.
if (addon.sgIo && sdDisks().length) {
  const node = existsSync('/dev/sg0') ? '/dev/sg0' : `/dev/${sdDisks()[0]}`;
  const b = Buffer.alloc(36);
  const s1 = await addon.sgIo({
    path: node,
    cdb: Buffer.from([0x12, 0, 0, 0, 36, 0]),
    direction: 'in',
    buffer: b,
    timeoutMs: 5000,
  });
  const b2 = Buffer.alloc(8);
  const s2 = await addon.sgIo({
    path: node,
    cdb: Buffer.from([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    direction: 'in',
    buffer: b2,
    timeoutMs: 5000,
  });
  const s3 = await addon.sgIo({
    path: node,
    cdb: Buffer.from([0xc7, 0, 0, 0, 0, 0]),
    direction: 'none',
    timeoutMs: 5000,
  });
  step('sgIo', {
    node,
    inquiry: { ...s1, vendor: b.toString('latin1', 8, 16).trim() },
    readCapacity: { ...s2, lastLba: b2.readUInt32BE(0) },
    unsupported: s3,
  });
  check(
    'SG_IO INQUIRY + READ CAPACITY through the kernel match BOT',
    s1.status === 0 && b.equals(inq) && b2.readUInt32BE(0) === lastLba,
  );
  check(
    'SG_IO unsupported opcode: CHECK CONDITION with sense 5/20',
    s3.status === 2 && (s3.sense[2] & 15) === 5 && s3.sense[12] === 0x20,
  );
}
finish();
