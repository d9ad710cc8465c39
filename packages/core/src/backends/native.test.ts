import { describe, expect, it, vi } from 'vitest';
import { TransferStatus } from '../usb/backend.js';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { NativeBackend, NativeHandle, loadNativeBackend, nativeDeviceId } from './native.js';
import {
  fromNativeError,
  loadNativeAddon,
  type NativeAddon,
  type NativeDeviceHandle,
  type NativeDeviceInfo,
} from './native-addon.js';
import { EXCHANGE_BLOCK } from './native-exchange.js';

const STICK: NativeDeviceInfo = {
  vendorId: 0x46f4,
  productId: 0x0001,
  busNumber: 2,
  deviceAddress: 3,
  portNumbers: [1, 4],
  speed: 'super',
  product: 'QEMU USB HARDDRIVE',
  serialNumber: '1-0000:00:02.0-1',
  configurations: [
    {
      configurationValue: 1,
      interfaces: [
        {
          interfaceNumber: 0,
          alternateSetting: 0,
          interfaceClass: 8,
          interfaceSubClass: 6,
          interfaceProtocol: 0x50,
          endpoints: [
            { address: 0x81, transferType: 'bulk', maxPacketSize: 1024, maxBurst: 15 },
            { address: 0x02, transferType: 'bulk', maxPacketSize: 1024, maxBurst: 15 },
          ],
        },
      ],
    },
  ],
};

function nativeError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

/** A fake addon handle: records calls, resolves transfers when told to. */
function fakeHandle(overrides: Partial<NativeDeviceHandle> = {}): NativeDeviceHandle & { cancelled: number[] } {
  const cancelled: number[] = [];
  const pending = new Map<number, (r: { status: 4; actualLength: number }) => void>();
  return {
    closed: false,
    cancelled,
    claimInterface: vi.fn(async () => {}),
    releaseInterface: vi.fn(async () => {}),
    setAlternateSetting: vi.fn(async () => {}),
    kernelDriverActive: vi.fn(async () => true),
    detachKernelDriver: vi.fn(async () => {}),
    attachKernelDriver: vi.fn(async () => {}),
    clearHalt: vi.fn(async () => {}),
    controlTransfer: vi.fn(async () => ({ status: 0 as const, actualLength: 1, data: Buffer.from([0]) })),
    bulkTransfer: vi.fn(
      (_ep: number, _b: Uint8Array, _t: number, opId?: number) =>
        new Promise<{ status: 4; actualLength: number }>((res) => pending.set(opId!, res)),
    ),
    // Every phase moved every byte (facts written into the block as the engine does).
    exchange: vi.fn(async (block: Uint8Array) => {
      const view = new DataView(block.buffer, block.byteOffset);
      for (let i = 0; i < block[EXCHANGE_BLOCK.phaseCount]!; i++) {
        const at = EXCHANGE_BLOCK.headerSize + i * EXCHANGE_BLOCK.phaseSize;
        block[at + EXCHANGE_BLOCK.reported] = 1;
        view.setFloat64(at + EXCHANGE_BLOCK.actual, view.getFloat64(at + EXCHANGE_BLOCK.length, true), true);
      }
      return ['depth reduced'];
    }),
    cancel: vi.fn((opId: number) => {
      cancelled.push(opId);
      pending.get(opId)?.({ status: 4, actualLength: 0 });
      return pending.delete(opId);
    }),
    allocTransferBuffer: vi.fn(() => null),
    releaseTransferBuffer: vi.fn(() => false),
    allocStreams: vi.fn(async () => {
      throw nativeError('E_BAD_INPUT', 'allocate 4 bulk streams: LIBUSB_ERROR_INVALID_PARAM', {
        libusbError: 'LIBUSB_ERROR_INVALID_PARAM',
        libusbCode: -2,
      });
    }),
    freeStreams: vi.fn(async () => {}),
    resetDevice: vi.fn(async () => {}),
    close: vi.fn(async () => {}),
    ...overrides,
  };
}

