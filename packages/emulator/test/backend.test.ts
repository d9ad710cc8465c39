/**
 * EmulatorBackend specifics beyond the shared contract suite: devices, descriptors, kernel driver, storage, input
 * checks.
 */
import { describe, expect, it } from 'vitest';
import { TransferStatus } from '@usbscsi/core';
import { EmulatorBackend, SimulatedDevice } from '../src/index.js';
import { IN, OUT, command, openSim, rawCbw } from './raw-bot.js';

describe('devices and descriptors', () => {
  it('lists two identical VID:PID devices as two devices with their own ids, serials and ports', async () => {
    const backend = new EmulatorBackend({
      devices: [
        { vendorId: 0x0bda, productId: 0x9210, serial: 'AAA', portNumbers: [1] },
        { vendorId: 0x0bda, productId: 0x9210, serial: 'BBB', portNumbers: [2, 3] },
      ],
    });
    const list = await backend.list();
    expect(list.map((d) => [d.vendorId, d.productId, d.serialNumber, d.portNumbers.join('.')])).toEqual([
      [0x0bda, 0x9210, 'AAA', '1'],
      [0x0bda, 0x9210, 'BBB', '2.3'],
    ]);
    expect(new Set(list.map((d) => d.id)).size).toBe(2);
    await backend.dispose();
  });

  it(
    'interface 08/06/50 with bulk IN 0x81 / OUT 0x02: 512-byte packets at high speed, ' +
      '1024 (burst 15) at super speed',
    async () => {
      const backend = new EmulatorBackend({ devices: [{ speed: 'high' }, { speed: 'super' }] });
      const [hs, ss] = await backend.list();
      expect(hs!.configurations[0]!.interfaces).toEqual([
        {
          interfaceNumber: 0,
          alternateSetting: 0,
          interfaceClass: 8,
          interfaceSubClass: 6,
          interfaceProtocol: 0x50,
          endpoints: [
            { address: 0x81, transferType: 'bulk', maxPacketSize: 512 },
            { address: 0x02, transferType: 'bulk', maxPacketSize: 512 },
          ],
        },
      ]);
      expect(ss!.configurations[0]!.interfaces[0]!.endpoints[0]).toEqual({
        address: 0x81,
        transferType: 'bulk',
        maxPacketSize: 1024,
        maxBurst: 15,
      });
      expect(ss!.speed).toBe('super');
      await backend.dispose();
    },
  );

  it(
    'a UAS-only device has 08/06/62 and no BOT alternate; its class requests stall and ' +
      'a CBW on its command pipe is answered with a Response IU (INVALID IU), not a CSW',
    async () => {
      const backend = new EmulatorBackend({ devices: [{ interfaces: 'uas-only' }] });
      const [info] = await backend.list();
      const alts = info!.configurations[0]!.interfaces;
      expect(alts.map((a) => a.interfaceProtocol)).toEqual([0x62]);
      const h = await backend.open(info!);
      await h.claimInterface(0);
      expect((await h.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1, 1000)).status).toBe(
        TransferStatus.STALL,
      );
      // A 31-byte CBW is no Command IU: the device answers on the status pipe.
      expect(
        (await h.bulkOut(0x01, Uint8Array.of(0x55, 0x53, 0x42, 0x43, 0, 1, ...new Array(25).fill(0)), 1000)).status,
      ).toBe(TransferStatus.OK);
      const status = new Uint8Array(32);
      const r = await h.bulkIn(0x82, status, 1000);
      // The tag is the CBW's bytes 2-3 ('BC').
      expect(Array.from(status.subarray(0, r.actualLength))).toEqual([0x04, 0, 0x42, 0x43, 0, 0, 0, 0x02]);
      await expect(h.bulkOut(OUT, new Uint8Array(31), 1000)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      await backend.dispose();
    },
  );

  it('a UAS bridge keeps BOT at alt 0 and UAS at alt 1 (QEMU pipe numbers); BOT works at alt 0', async () => {
    const { backend, handle } = await openSim({ interfaces: 'bot+uas' });
    expect(handle.info.configurations[0]!.interfaces.map((a) => [a.alternateSetting, a.interfaceProtocol])).toEqual([
      [0, 0x50],
      [1, 0x62],
    ]);
    await handle.setAlternateSetting(0, 1);
    // At alt 1 endpoint 0x81 does not exist: the status pipe is 0x82.
    await expect(handle.bulkIn(IN, new Uint8Array(13), 100)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await handle.setAlternateSetting(0, 0);
    expect((await command(handle, [0, 0, 0, 0, 0, 0])).csw.status).toBe(0);
    await backend.dispose();
  });
});

describe('simulated kernel driver and storage bindings', () => {
  it('claim fails with E_BUSY while the driver is bound; detach, claim, release, re-attach', async () => {
    const device = new SimulatedDevice({ kernelDriver: 'usb-storage' });
    const backend = new EmulatorBackend({ devices: [device] });
    const h = await backend.open((await backend.list())[0]!);
    expect(await h.kernelDriverActive(0)).toBe(true);
    await expect(h.claimInterface(0)).rejects.toMatchObject({ code: 'E_BUSY' });
    await expect(
      h.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1, 1000),
    ).rejects.toMatchObject({ code: 'E_BUSY' });
    await h.detachKernelDriver(0);
    expect(await h.kernelDriverActive(0)).toBe(false);
    await h.claimInterface(0);
    await expect(h.attachKernelDriver(0)).rejects.toMatchObject({ code: 'E_BUSY' });
    await h.releaseInterface(0);
    await h.attachKernelDriver(0);
    expect(device.kernelDriver).toBe('usb-storage');
    await backend.dispose();
  });

  it('a second handle cannot claim an interface the first holds', async () => {
    const { backend } = await openSim();
    const h2 = await backend.open((await backend.list())[0]!);
    await expect(h2.claimInterface(0)).rejects.toMatchObject({ code: 'E_BUSY' });
    await backend.dispose();
  });

  it(
    'storage bindings show block devices and mounts while bound; a detach under a mount ' +
      'is recorded as a forced unmount',
    async () => {
      const device = new SimulatedDevice({
        kernelDriver: 'usb-storage',
        storage: {
          scsiHost: 'host4',
          blockDevices: ['/dev/sdx'],
          sgDevices: ['/dev/sg7'],
          mounts: [{ device: '/dev/sdx1', mountPoint: '/media/x', fsType: 'vfat' }],
        },
      });
      const backend = new EmulatorBackend({ devices: [device] });
      const [info] = await backend.list();
      expect(info!.storage).toEqual([
        {
          interfaceNumber: 0,
          driver: 'usb-storage',
          scsiHost: 'host4',
          blockDevices: ['/dev/sdx'],
          sgDevices: ['/dev/sg7'],
          mounts: [{ device: '/dev/sdx1', mountPoint: '/media/x', fsType: 'vfat' }],
        },
      ]);
      const h = await backend.open(info!);
      await h.detachKernelDriver(0);
      expect((await backend.list())[0]!.storage).toEqual([
        { interfaceNumber: 0, driver: null, blockDevices: [], sgDevices: [], mounts: [] },
      ]);
      expect(device.forcedUnmounts).toEqual([{ device: '/dev/sdx1', mountPoint: '/media/x', fsType: 'vfat' }]);
      await h.attachKernelDriver(0);
      expect((await backend.list())[0]!.storage![0]!.blockDevices).toEqual(['/dev/sdx']);
      await backend.dispose();
    },
  );

  it('without a kernel driver there is nothing to attach (E_UNSUPPORTED)', async () => {
    const { backend, handle } = await openSim();
    await handle.releaseInterface(0);
    await expect(handle.attachKernelDriver(0)).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    await backend.dispose();
  });
});

