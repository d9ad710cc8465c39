/**
 * The UsbBackend contract suite (like serialport's `testBinding`): one set of
 * vitest cases that every backend must pass — the emulator in-process, the
 * native and node-usb backends inside the VM against a real device.
 *
 * It speaks BOT with raw bytes written out here, so it depends on nothing but
 * the backend under test. Cases a backend or device cannot run are skipped
 * with the reason in the report, never passed silently.
 */
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { TransferStatus, transferStatusName, type InterfaceDescriptor, type TransferResult, type UsbBackend, type UsbDeviceHandle, type UsbDeviceInfo } from '../usb/backend.js';

export type ContractCase =
  | 'list'
  | 'open-claim'
  | 'get-max-lun'
  | 'round-trip'
  | 'invalid-cbw-stall'
  | 'data-stall-clear-halt'
  | 'second-pending-refused'
  | 'close-cancels'
  | 'after-close-gone'
  | 'timeout';

export interface BackendContractOptions {
  /** Picks the device under test from `list()` (default: the first with a BOT interface 08/06/50). */
  select?: (devices: UsbDeviceInfo[]) => UsbDeviceInfo | undefined;
  /** Detach a bound kernel driver for each case and re-attach it afterwards (default true). */
  detachKernelDriver?: boolean;
  /** Cases this backend cannot run, with the reason (reported as skipped). */
  skip?: Partial<Record<ContractCase, string>>;
  /**
   * Makes the next command's data-in phase stall (the emulator injects a
   * fault). Without it the data-phase stall case is skipped with a reason,
   * because no standard command makes every real device stall on demand.
   */
  injectDataInStall?: (backend: UsbBackend, device: UsbDeviceInfo) => void | Promise<void>;
  /** Budget for ordinary transfers (default 5000 ms). */
  timeoutMs?: number;
}

interface BotTarget {
  info: UsbDeviceInfo;
  handle: UsbDeviceHandle;
  interfaceNumber: number;
  inEp: number;
  outEp: number;
  detached: boolean;
}

const CSW_SIGNATURE = 0x53425355;
const SPEEDS = ['low', 'full', 'high', 'super', 'super-plus', 'unknown'];

function botAlternate(info: UsbDeviceInfo): InterfaceDescriptor | undefined {
  return info.configurations[0]?.interfaces.find((i) => i.interfaceClass === 0x08 && i.interfaceSubClass === 0x06 && i.interfaceProtocol === 0x50);
}

let tagCounter = 0x7e570000;

function cbwBytes(length: number, dirIn: boolean, cdb: number[], signature = 0x43425355): { bytes: Uint8Array; tag: number } {
  const tag = tagCounter++ >>> 0;
  const bytes = new Uint8Array(31);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, signature, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, length, true);
  bytes[12] = dirIn ? 0x80 : 0;
  bytes[14] = cdb.length;
  bytes.set(cdb, 15);
  return { bytes, tag };
}

const INQUIRY_36 = [0x12, 0, 0, 0, 36, 0];

function expectCsw(bytes: Uint8Array, result: TransferResult, tag: number): { residue: number; status: number } {
  expect(result.status).toBe(TransferStatus.OK);
  expect(result.actualLength).toBe(13);
  const v = new DataView(bytes.buffer, bytes.byteOffset, 13);
  expect(v.getUint32(0, true).toString(16)).toBe(CSW_SIGNATURE.toString(16));
  expect(v.getUint32(4, true)).toBe(tag);
  return { residue: v.getUint32(8, true), status: v.getUint8(12) };
}

