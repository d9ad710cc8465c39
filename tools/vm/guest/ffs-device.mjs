// The emulator as a real USB device (run as a child of the suite, with an IPC channel):
// ScsiTarget + BotDevice served over FunctionFS at argv[2]. Messages from the parent:
// { inject: FaultSpec } → { injected: id }, { stats: true } → { stats }, { events: true } → { events },
// { bridge: true } → { bridge: { hazards, commands } } (NVMe bridge models only),
// { mediumError: { bytes } } → { armed: true }: the next READ(10) sends its first `bytes` bytes and
// ends with CHECK CONDITION, MEDIUM ERROR / UNRECOVERED READ ERROR (plain disk only).
// Unasked: { event: 'reenumerate', ms, revision } when new firmware is activated (plain disk only).
const dir = process.argv[2];
const repo = process.cwd();
const { ScsiTarget } = await import(`${repo}/packages/emulator/dist/scsi/target.js`);
const { BotDevice } = await import(`${repo}/packages/emulator/dist/bot/bot-device.js`);
const { FfsBotAdapter } = await import(`${repo}/packages/emulator/dist/ffs/index.js`);

// argv[3]: a USB-NVMe bridge model (jms583, asm2362, rtl9210, ...) instead of the plain disk.
// Its hazards drop the device off the bus: the parent unbinds and rebinds the UDC on { disconnect }.
const preset = process.argv[3];
let target;
let bridge = null;
if (preset) {
  const { bridgeTargetFromPreset } = await import(`${repo}/packages/emulator/dist/nvme/index.js`);
  ({ target, bridge } = bridgeTargetFromPreset(preset, {
    disconnect: (reason) => process.send({ disconnect: reason }),
  }));
} else {
  target = new ScsiTarget({
    vendor: 'USBSCSI',
    product: 'FFS EMULATOR',
    serial: 'FFS0001',
    luns: [{ blockSize: 512, blockCount: 32768 }],
    // New firmware re-enumerates: the parent unbinds and binds the UDC (a real disconnect and a
    // fresh enumeration with the new bcdDevice) once the activating command's CSW is out.
    firmware: { activation: 'reenumerate', activationMs: 500 },
  });
  target.onReenumerate = (ms) => process.send({ event: 'reenumerate', ms, revision: target.identity.revision });
  // A vendor command end to end: 0xC1 returns a signature and echoes the CDB (data-in, length from CDB byte 4).
  target.onCommand(
    0xc1,
    (ctx) => {
      const out = new Uint8Array(ctx.cdb[4] ?? 0);
      const sig = Buffer.from('USBSCSI-VENDOR-C1');
      out.set(sig.subarray(0, out.length));
      if (out.length > 32) out.set(ctx.cdb.subarray(0, Math.min(16, out.length - 32)), 32);
      return out;
    },
    { plan: (cdb) => ({ direction: 'in', length: cdb[4] ?? 0 }) },
  );
}

// A read that hits a bad block part way: the data before it, then CHECK CONDITION (a short data
// phase and a failed CSW with the residue; the data need not end on a block or packet boundary).
function armMediumError(bytes) {
  if (!Number.isInteger(bytes) || bytes < 1 || preset)
    throw new Error('mediumError needs bytes >= 1 and the plain disk');
  const remove = target.onCommand(0x28, async ({ cdb, unit }) => {
    remove();
    const lba = BigInt(new DataView(cdb.buffer, cdb.byteOffset).getUint32(2));
    const blocks = new DataView(cdb.buffer, cdb.byteOffset).getUint16(7);
    const data = (await unit.store.read(lba, blocks)).subarray(0, bytes);
    const bad = lba + BigInt(Math.floor(bytes / unit.blockSize));
    return { data, sense: { key: 0x03, asc: 0x11, ascq: 0x00, information: bad } };
  });
  return true;
}

import { readFileSync } from 'node:fs';
let verbose = false;
try {
  verbose = JSON.parse(readFileSync('/out/config.json', 'utf8')).ffsLog === true;
} catch {
  /* default quiet */
}
const device = new BotDevice({ target, maxPacketSize: 512 });
const adapter = new FfsBotAdapter({ dir, device, log: verbose ? (l) => console.error(`[ffs] ${l}`) : undefined });

process.on('message', (msg) => {
  try {
    if (msg.inject) process.send({ injected: device.faults.inject(msg.inject).id });
    else if (msg.stats)
      process.send({
        stats: {
          ...device.stats,
          history: device.stats.history.slice(-20).map((r) => ({ ...r, cdb: [...r.cdb] })),
          lastCbw: null,
          lastCsw: null,
        },
      });
    else if (msg.events) process.send({ events: adapter.events });
    else if (msg.clearFaults) {
      device.faults.clear?.();
      process.send({ cleared: true });
    } else if (msg.mediumError) process.send({ armed: armMediumError(msg.mediumError.bytes) });
    else if (msg.bridge)
      process.send({
        bridge: bridge ? { hazards: bridge.hazards, commands: bridge.controller.commands.map((c) => c.opcode) } : null,
      });
  } catch (err) {
    process.send({ error: String(err?.message ?? err) });
  }
});
process.on('disconnect', () => {
  adapter.stop();
  process.exit(0);
});
process.send({ ready: true });