function fakeAddon(handle: NativeDeviceHandle, devices: NativeDeviceInfo[] = [STICK]): NativeAddon {
  return {
    platform: 'linux',
    list: vi.fn(async () => devices),
    open: vi.fn(async () => handle),
    libusbVersion: () => ({ major: 1, minor: 0, micro: 26, nano: 0, text: '1.0.26' }),
    mapLibusbError: () => Object.assign(new Error('x'), { code: 'E_IO' }),
    transferMemoryLimit: () => ({ bytes: 16 << 20, source: 'test' }),
  };
}

describe('NativeBackend over a fake addon', () => {
  it('lists devices in the contract shape with a stable id and storage bindings for mass storage', async () => {
    const storage = vi.fn(async () => [
      { interfaceNumber: 0, driver: 'usb-storage', blockDevices: ['/dev/sda'], sgDevices: ['/dev/sg0'], mounts: [] },
    ]);
    const backend = new NativeBackend(fakeAddon(fakeHandle()), storage);
    const [info] = await backend.list();
    expect(info).toMatchObject({
      backend: 'native',
      id: '2-1.4@3',
      vendorId: 0x46f4,
      speed: 'super',
      product: 'QEMU USB HARDDRIVE',
    });
    expect(info!.configurations[0]!.interfaces[0]!.endpoints[0]).toEqual({
      address: 0x81,
      transferType: 'bulk',
      maxPacketSize: 1024,
      maxBurst: 15,
    });
    expect(info!.storage?.[0]?.blockDevices).toEqual(['/dev/sda']);
    expect(storage).toHaveBeenCalledWith(2, [1, 4]);
    expect(nativeDeviceId({ busNumber: 1, portNumbers: [], deviceAddress: 1 })).toBe('1-0@1');
  });

  it('open() refuses a device whose bus/address now belongs to another device (E_DEVICE_GONE)', async () => {
    const addon = fakeAddon(fakeHandle(), [{ ...STICK, productId: 0x9999 }]);
    const backend = new NativeBackend(addon);
    await expect(backend.open({ ...STICK, backend: 'native', id: '2-1.4@3' })).rejects.toMatchObject({
      code: ErrorCodes.DEVICE_GONE,
    });
    expect(addon.open).not.toHaveBeenCalled();
  });

  it('open() with no device info is E_BAD_INPUT', async () => {
    await expect(new NativeBackend(fakeAddon(fakeHandle())).open(undefined as never)).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
  });

  it('an aborted signal cancels the transfer in the engine, which resolves it cancelled', async () => {
    const h = fakeHandle();
    const handle = await new NativeBackend(fakeAddon(h)).open({ ...STICK, backend: 'native', id: '2-1.4@3' });
    const ac = new AbortController();
    const p = handle.bulkIn(0x81, new Uint8Array(512), 5000, ac.signal);
    ac.abort();
    await expect(p).resolves.toEqual({ status: TransferStatus.CANCELLED, actualLength: 0 });
    expect(h.cancelled).toHaveLength(1);
    // already aborted: nothing is sent at all
    await expect(handle.bulkOut(0x02, new Uint8Array(31), 5000, ac.signal)).resolves.toEqual({
      status: TransferStatus.CANCELLED,
      actualLength: 0,
    });
    expect(h.bulkTransfer).toHaveBeenCalledTimes(1);
  });

  it('direction mistakes are E_BAD_INPUT before the engine is called', async () => {
    const h = fakeHandle();
    const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
    await expect(handle.bulkIn(0x02, new Uint8Array(1), 10)).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(handle.bulkOut(0x81, new Uint8Array(1), 10)).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    expect(h.bulkTransfer).not.toHaveBeenCalled();
  });

  it('engine errors (sync throws and rejections) become UsbScsiError with code, action and libusb facts', async () => {
    const h = fakeHandle({
      claimInterface: vi.fn(async () => {
        throw nativeError('E_BUSY', 'claim interface 0: LIBUSB_ERROR_BUSY', {
          libusbError: 'LIBUSB_ERROR_BUSY',
          libusbCode: -6,
          errno: 16,
        });
      }),
      clearHalt: vi.fn(() => {
        throw nativeError('E_DEVICE_GONE', 'the device handle is closed');
      }),
    });
    const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
    const busy = await handle.claimInterface(0).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(UsbScsiError);
    expect(busy).toMatchObject({
      code: ErrorCodes.BUSY,
      details: { libusbError: 'LIBUSB_ERROR_BUSY', libusbCode: -6, errno: 16 },
    });
    expect((busy as Error).message).toMatch(/^claiming interface 0: /);
    await expect(handle.clearHalt(0x81)).rejects.toMatchObject({ code: ErrorCodes.DEVICE_GONE });
  });

  it('streamTransfer is one URB (depth 1, one chunk of the whole length, rounded up to 1 KiB)', async () => {
    // QEMU's usb-uas keeps one pending packet per stream and asserts (the VM dies) when a second
    // URB for the same stream arrives before its command: the engine's default (256 KiB chunks,
    // depth 4) sent four for a 1 MiB READ. Linux `uas` sends one URB per data phase too.
    const h = fakeHandle();
    const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
    for (const length of [36, 1 << 20, (1 << 20) + 512]) {
      const r = await handle.streamTransfer(0x83, 5, new Uint8Array(length), 1000);
      expect(r).toEqual({ status: 0, actualLength: length });
      const block = vi.mocked(h.exchange).mock.calls.at(-1)![0];
      const view = new DataView(block.buffer, block.byteOffset);
      const at = EXCHANGE_BLOCK.headerSize;
      expect(block[EXCHANGE_BLOCK.phaseCount]).toBe(1);
      expect(view.getUint32(at + EXCHANGE_BLOCK.streamId, true)).toBe(5);
      expect(view.getUint32(at + EXCHANGE_BLOCK.depth, true)).toBe(1);
      expect(view.getUint32(at + EXCHANGE_BLOCK.chunkSize, true)).toBe(Math.ceil(length / 1024) * 1024);
    }
  });

  it('an error without a known code is E_IO', () => {
    expect(fromNativeError(new Error('boom'), 'x').code).toBe(ErrorCodes.IO);
    expect(fromNativeError(nativeError('E_WHATEVER', 'y'), 'x').code).toBe(ErrorCodes.IO);
  });

  it("botExchange sends one block with an opId and the caller's buffer, and returns phases and notes", async () => {
    const h = fakeHandle();
    const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
    const cbw = new Uint8Array(31);
    cbw.set([0x55, 0x53, 0x42, 0x43, 0, 0, 0, 0, 36, 0, 0, 0, 0x80]);
    const buffer = new Uint8Array(36);
    const r = await handle.botExchange({
      cbw,
      outEndpoint: 2,
      inEndpoint: 0x81,
      timeoutMs: 1000,
      data: { direction: 'in', buffer },
      depth: 2,
      signal: new AbortController().signal,
    });
    const [block, data] = (h.exchange as ReturnType<typeof vi.fn>).mock.calls[0]! as [Uint8Array, Uint8Array];
    expect(block.byteLength).toBe(EXCHANGE_BLOCK.size);
    expect(data).toBe(buffer);
    expect(new DataView(block.buffer).getUint32(EXCHANGE_BLOCK.opId, true)).toBeGreaterThan(0);
    expect(r).toMatchObject({
      cbw: { status: TransferStatus.OK, actualLength: 31 },
      data: { status: TransferStatus.OK, actualLength: 36 },
      csw: { status: TransferStatus.OK, actualLength: 13 },
      notes: ['depth reduced'],
    });
    expect(r.csw!.bytes).toBeInstanceOf(Uint8Array);
  });

  it(
    "allocTransferBuffer: pinned memory as a Uint8Array over the addon's ArrayBuffer; " +
      'release hands the same buffer back',
    () => {
      const memory = new ArrayBuffer(4096);
      const release = vi.fn(() => true);
      const h = fakeHandle({ allocTransferBuffer: vi.fn(() => memory), releaseTransferBuffer: release });
      const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
      const buffer = handle.allocTransferBuffer(4096)!;
      expect(buffer.pinned).toBe(true);
      expect(buffer.bytes.buffer).toBe(memory);
      expect(buffer.bytes.length).toBe(4096);
      buffer.release();
      expect(release).toHaveBeenCalledWith(memory);
    },
  );

  it(
    'allocTransferBuffer: null from the addon (no pinned memory here) is null; ' +
      'bad sizes and addon errors are typed',
    () => {
      const busy = nativeError('E_BUSY', 'commands in flight');
      const h = fakeHandle({
        allocTransferBuffer: vi.fn(() => null),
        releaseTransferBuffer: vi.fn(() => {
          throw busy;
        }),
      });
      const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
      expect(handle.allocTransferBuffer(512)).toBeNull();
      for (const bad of [0, -1, 1.5, 2 ** 31, Number.NaN])
        expect(() => handle.allocTransferBuffer(bad)).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_INPUT }));
      const gone = fakeHandle({
        allocTransferBuffer: vi.fn(() => {
          throw nativeError('E_DEVICE_GONE', 'closed');
        }),
      });
      expect(() =>
        new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, gone, 'linux').allocTransferBuffer(512),
      ).toThrow(expect.objectContaining({ code: ErrorCodes.DEVICE_GONE }));
      const pinned = fakeHandle({
        allocTransferBuffer: vi.fn(() => new ArrayBuffer(8)),
        releaseTransferBuffer: vi.fn(() => {
          throw busy;
        }),
      });
      const buffer = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, pinned, 'linux').allocTransferBuffer(
        8,
      )!;
      expect(() => buffer.release()).toThrow(expect.objectContaining({ code: ErrorCodes.BUSY }));
    },
  );

  it(
    'allocStreams: bad counts and endpoints refused before the engine; ' +
      'a controller without streams is a typed E_BAD_INPUT',
    async () => {
      const h = fakeHandle();
      const handle = new NativeHandle({ ...STICK, backend: 'native', id: 'x' }, h, 'linux');
      for (const [count, eps] of [
        [0, [0x81]],
        [65534, [0x81]],
        [1.5, [0x81]],
        [4, []],
        [4, [0]],
        [4, [0x80]],
        [4, [0x91]],
      ] as [number, number[]][]) {
        await expect(handle.allocStreams(count, eps)).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
      }
      await expect(handle.freeStreams([])).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
      expect(h.allocStreams).not.toHaveBeenCalled();
      await expect(handle.allocStreams(4, [0x81, 0x02])).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
        details: { libusbError: 'LIBUSB_ERROR_INVALID_PARAM' },
      });
      expect(h.allocStreams).toHaveBeenCalledWith(4, [0x81, 0x02]);
    },
  );

  it('capabilities: botExchange and fd streaming always, kernel driver control on Linux', () => {
    const info = { ...STICK, backend: 'native', id: 'x' };
    expect(new NativeHandle(info, fakeHandle(), 'linux').capabilities).toEqual({
      fdStreaming: true,
      kernelDriver: true,
    });
    expect(new NativeHandle(info, fakeHandle(), 'darwin').capabilities.kernelDriver).toBe(false);
  });
});