/** Waits `ms` and tells whether `p` settled meanwhile. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

export function describeBackendContract(name: string, makeBackend: () => UsbBackend | Promise<UsbBackend>, opts: BackendContractOptions = {}): void {
  const timeout = opts.timeoutMs ?? 5000;
  const selectDevice = opts.select ?? ((devices: UsbDeviceInfo[]) => devices.find((d) => botAlternate(d)));

  describe(`UsbBackend contract: ${name}`, () => {
    let backend: UsbBackend;
    let target: BotTarget | null = null;

    const caseIt = (id: ContractCase, title: string, body: (ctx: TestContext) => Promise<void>) => {
      const reason = opts.skip?.[id];
      if (reason) it.skip(`${title} — SKIPPED on ${name}: ${reason}`, () => {});
      else it(title, body);
    };

    async function openBot(): Promise<BotTarget> {
      const devices = await backend.list();
      const info = selectDevice(devices);
      if (!info) throw new Error(`no BOT mass-storage device (08/06/50) among the ${devices.length} devices ${name} lists`);
      const alt = botAlternate(info)!;
      const inEp = alt.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) !== 0)!.address;
      const outEp = alt.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) === 0)!.address;
      const handle = await backend.open(info);
      let detached = false;
      if ((opts.detachKernelDriver ?? true) && (await handle.kernelDriverActive(alt.interfaceNumber))) {
        await handle.detachKernelDriver(alt.interfaceNumber);
        detached = true;
      }
      await handle.claimInterface(alt.interfaceNumber);
      await handle.setAlternateSetting(alt.interfaceNumber, alt.alternateSetting);
      target = { info, handle, interfaceNumber: alt.interfaceNumber, inEp, outEp, detached };
      return target;
    }

    async function roundTrip(t: BotTarget): Promise<Uint8Array> {
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      const cbw = await t.handle.bulkOut(t.outEp, bytes, timeout);
      expect(cbw).toEqual({ status: TransferStatus.OK, actualLength: 31 });
      const data = new Uint8Array(36);
      const din = await t.handle.bulkIn(t.inEp, data, timeout);
      expect(din.status).toBe(TransferStatus.OK);
      expect(din.actualLength).toBeGreaterThanOrEqual(5);
      expect(din.actualLength).toBeLessThanOrEqual(36);
      const csw = new Uint8Array(13);
      const { residue, status } = expectCsw(csw, await t.handle.bulkIn(t.inEp, csw, timeout), tag);
      expect(status).toBe(0);
      expect(residue).toBe(36 - din.actualLength);
      return data.subarray(0, din.actualLength);
    }

    beforeEach(async () => {
      backend = await makeBackend();
      target = null;
    });

    afterEach(async () => {
      const t = target;
      target = null;
      if (t) {
        await t.handle.close().catch(() => {});
        if (t.detached) {
          // give the device back to the OS as we found it
          const again = (await backend.list()).find((d) => d.id === t.info.id) ?? selectDevice(await backend.list());
          if (again) {
            const h = await backend.open(again);
            await h.attachKernelDriver(t.interfaceNumber).catch(() => {});
            await h.close();
          }
        }
      }
      await backend.dispose?.();
    });

    caseIt('list', 'list() returns well-formed device descriptions, the device under test among them', async () => {
      const devices = await backend.list();
      expect(Array.isArray(devices)).toBe(true);
      for (const d of devices) {
        expect(d.backend).toBe(backend.name);
        expect(typeof d.id).toBe('string');
        expect(d.id.length).toBeGreaterThan(0);
        for (const n of [d.vendorId, d.productId]) expect(Number.isInteger(n) && n >= 0 && n <= 0xffff).toBe(true);
        expect(Number.isInteger(d.busNumber) && d.busNumber >= 0).toBe(true);
        expect(Number.isInteger(d.deviceAddress) && d.deviceAddress >= 0).toBe(true);
        expect(d.portNumbers.every((p) => Number.isInteger(p) && p >= 0)).toBe(true);
        expect(SPEEDS).toContain(d.speed);
        for (const c of d.configurations) {
          for (const i of c.interfaces) {
            for (const e of i.endpoints) {
              expect(e.address >= 0 && e.address <= 0xff).toBe(true);
              expect(e.maxPacketSize).toBeGreaterThan(0);
            }
          }
        }
      }
      const chosen = selectDevice(devices);
      expect(chosen, 'a BOT mass-storage device must be listed').toBeDefined();
      const alt = botAlternate(chosen!)!;
      expect(alt.endpoints.filter((e) => e.transferType === 'bulk').length).toBeGreaterThanOrEqual(2);
    });

    caseIt('open-claim', 'open, claim the BOT interface and select its alternate setting', async () => {
      const t = await openBot();
      expect(t.handle.info.id).toBe(t.info.id);
      expect(typeof (await t.handle.kernelDriverActive(t.interfaceNumber))).toBe('boolean');
      expect(typeof t.handle.botExchange).toBe('function');
    });

    caseIt('get-max-lun', 'Get Max LUN (class request 0xFE) answers one byte 0..15, or stalls (single LUN)', async () => {
      const t = await openBot();
      const r = await t.handle.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: t.interfaceNumber }, 1, timeout);
      expect([TransferStatus.OK, TransferStatus.STALL]).toContain(r.status);
      if (r.status === TransferStatus.OK) {
        expect(r.actualLength).toBe(1);
        expect(r.data?.[0]).toBeLessThanOrEqual(15);
      }
    });

    caseIt('round-trip', 'a CBW → data-in → CSW round trip in raw bytes (INQUIRY): tag, residue, status', async () => {
      const t = await openBot();
      const inquiry = await roundTrip(t);
      expect(inquiry[4]! + 5).toBeGreaterThanOrEqual(Math.min(36, inquiry.length)); // additional length covers what came
      const again = await roundTrip(t); // and the device is in sync for the next command
      expect(Array.from(again)).toEqual(Array.from(inquiry));
    });

    caseIt('invalid-cbw-stall', 'an invalid CBW stalls bulk-in (BOT §6.6.1); reset recovery + clear halt make the next command work', async () => {
      const t = await openBot();
      const bad = cbwBytes(36, true, INQUIRY_36, 0x21434241); // wrong signature
      const out = await t.handle.bulkOut(t.outEp, bad.bytes, timeout);
      expect([TransferStatus.OK, TransferStatus.STALL]).toContain(out.status);
      const csw = await t.handle.bulkIn(t.inEp, new Uint8Array(13), timeout);
      expect(csw.status).toBe(TransferStatus.STALL);
      const reset = await t.handle.controlTransfer({ requestType: 0x21, request: 0xff, value: 0, index: t.interfaceNumber }, new Uint8Array(0), timeout);
      expect(reset.status).toBe(TransferStatus.OK);
      await t.handle.clearHalt(t.inEp);
      await t.handle.clearHalt(t.outEp);
      await roundTrip(t);
    });

    caseIt('data-stall-clear-halt', 'a stall in the data phase is cleared with clearHalt; the CSW then reads and the next command works', async (ctx) => {
      if (!opts.injectDataInStall) return ctx.skip(`SKIPPED on ${name}: no way to make this device stall a data phase on demand (give opts.injectDataInStall)`);
      const t = await openBot();
      await opts.injectDataInStall(backend, t.info);
      const { bytes, tag } = cbwBytes(36, true, INQUIRY_36);
      expect((await t.handle.bulkOut(t.outEp, bytes, timeout)).status).toBe(TransferStatus.OK);
      const din = await t.handle.bulkIn(t.inEp, new Uint8Array(36), timeout);
      expect(din.status).toBe(TransferStatus.STALL);
      const still = await t.handle.bulkIn(t.inEp, new Uint8Array(13), timeout);
      expect(still.status, 'a halted endpoint keeps stalling until cleared').toBe(TransferStatus.STALL);
      await t.handle.clearHalt(t.inEp);
      const csw = new Uint8Array(13);
      const { residue } = expectCsw(csw, await t.handle.bulkIn(t.inEp, csw, timeout), tag);
      expect(residue).toBe(36 - din.actualLength);
      await roundTrip(t);
    });

    caseIt('second-pending-refused', 'a second transfer on an endpoint with one pending is refused (E_BAD_INPUT); the first is cancelled by its AbortSignal', async (ctx) => {
      const t = await openBot();
      const abort = new AbortController();
      const first = t.handle.bulkIn(t.inEp, new Uint8Array(13), 10 * timeout, abort.signal);
      if (await settledWithin(first, 50)) {
        const r = await first;
        if (r.status === TransferStatus.STALL) await t.handle.clearHalt(t.inEp);
        return ctx.skip(`SKIPPED on ${name}: the device answered an idle IN read with '${transferStatusName(r.status)}' instead of NAKing, so no transfer stays pending`);
      }
      await expect(t.handle.bulkIn(t.inEp, new Uint8Array(13), timeout)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      abort.abort();
      expect((await first).status).toBe(TransferStatus.CANCELLED);
      await roundTrip(t); // nothing was lost
    });

    caseIt('close-cancels', 'close() settles a pending transfer with status cancelled before it resolves', async (ctx) => {
      const t = await openBot();
      let outcome: TransferResult | Error | null = null;
      const pending = t.handle.bulkIn(t.inEp, new Uint8Array(13), 10 * timeout).then(
        (r) => (outcome = r),
        (e: Error) => (outcome = e),
      );
      if (await settledWithin(pending, 50)) {
        return ctx.skip(`SKIPPED on ${name}: the device answered an idle IN read at once (${JSON.stringify(outcome)}), so no transfer stays pending`);
      }
      await t.handle.close();
      await Promise.resolve();
      expect(outcome).toEqual({ status: TransferStatus.CANCELLED, actualLength: 0 });
    });

    caseIt('after-close-gone', 'every call after close() throws E_DEVICE_GONE', async () => {
      const t = await openBot();
      await t.handle.close();
      const gone = { code: 'E_DEVICE_GONE' };
      await expect(t.handle.bulkIn(t.inEp, new Uint8Array(13), timeout)).rejects.toMatchObject(gone);
      await expect(t.handle.bulkOut(t.outEp, cbwBytes(0, false, [0, 0, 0, 0, 0, 0]).bytes, timeout)).rejects.toMatchObject(gone);
      await expect(t.handle.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: t.interfaceNumber }, 1, timeout)).rejects.toMatchObject(gone);
      await expect(t.handle.clearHalt(t.inEp)).rejects.toMatchObject(gone);
      await expect(t.handle.claimInterface(t.interfaceNumber)).rejects.toMatchObject(gone);
      await expect(t.handle.releaseInterface(t.interfaceNumber)).rejects.toMatchObject(gone);
    });

    caseIt('timeout', 'an IN transfer the device does not answer resolves with status timeout after about timeoutMs', async (ctx) => {
      const t = await openBot();
      const started = Date.now();
      const r = await t.handle.bulkIn(t.inEp, new Uint8Array(13), 300);
      const elapsed = Date.now() - started;
      if (r.status === TransferStatus.STALL) {
        await t.handle.clearHalt(t.inEp);
        return ctx.skip(`SKIPPED on ${name}: the device stalls an idle IN read instead of NAKing, so a timeout cannot be provoked`);
      }
      expect(r.status).toBe(TransferStatus.TIMEOUT);
      expect(r.actualLength).toBe(0);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5000);
      await roundTrip(t); // a timed-out read consumed nothing
    });
  });
}
