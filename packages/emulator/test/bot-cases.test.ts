/**
 * The 13 host/device expectation cases of USB MSC BOT 1.0 §6.7, as the
 * device side must behave, observed at the USB level with raw bytes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferStatus, type UsbDeviceHandle } from '@usbscsi/core';
import type { EmulatorBackend, SimulatedDevice } from '../src/index.js';
import { IN, OUT, command, openSim, rawCbw, resetRecovery } from './raw-bot.js';

const TUR = [0x00, 0, 0, 0, 0, 0];
const INQUIRY = [0x12, 0, 0, 0, 36, 0];
const read10 = (lba: number, blocks: number) => [0x28, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const write10 = (lba: number, blocks: number) => [0x2a, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

let backend: EmulatorBackend;
let device: SimulatedDevice;
let h: UsbDeviceHandle;

beforeEach(async () => {
  ({ backend, device, handle: h } = await openSim());
});
afterEach(async () => {
  await backend.dispose();
});

async function blockIsZero(lba: number): Promise<boolean> {
  return (await device.lun(0).store.read(BigInt(lba), 1)).every((b) => b === 0);
}

describe('BOT §6.7 thirteen cases (device side)', () => {
  it('case 1 Hn = Dn: status passed, residue 0', async () => {
    const r = await command(h, TUR);
    expect(r.csw).toMatchObject({ signature: 0x53425355, tag: r.tag, residue: 0, status: 0 });
  });

  it('case 2 Hn < Di: phase error, no data sent', async () => {
    const r = await command(h, INQUIRY, { hostLength: 0 });
    expect(r.csw.status).toBe(2);
    expect(r.csw.residue).toBe(0);
  });

  it('case 3 Hn < Do: phase error, the command is not run (medium untouched)', async () => {
    const r = await command(h, write10(5, 1), { hostLength: 0 });
    expect(r.csw.status).toBe(2);
    expect(device.stats.history.at(-1)?.scsiStatus).toBeUndefined();
  });

  it('case 4 Hi > Dn: bulk-in stalls with no data, CSW residue = dCBWDataTransferLength', async () => {
    const r = await command(h, TUR, { in: 512 });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    expect(r.cleared).toEqual([IN]);
    expect(r.csw).toMatchObject({ residue: 512, status: 0 });
  });

  it('case 5 Hi > Di: Di bytes end with a short packet, residue Hi - Di', async () => {
    const r = await command(h, INQUIRY, { in: 100 });
    expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 36 });
    expect(r.cleared).toEqual([]);
    expect(r.csw).toMatchObject({ residue: 64, status: 0 });
  });

  it('case 5 Hi > Di with Di a multiple of wMaxPacketSize: data then a stall (no short packet possible)', async () => {
    await device.lun(0).store.write(0n, pattern(512));
    const r = await command(h, read10(0, 1), { in: 1024, hostLength: 1024 });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 512 });
    expect(Array.from(r.bytes)).toEqual(Array.from(pattern(512)));
    expect(r.csw).toMatchObject({ residue: 512, status: 0 });
  });

  it('case 5 with stallOnShortDataIn: the device stalls even where a short packet would do', async () => {
    await backend.dispose();
    ({ backend, device, handle: h } = await openSim({ stallOnShortDataIn: true }));
    const r = await command(h, INQUIRY, { in: 100 });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 36 });
    expect(r.csw).toMatchObject({ residue: 64, status: 0 });
  });

  it('case 6 Hi = Di: all data, residue 0', async () => {
    await device.lun(0).store.write(3n, pattern(512, 3));
    const r = await command(h, read10(3, 1), { in: 512 });
    expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 512 });
    expect(Array.from(r.bytes)).toEqual(Array.from(pattern(512, 3)));
    expect(r.csw).toMatchObject({ residue: 0, status: 0 });
  });

  it('case 6 in several host transfers (host reads the data phase in chunks)', async () => {
    await device.lun(0).store.write(0n, pattern(4096));
    const tag = 77;
    await h.bulkOut(OUT, rawCbw({ tag, length: 4096, dirIn: true, cdb: read10(0, 8) }), 1000);
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const buf = new Uint8Array(1024);
      expect(await h.bulkIn(IN, buf, 1000)).toEqual({ status: TransferStatus.OK, actualLength: 1024 });
      got.push(...buf);
    }
    expect(got).toEqual(Array.from(pattern(4096)));
    const csw = new Uint8Array(13);
    expect((await h.bulkIn(IN, csw, 1000)).actualLength).toBe(13);
    expect(new DataView(csw.buffer).getUint32(4, true)).toBe(tag);
  });

  it(
    'a host IN transfer that is not a multiple of wMaxPacketSize and ends inside the ' +
      'data gets a whole packet: overflow',
    async () => {
      await h.bulkOut(OUT, rawCbw({ length: 1024, dirIn: true, cdb: read10(0, 2) }), 1000);
      expect(await h.bulkIn(IN, new Uint8Array(100), 1000)).toEqual({
        status: TransferStatus.OVERFLOW,
        actualLength: 100,
      });
    },
  );

  it('case 7 Hi < Di: the device sends Hi bytes and reports a phase error', async () => {
    const r = await command(h, read10(0, 2), { in: 512 });
    expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 512 });
    expect(r.csw.status).toBe(2);
  });

  it('case 8 Hi <> Do: bulk-in stalls, phase error, nothing written', async () => {
    const r = await command(h, write10(9, 1), { in: 512 });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    expect(r.csw).toMatchObject({ status: 2, residue: 512 });
    expect(await blockIsZero(9)).toBe(true);
  });

  it('case 9 Ho > Dn: bulk-out stalls, status passed, residue Ho', async () => {
    const r = await command(h, TUR, { out: new Uint8Array(512) });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    expect(r.cleared).toEqual([OUT]);
    expect(r.csw).toMatchObject({ status: 0, residue: 512 });
  });

  it('case 10 Ho <> Di: bulk-out stalls, phase error', async () => {
    const r = await command(h, INQUIRY, { out: new Uint8Array(36) });
    expect(r.data?.status).toBe(TransferStatus.STALL);
    expect(r.csw).toMatchObject({ status: 2, residue: 36 });
  });

  it('case 11 Ho > Do: the device takes Do bytes, stalls the rest, residue Ho - Do, data written', async () => {
    const data = pattern(1024, 11);
    const r = await command(h, write10(4, 1), { out: data });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 512 });
    expect(r.csw).toMatchObject({ status: 0, residue: 512 });
    expect(Array.from(await device.lun(0).store.read(4n, 1))).toEqual(Array.from(data.subarray(0, 512)));
  });

  it('case 11 when the host sends Do bytes in their own transfer: the next data transfer stalls', async () => {
    await h.bulkOut(OUT, rawCbw({ length: 1024, dirIn: false, cdb: write10(6, 1) }), 1000);
    expect(await h.bulkOut(OUT, pattern(512), 1000)).toEqual({ status: TransferStatus.OK, actualLength: 512 });
    expect(await h.bulkOut(OUT, pattern(512), 1000)).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    await h.clearHalt(OUT);
    const csw = new Uint8Array(13);
    await h.bulkIn(IN, csw, 1000);
    expect(new DataView(csw.buffer).getUint32(8, true)).toBe(512);
  });

  it('case 12 Ho = Do: written and read back', async () => {
    const data = pattern(1024, 12);
    const w = await command(h, write10(20, 2), { out: data });
    expect(w.data).toEqual({ status: TransferStatus.OK, actualLength: 1024 });
    expect(w.csw).toMatchObject({ status: 0, residue: 0 });
    const r = await command(h, read10(20, 2), { in: 1024 });
    expect(Array.from(r.bytes)).toEqual(Array.from(data));
  });

  it('case 13 Ho < Do: phase error, nothing partial written', async () => {
    const r = await command(h, write10(30, 2), { out: pattern(512) });
    expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 512 });
    expect(r.csw.status).toBe(2);
    expect(await blockIsZero(30)).toBe(true);
  });
});

describe('CBW validity, halts and class requests', () => {
  it(
    'an invalid CBW (bad signature) stalls both pipes; clear halt alone does not help; ' + 'reset recovery does',
    async () => {
      const bad = rawCbw({ length: 36, dirIn: true, cdb: INQUIRY });
      bad[3] = 0x44; // "USBD"
      expect((await h.bulkOut(OUT, bad, 1000)).status).toBe(TransferStatus.OK);
      expect(device.bot.state).toBe('needs-reset');
      expect((await h.bulkIn(IN, new Uint8Array(13), 1000)).status).toBe(TransferStatus.STALL);
      expect((await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 1000)).status).toBe(
        TransferStatus.STALL,
      );
      await h.clearHalt(IN);
      await h.clearHalt(OUT);
      // §6.6.1: until reset recovery
      expect((await h.bulkIn(IN, new Uint8Array(13), 1000)).status).toBe(TransferStatus.STALL);
      await resetRecovery(h);
      expect((await command(h, TUR)).csw.status).toBe(0);
      expect(device.stats.invalidCbws).toBe(1);
      expect(device.stats.resets).toBe(1);
    },
  );

  it('an invalid CBW (30 bytes) is invalid too', async () => {
    await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }).subarray(0, 30), 1000);
    expect((await h.bulkIn(IN, new Uint8Array(13), 1000)).status).toBe(TransferStatus.STALL);
    expect(device.stats.invalidCbws).toBe(1);
  });

  it('a valid but not meaningful CBW (bCBWCBLength 0) stalls both pipes; clear halt recovers', async () => {
    const cbw = rawCbw({ length: 0, dirIn: false, cdb: TUR });
    cbw[14] = 0;
    await h.bulkOut(OUT, cbw, 1000);
    expect((await h.bulkIn(IN, new Uint8Array(13), 1000)).status).toBe(TransferStatus.STALL);
    await h.clearHalt(IN);
    await h.clearHalt(OUT);
    expect((await command(h, TUR)).csw.status).toBe(0);
    expect(device.stats.notMeaningfulCbws).toBe(1);
  });

  it('a LUN above Get Max LUN fails with CHECK CONDITION (LOGICAL UNIT NOT SUPPORTED)', async () => {
    const r = await command(h, TUR, { lun: 3 });
    expect(r.csw.status).toBe(1);
  });

  it('Get Max LUN returns the highest LUN; a malformed request stalls', async () => {
    await backend.dispose();
    ({ backend, device, handle: h } = await openSim({ luns: [{}, {}, {}] }));
    const r = await h.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1, 1000);
    expect(r).toMatchObject({ status: TransferStatus.OK, actualLength: 1 });
    expect(r.data?.[0]).toBe(2);
    expect((await h.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 1, index: 0 }, 1, 1000)).status).toBe(
      TransferStatus.STALL,
    );
    expect(device.stats.getMaxLun).toBe(1);
  });

  it('Bulk-Only Mass Storage Reset keeps endpoint halts (§3.1): still stalled until CLEAR_FEATURE', async () => {
    await h.bulkOut(OUT, rawCbw({ length: 512, dirIn: true, cdb: TUR }), 1000);
    expect((await h.bulkIn(IN, new Uint8Array(512), 1000)).status).toBe(TransferStatus.STALL);
    const reset = await h.controlTransfer(
      { requestType: 0x21, request: 0xff, value: 0, index: 0 },
      new Uint8Array(0),
      1000,
    );
    expect(reset.status).toBe(TransferStatus.OK);
    expect((await h.bulkIn(IN, new Uint8Array(13), 1000)).status).toBe(TransferStatus.STALL);
    const status = await h.controlTransfer({ requestType: 0x82, request: 0x00, value: 0, index: IN }, 2, 1000);
    expect(Array.from(status.data!)).toEqual([1, 0]); // GET_STATUS: halted
    await h.clearHalt(IN);
    expect(device.stats.clearHaltsByEndpoint[IN]).toBe(1);
    // the reset dropped the command: the device waits for a new CBW
    expect((await command(h, TUR)).csw.status).toBe(0);
  });

  it('a reset with wrong wIndex or data stalls', async () => {
    expect(
      (await h.controlTransfer({ requestType: 0x21, request: 0xff, value: 0, index: 1 }, new Uint8Array(0), 1000))
        .status,
    ).toBe(TransferStatus.STALL);
    expect(
      (await h.controlTransfer({ requestType: 0x21, request: 0xff, value: 0, index: 0 }, new Uint8Array(1), 1000))
        .status,
    ).toBe(TransferStatus.STALL);
  });

  it('the CSW is sent once; an IN read after it is NAKed (times out)', async () => {
    await command(h, TUR);
    expect(await h.bulkIn(IN, new Uint8Array(13), 100)).toEqual({ status: TransferStatus.TIMEOUT, actualLength: 0 });
  });

  it('a CBW while a command waits for its CSW is NAKed, not taken as a new command', async () => {
    await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 1000);
    expect(await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 100)).toEqual({
      status: TransferStatus.TIMEOUT,
      actualLength: 0,
    });
    expect(device.stats.commands).toBe(1);
  });

  it('records the last CBW and a history of commands', async () => {
    const r = await command(h, INQUIRY, { in: 36 });
    expect(device.stats.lastCbw?.tag).toBe(r.tag);
    expect(device.stats.history.at(-1)).toMatchObject({
      opcode: 0x12,
      hostDirection: 'in',
      hostLength: 36,
      transferred: 36,
      cswStatus: 0,
      residue: 0,
      scsiStatus: 0,
    });
  });

  it('GET_DESCRIPTOR returns device, configuration and string descriptors', async () => {
    const dev = await h.controlTransfer({ requestType: 0x80, request: 0x06, value: 0x0100, index: 0 }, 18, 1000);
    expect(dev.data?.[0]).toBe(18);
    expect(new DataView(dev.data!.buffer).getUint16(8, true)).toBe(0x1d6b);
    const cfg = await h.controlTransfer({ requestType: 0x80, request: 0x06, value: 0x0200, index: 0 }, 255, 1000);
    expect(Array.from(cfg.data!.subarray(9, 18))).toEqual([9, 4, 0, 0, 2, 0x08, 0x06, 0x50, 0]);
    expect(Array.from(cfg.data!.subarray(18, 25))).toEqual([7, 5, 0x81, 2, 0x00, 0x02, 0]);
    const str = await h.controlTransfer({ requestType: 0x80, request: 0x06, value: 0x0303, index: 0x0409 }, 255, 1000);
    expect(Buffer.from(str.data!.subarray(2)).toString('utf16le')).toBe('SIM0001');
  });
});

describe('BotDevice without a backend (the interface a FunctionFS adapter drives)', () => {
  it('offerBulkOut / nextBulkIn move raw bytes; nextBulkIn waits for the command and can be aborted', async () => {
    const bot = device.bot;
    expect(bot.offerBulkOut(rawCbw({ tag: 5, length: 36, dirIn: true, cdb: INQUIRY }))).toEqual({
      status: 'ok',
      accepted: 31,
    });
    const data = await bot.nextBulkIn(36);
    expect(data.status).toBe('ok');
    if (data.status === 'ok') expect(data.data.length).toBe(36);
    const csw = await bot.nextBulkIn(13);
    expect(csw.status).toBe('ok');
    expect(bot.state).toBe('cbw');
    const abort = new AbortController();
    const waiting = bot.nextBulkIn(13, abort.signal);
    abort.abort(new Error('host went away'));
    await expect(waiting).rejects.toThrow('host went away');
    expect(bot.pollBulkIn(13)).toEqual({ status: 'nak' });
  });

  it('control() handles the class requests', async () => {
    expect(await device.bot.control({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1)).toEqual({
      status: 'ok',
      data: Uint8Array.of(0),
    });
    expect(
      await device.bot.control({ requestType: 0x21, request: 0xff, value: 0, index: 0 }, new Uint8Array(0)),
    ).toEqual({ status: 'ok' });
    expect(await device.bot.control({ requestType: 0x40, request: 0x01, value: 0, index: 0 }, 0)).toEqual({
      status: 'stall',
    });
  });
});