const loaded = loadNativeAddon();
describe('loadNativeBackend', () => {
  it('returns a backend, or null with the reason; required → E_NO_NATIVE', async () => {
    const r = await loadNativeBackend();
    if (loaded.ok) {
      expect(r.backend).toBeInstanceOf(NativeBackend);
      await expect(loadNativeBackend({ required: true })).resolves.toHaveProperty('backend');
    } else {
      expect(r.backend).toBeNull();
      expect(r.reason).toBe(loaded.reason);
      await expect(loadNativeBackend({ required: true })).rejects.toMatchObject({ code: ErrorCodes.NO_NATIVE });
    }
  });
});

describe.skipIf(!loaded.ok)(
  `NativeBackend over the real addon, no device${loaded.ok ? '' : ` [SKIPPED: ${loaded.reason}]`}`,
  () => {
    it('lists (possibly nothing) and refuses a device that is not there with E_DEVICE_GONE', async () => {
      const { backend } = await loadNativeBackend({ required: true });
      const devices = await backend!.list();
      expect(Array.isArray(devices)).toBe(true);
      for (const d of devices) expect(d.id).toMatch(/^\d+-[\d.]+@\d+$/);
      await expect(
        backend!.open({ ...STICK, busNumber: 250, deviceAddress: 250, backend: 'native', id: '250-1@250' }),
      ).rejects.toMatchObject({ code: ErrorCodes.DEVICE_GONE });
    });
  },
);