describe('contract enforcement details', () => {
  it('calls resolve on a later macrotask, never synchronously', async () => {
    const { backend, handle } = await openSim();
    let ticked = false;
    setImmediate(() => (ticked = true));
    await handle.kernelDriverActive(0);
    expect(ticked).toBe(true);
    await backend.dispose();
  });

  it('IN and OUT may be pending together', async () => {
    const { backend, handle } = await openSim();
    const pin = handle.bulkIn(IN, new Uint8Array(13), 2000);
    const pout = handle.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: [0, 0, 0, 0, 0, 0] }), 2000);
    expect(await pout).toEqual({ status: TransferStatus.OK, actualLength: 31 });
    expect(await pin).toEqual({ status: TransferStatus.OK, actualLength: 13 }); // the parked read got the CSW
    await backend.dispose();
  });

  it('an already-aborted signal cancels at once; a CSW read into too small a buffer overflows', async () => {
    const { backend, handle } = await openSim();
    const abort = new AbortController();
    abort.abort();
    expect(await handle.bulkIn(IN, new Uint8Array(13), 1000, abort.signal)).toEqual({
      status: TransferStatus.CANCELLED,
      actualLength: 0,
    });
    await handle.bulkOut(OUT, rawCbw({ length: 0, dirIn: false, cdb: [0, 0, 0, 0, 0, 0] }), 1000);
    expect(await handle.bulkIn(IN, new Uint8Array(8), 1000)).toEqual({
      status: TransferStatus.OVERFLOW,
      actualLength: 8,
    });
    await backend.dispose();
  });

  it('refuses bad input with E_BAD_INPUT', async () => {
    const { backend, handle } = await openSim();
    const bad = { code: 'E_BAD_INPUT' };
    await expect(handle.bulkIn(0x83, new Uint8Array(13), 1000)).rejects.toMatchObject(bad);
    await expect(handle.bulkIn(OUT, new Uint8Array(13), 1000)).rejects.toMatchObject(bad);
    await expect(handle.bulkIn(IN, new Uint8Array(13), -1)).rejects.toMatchObject(bad);
    await expect(
      handle.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, new Uint8Array(1), 1000),
    ).rejects.toMatchObject(bad);
    await expect(handle.claimInterface(1)).rejects.toMatchObject(bad);
    await expect(handle.setAlternateSetting(0, 5)).rejects.toMatchObject(bad);
    await handle.releaseInterface(0);
    await expect(handle.bulkIn(IN, new Uint8Array(13), 1000)).rejects.toMatchObject(bad);
    await backend.dispose();
  });

  it('releaseInterface cancels pending transfers', async () => {
    const { backend, handle } = await openSim();
    const pending = handle.bulkIn(IN, new Uint8Array(13), 5000);
    await handle.releaseInterface(0);
    expect(await pending).toEqual({ status: TransferStatus.CANCELLED, actualLength: 0 });
    await backend.dispose();
  });

  it('resetDevice kills the handle; the device stays listed and opens again', async () => {
    const { backend, handle, device } = await openSim();
    await handle.resetDevice();
    await expect(handle.claimInterface(0)).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
    const h2 = await backend.open((await backend.list())[0]!);
    await h2.claimInterface(0);
    expect((await command(h2, [0, 0, 0, 0, 0, 0])).csw.status).toBe(0);
    expect(device.stats.portResets).toBe(1);
    await backend.dispose();
  });

  it('dispose closes every handle it opened', async () => {
    const { backend, handle } = await openSim();
    const pending = handle.bulkIn(IN, new Uint8Array(13), 5000);
    await backend.dispose();
    expect(await pending).toEqual({ status: TransferStatus.CANCELLED, actualLength: 0 });
    await expect(handle.bulkIn(IN, new Uint8Array(13), 100)).rejects.toMatchObject({ code: 'E_DEVICE_GONE' });
  });
});
