/** Each injectable fault, its raw effect at the USB level, and that the device works again afterwards. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferStatus, type UsbDeviceHandle } from '@usbscsi/core';
import type { EmulatorBackend, SimulatedDevice } from '../src/index.js';
import { IN, OUT, command, openSim, parseRawCsw, rawCbw, requestSense, resetRecovery } from './raw-bot.js';

const TUR = [0x00, 0, 0, 0, 0, 0];
const INQUIRY = [0x12, 0, 0, 0, 36, 0];
const read10 = (lba: number, blocks: number) => [0x28, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const write10 = (lba: number, blocks: number) => [0x2a, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const ones = (n: number) => new Uint8Array(n).fill(0x11);

let backend: EmulatorBackend;
let device: SimulatedDevice;
let h: UsbDeviceHandle;

beforeEach(async () => {
  ({ backend, device, handle: h } = await openSim());
});
afterEach(async () => {
  await backend.dispose();
});

async function works(): Promise<void> {
  const r = await command(h, INQUIRY, { in: 36 });
  expect(r.csw).toMatchObject({ signature: 0x53425355, tag: r.tag, status: 0, residue: 0 });
}

async function senseTriple(lun = 0): Promise<number[]> {
  const s = await requestSense(h, lun);
  return [s[2]! & 0xf, s[12]!, s[13]!];
}

describe('data phase stalls', () => {
  it(
    'stall-data-in: bulk-in stalls at once; after clear halt the CSW says failed with residue Hi, ' +
      'sense DATA PHASE ERROR',
    async () => {
      device.faults.inject({ kind: 'stall-data-in', opcode: 0x28 });
      const r = await command(h, read10(0, 1), { in: 512 });
      expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
      expect(r.cleared).toEqual([IN]);
      expect(r.csw).toMatchObject({ tag: r.tag, status: 1, residue: 512 });
      expect(await senseTriple()).toEqual([0xb, 0x4b, 0x00]);
      expect((await command(h, read10(0, 1), { in: 512 })).data).toEqual({
        status: TransferStatus.OK,
        actualLength: 512,
      });
    },
  );

  it(
    'stall-data-in past the end of the host transfer: the transfer completes, the stall hits the ' +
      'next IN (the CSW read)',
    async () => {
      device.faults.inject({ kind: 'stall-data-in', bytes: 100 });
      const r = await command(h, INQUIRY, { in: 36 });
      expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 36 });
      expect(r.cswFirst).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
      expect(r.csw).toMatchObject({ status: 1, residue: 0 });
      const r2 = await command(h, read10(0, 1), { in: 512 });
      // once: the first matching command (INQUIRY) took it
      expect(r2.data).toEqual({ status: TransferStatus.OK, actualLength: 512 });
      expect(device.stats.history.map((c) => c.faults)).toEqual([['stall-data-in'], []]);
    },
  );

  it('stall-data-in with bytes inside the data: partial data then stall, residue counts the rest', async () => {
    device.faults.inject({ kind: 'stall-data-in', bytes: 200, opcode: 0x28 });
    const r = await command(h, read10(0, 1), { in: 512 });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 200 });
    expect(r.csw).toMatchObject({ status: 1, residue: 312 });
  });

  it('stall-data-out: bulk-out stalls, nothing is written, CSW failed with residue Ho', async () => {
    device.faults.inject({ kind: 'stall-data-out', opcode: 0x2a });
    const r = await command(h, write10(1, 1), { out: ones(512) });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    expect(r.cleared).toEqual([OUT]);
    expect(r.csw).toMatchObject({ status: 1, residue: 512 });
    expect((await device.lun(0).store.read(1n, 1)).every((b) => b === 0)).toBe(true);
    expect(await senseTriple()).toEqual([0xb, 0x4b, 0x00]);
    expect((await command(h, write10(1, 1), { out: ones(512) })).csw.status).toBe(0);
    expect((await device.lun(0).store.read(1n, 1))[0]).toBe(0x11);
  });
});

describe('CSW faults', () => {
  it('stall-csw: the first CSW read stalls; after clear halt the CSW comes with the right tag', async () => {
    device.faults.inject({ kind: 'stall-csw' });
    const r = await command(h, TUR);
    expect(r.cswFirst).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
    expect(r.csw).toMatchObject({ signature: 0x53425355, tag: r.tag, status: 0 });
    await works();
  });

  it('bad-csw-signature: 13 bytes with signature USBX; reset recovery then works', async () => {
    device.faults.inject({ kind: 'bad-csw-signature' });
    const r = await command(h, TUR);
    expect(r.cswResult).toEqual({ status: TransferStatus.OK, actualLength: 13 });
    expect(Buffer.from(r.cswBytes.subarray(0, 4)).toString('latin1')).toBe('USBX');
    await resetRecovery(h);
    await works();
  });

  it('wrong-csw-tag: the CSW tag differs from the CBW tag', async () => {
    device.faults.inject({ kind: 'wrong-csw-tag' });
    const r = await command(h, TUR);
    expect(r.csw.signature).toBe(0x53425355);
    expect(r.csw.tag).not.toBe(r.tag);
    await resetRecovery(h);
    await works();
  });

  it('phase-error: CSW status 2', async () => {
    device.faults.inject({ kind: 'phase-error', opcode: 0x12 });
    const r = await command(h, INQUIRY, { in: 36 });
    expect(r.data?.status).toBe(TransferStatus.OK);
    expect(r.csw.status).toBe(2);
    await resetRecovery(h);
    await works();
  });
});

describe('data length faults', () => {
  it('short-data: the device sends fewer bytes (short packet) and reports the residue', async () => {
    device.faults.inject({ kind: 'short-data', bytes: 100, opcode: 0x28 });
    const r = await command(h, read10(0, 2), { in: 1024 });
    expect(r.data).toEqual({ status: TransferStatus.OK, actualLength: 100 });
    expect(r.csw).toMatchObject({ status: 0, residue: 924 });
    await works();
  });

  it('too-much-data: babble — the host sees overflow; the CSW reports a phase error', async () => {
    device.faults.inject({ kind: 'too-much-data', opcode: 0x12 });
    const r = await command(h, INQUIRY, { in: 36 });
    expect(r.data).toEqual({ status: TransferStatus.OVERFLOW, actualLength: 36 });
    expect(r.csw.status).toBe(2);
    await resetRecovery(h);
    await works();
  });
});

describe('no response, disconnect', () => {
  it(
    'no-response (CSW phase): the CSW read stays pending until the host timeout; reset recovery ' + 'brings it back',
    async () => {
      device.faults.inject({ kind: 'no-response' });
      await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 1000);
      const started = Date.now();
      expect(await h.bulkIn(IN, new Uint8Array(13), 150)).toEqual({ status: TransferStatus.TIMEOUT, actualLength: 0 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      await resetRecovery(h);
      await works();
    },
  );

  it('no-response (data phase): the data read times out', async () => {
    device.faults.inject({ kind: 'no-response', phase: 'data', opcode: 0x28 });
    await h.bulkOut(OUT, rawCbw({ length: 512, dirIn: true, cdb: read10(0, 1) }), 1000);
    expect(await h.bulkIn(IN, new Uint8Array(512), 100)).toEqual({ status: TransferStatus.TIMEOUT, actualLength: 0 });
    await resetRecovery(h);
    await works();
  });

  it('no-response (CBW phase): the CBW itself is never accepted', async () => {
    device.faults.inject({ kind: 'no-response', phase: 'cbw' });
    expect(await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 100)).toEqual({
      status: TransferStatus.TIMEOUT,
      actualLength: 0,
    });
    expect(device.stats.commands).toBe(0);
    await resetRecovery(h);
    await works();
  });

  it(
    'disconnect: a pending transfer and every later call fail with E_DEVICE_GONE; replug makes it ' +
      'listable and usable again',
    async () => {
      const events: string[] = [];
      backend.watch((e) => events.push(`${e.type}:${e.device.id}`));
      const oldId = device.id;
      device.faults.inject({ kind: 'disconnect', opcode: 0x28 });
      expect((await h.bulkOut(OUT, rawCbw({ length: 512, dirIn: true, cdb: read10(0, 1) }), 1000)).status).toBe(
        TransferStatus.OK,
      );
      await expect(h.bulkIn(IN, new Uint8Array(512), 5000)).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
      await expect(h.bulkIn(IN, new Uint8Array(13), 1000)).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
      await expect(
        h.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1, 1000),
      ).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
      expect(await backend.list()).toEqual([]);
      device.replug();
      const [info] = await backend.list();
      expect(info!.id).not.toBe(oldId);
      expect(events).toEqual([`left:${oldId}`, `arrived:${info!.id}`]);
      await expect(backend.open({ ...info!, id: oldId })).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
      h = await backend.open(info!);
      await h.claimInterface(0);
      await works();
    },
  );
});

describe('control and SCSI-level faults', () => {
  it('get-max-lun-stall: Get Max LUN stalls once, then answers', async () => {
    device.faults.inject({ kind: 'get-max-lun-stall' });
    const req = { requestType: 0xa1, request: 0xfe, value: 0, index: 0 };
    expect((await h.controlTransfer(req, 1, 1000)).status).toBe(TransferStatus.STALL);
    expect((await h.controlTransfer(req, 1, 1000)).status).toBe(TransferStatus.OK);
  });

  it(
    'unit-attention-after-reset: the next command after a reset reports UNIT ATTENTION 29/00; ' +
      'INQUIRY is unaffected',
    async () => {
      device.faults.inject({ kind: 'unit-attention-after-reset' });
      await resetRecovery(h);
      await works(); // INQUIRY reports normally while a unit attention is pending
      expect((await command(h, TUR)).csw.status).toBe(1);
      expect(await senseTriple()).toEqual([0x6, 0x29, 0x00]);
      expect((await command(h, TUR)).csw.status).toBe(0);
    },
  );

  it('unit-attention-after-reset also follows a port reset', async () => {
    device.faults.inject({ kind: 'unit-attention-after-reset' });
    await h.resetDevice();
    await expect(h.bulkIn(IN, new Uint8Array(13), 100)).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
    h = await backend.open((await backend.list())[0]!);
    await h.claimInterface(0);
    expect((await command(h, TUR)).csw.status).toBe(1);
    expect(await senseTriple()).toEqual([0x6, 0x29, 0x00]);
    expect(device.stats.portResets).toBe(1);
  });

  it(
    'not-ready becoming-ready (times: 2): two NOT READY 04/01, then ready; REQUEST SENSE and ' + 'INQUIRY unaffected',
    async () => {
      device.faults.inject({ kind: 'not-ready', times: 2 });
      await works();
      expect((await command(h, TUR)).csw.status).toBe(1);
      expect(await senseTriple()).toEqual([0x2, 0x04, 0x01]);
      expect((await command(h, read10(0, 1), { in: 512 })).csw.status).toBe(1);
      expect(await senseTriple()).toEqual([0x2, 0x04, 0x01]);
      expect((await command(h, TUR)).csw.status).toBe(0);
    },
  );

  it('not-ready medium-not-present: 3A/00', async () => {
    device.faults.inject({ kind: 'not-ready', reason: 'medium-not-present' });
    expect((await command(h, TUR)).csw.status).toBe(1);
    expect(await senseTriple()).toEqual([0x2, 0x3a, 0x00]);
  });
});

describe('fault filters and lifecycle', () => {
  it('persistent (once: false) until removed; fired counts', async () => {
    const f = device.faults.inject({ kind: 'phase-error', once: false, opcode: 0x00 });
    expect((await command(h, TUR)).csw.status).toBe(2);
    expect((await command(h, TUR)).csw.status).toBe(2);
    expect((await command(h, INQUIRY, { in: 36 })).csw.status).toBe(0);
    expect(f.fired).toBe(2);
    f.remove();
    expect((await command(h, TUR)).csw.status).toBe(0);
  });

  it('atCommand fires on that command only; skip lets matches pass first', async () => {
    device.faults.inject({ kind: 'phase-error', atCommand: 2 });
    device.faults.inject({ kind: 'wrong-csw-tag', opcode: 0x00, skip: 2 });
    const statuses: number[] = [];
    const tagsOk: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await command(h, TUR);
      statuses.push(r.csw.status);
      tagsOk.push(r.csw.tag === r.tag);
    }
    expect(statuses).toEqual([0, 2, 0, 0]);
    expect(tagsOk).toEqual([true, true, false, true]);
  });

  it('refuses unknown kinds and filters that cannot apply', () => {
    expect(() => device.faults.inject({ kind: 'explode' as never })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => device.faults.inject({ kind: 'get-max-lun-stall', opcode: 0x12 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => device.faults.inject({ kind: 'stall-csw', times: 0 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
  });

  it('list() shows armed faults; clear() disarms all', async () => {
    device.faults.inject({ kind: 'stall-csw' });
    device.faults.inject({ kind: 'phase-error', once: false });
    expect(device.faults.list().map((f) => f.kind)).toEqual(['stall-csw', 'phase-error']);
    device.faults.clear();
    expect(parseRawCsw((await command(h, TUR)).cswBytes).status).toBe(0);
  });
});

describe('faults the contract suite needs in each phase', () => {
  it('stall-cbw: bulk-out stalls on the CBW and the command is not taken; reset recovery brings it back', async () => {
    device.faults.inject({ kind: 'stall-cbw', opcode: 0x12 });
    expect(await h.bulkOut(OUT, rawCbw({ length: 36, dirIn: true, cdb: INQUIRY }), 1000)).toEqual({
      status: TransferStatus.STALL,
      actualLength: 0,
    });
    expect(device.stats.commands).toBe(0);
    await resetRecovery(h);
    await works();
  });

  it('stall-csw with stalls: 2 stalls the host retry too; the third read gets the CSW', async () => {
    device.faults.inject({ kind: 'stall-csw', stalls: 2 });
    await h.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: TUR }), 1000);
    for (let i = 0; i < 2; i++) {
      expect(await h.bulkIn(IN, new Uint8Array(13), 1000)).toEqual({ status: TransferStatus.STALL, actualLength: 0 });
      await h.clearHalt(IN);
    }
    const csw = new Uint8Array(13);
    expect(await h.bulkIn(IN, csw, 1000)).toEqual({ status: TransferStatus.OK, actualLength: 13 });
    expect(parseRawCsw(csw).status).toBe(0);
  });

  it('delay: the data phase is NAKed for ms after the CBW, then carries on by itself', async () => {
    device.faults.inject({ kind: 'delay', phase: 'data', ms: 300, opcode: 0x12 });
    await h.bulkOut(OUT, rawCbw({ length: 36, dirIn: true, cdb: INQUIRY }), 1000);
    expect(await h.bulkIn(IN, new Uint8Array(36), 100)).toEqual({ status: TransferStatus.TIMEOUT, actualLength: 0 });
    const started = Date.now();
    expect(await h.bulkIn(IN, new Uint8Array(36), 2000)).toEqual({ status: TransferStatus.OK, actualLength: 36 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(parseRawCsw(await readCsw()).status).toBe(0);
  });

  it(
    'csw-instead-of-data: the data-in transfer gets the 13-byte CSW (residue Hi), then the device ' + 'waits for a CBW',
    async () => {
      device.faults.inject({ kind: 'csw-instead-of-data', opcode: 0x28 });
      await h.bulkOut(OUT, rawCbw({ tag: 0x99, length: 4096, dirIn: true, cdb: read10(0, 8) }), 1000);
      const data = new Uint8Array(4096);
      expect(await h.bulkIn(IN, data, 1000)).toEqual({ status: TransferStatus.OK, actualLength: 13 });
      expect(parseRawCsw(data.subarray(0, 13))).toMatchObject({
        signature: 0x53425355,
        tag: 0x99,
        residue: 4096,
        status: 0,
      });
      expect(device.bot.state).toBe('cbw');
      await works();
    },
  );

  it('reset-stall: the Bulk-Only Mass Storage Reset stalls once and is not performed; the next one is', async () => {
    device.faults.inject({ kind: 'reset-stall' });
    const reset = { requestType: 0x21, request: 0xff, value: 0, index: 0 };
    expect((await h.controlTransfer(reset, new Uint8Array(0), 1000)).status).toBe(TransferStatus.STALL);
    expect(device.stats.resets).toBe(0);
    expect((await h.controlTransfer(reset, new Uint8Array(0), 1000)).status).toBe(TransferStatus.OK);
    expect(device.stats.resets).toBe(1);
  });

  it(
    'no-response in the CBW phase on a gadget: bytes the UDC took while the device NAKed are ' +
      'dropped at the class reset, not run',
    async () => {
      device.faults.inject({ kind: 'no-response', phase: 'cbw' });
      const parked = device.bot.onBulkOut(rawCbw({ length: 4096, dirIn: true, cdb: read10(0, 8) }));
      await new Promise((r) => setTimeout(r, 20));
      await resetRecovery(h);
      expect(await parked).toEqual({ status: 'ok', accepted: 0 });
      expect(device.stats.commands).toBe(0);
      expect(device.bot.state).toBe('cbw');
      await works();
    },
  );

  it('refuses a negative or fractional ms / stalls / bytes', () => {
    expect(() => device.faults.inject({ kind: 'delay', ms: -1 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => device.faults.inject({ kind: 'stall-csw', stalls: 1.5 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
  });
});

async function readCsw(): Promise<Uint8Array> {
  const csw = new Uint8Array(13);
  expect(await h.bulkIn(IN, csw, 1000)).toEqual({ status: TransferStatus.OK, actualLength: 13 });
  return csw;
}
