// NodeUsbBackend against a fake of the `usb` package that rejects the way node-usb v3 does
// (texts checked in the QEMU guest). The real package runs in `pnpm test:vm`.
import { describe, expect, it } from 'vitest';
import { TransferStatus } from '../usb/backend.js';
import { NodeUsbBackend, failureOfOsError, loadNodeUsbBackend } from './node-usb.js';
import { isUsbScsiError } from '../errors.js';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

function fakeDevice(overrides: Record<string, unknown> = {}) {
  const pending = new Map<number, Pending>();
  const calls: string[] = [];
  const dev = {
    vendorId: 0x46f4,
    productId: 0x0001,
    bus: '3',
    address: 2,
    ports: [1],
    speed: 'super',
    manufacturerName: 'QEMU',
    productName: 'QEMU USB HARDDRIVE',
    serialNumber: 'VMTEST1',
    configuration: { configurationValue: 1, interfaces: [] },
    configurations: [
      {
        configurationValue: 1,
        interfaces: [
          {
            interfaceNumber: 0,
            alternates: [
              {
                alternateSetting: 0,
                interfaceClass: 8,
                interfaceSubclass: 6,
                interfaceProtocol: 0x50,
                endpoints: [
                  { endpointNumber: 1, direction: 'in', type: 'bulk', packetSize: 1024 },
                  { endpointNumber: 2, direction: 'out', type: 'bulk', packetSize: 1024 },
                ],
              },
            ],
          },
        ],
      },
    ],
    inResponses: [] as Array<Uint8Array | Error | 'hang'>,
    async open() {
      calls.push('open');
    },
    async close() {
      calls.push('close');
      for (const [ep, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new Error('transferIn error: Cancelled'));
        pending.delete(ep);
      }
    },
    async reset() {
      calls.push('reset');
      throw new Error('device disconnected');
    },
    async claimInterface(n: number) {
      calls.push(`claim ${n}`);
    },
    async releaseInterface(n: number) {
      calls.push(`release ${n}`);
    },
    async selectAlternateInterface(n: number, a: number) {
      calls.push(`alt ${n} ${a}`);
    },
    async nativeControlTransferIn() {
      throw new Error('Stall');
    },
    async nativeControlTransferOut() {
      return 0;
    },
    nativeTransferIn(ep: number, timeout: number, length: number): Promise<Uint8Array | null> {
      calls.push(`in ${ep} ${timeout} ${length}`);
      const next = dev.inResponses.shift() ?? 'hang';
      if (next instanceof Error) return Promise.reject(next);
      if (next !== 'hang') return Promise.resolve(next);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(ep);
          reject(new Error('transferIn error: Cancelled'));
        }, timeout);
        pending.set(ep, { resolve, reject, timer });
      });
    },
    async nativeTransferOut(_ep: number, _t: number, data: Uint8Array) {
      return data.length;
    },
    async clearHalt(dir: string, ep: number) {
      calls.push(`clearHalt ${dir} ${ep}`);
    },
    async detachKernelDriver(n: number) {
      calls.push(`detach ${n}`);
    },
    async attachKernelDriver(n: number) {
      calls.push(`attach ${n}`);
    },
    ...overrides,
  };
  return { dev, calls };
}

async function openFake(platform: NodeJS.Platform = 'linux', overrides: Record<string, unknown> = {}) {
  const { dev, calls } = fakeDevice(overrides);
  const backend = new NodeUsbBackend({ nativeGetDevices: async () => [dev as never] }, null, platform);
  const [info] = await backend.list();
  const handle = await backend.open(info!);
  return { backend, info: info!, handle, dev, calls };
}

describe('NodeUsbBackend (fake usb package)', () => {
  it('lists descriptors with endpoint addresses, speed and strings', async () => {
    const { info } = await openFake();
    expect(info).toMatchObject({
      backend: 'node-usb',
      vendorId: 0x46f4,
      busNumber: 3,
      portNumbers: [1],
      speed: 'super',
      serialNumber: 'VMTEST1',
    });
    expect(info.configurations[0]!.interfaces[0]!.endpoints.map((e) => e.address)).toEqual([0x81, 0x02]);
  });

  it(
    "a claim sends no SET_INTERFACE (the kernel's f_mass_storage takes it as a reset); " + 'setAlternateSetting does',
    async () => {
      const { handle, calls } = await openFake();
      await handle.claimInterface(0);
      expect(calls.slice(-1)).toEqual(['claim 0']);
      expect(calls.filter((c) => c.startsWith('alt'))).toEqual([]);
      await handle.setAlternateSetting(0, 0);
      expect(calls.slice(-1)).toEqual(['alt 0 0']);
    },
  );

  it("reads IN data into the caller's buffer and reports the length", async () => {
    const { handle, dev } = await openFake();
    dev.inResponses.push(Uint8Array.of(1, 2, 3));
    const buf = new Uint8Array(8);
    await expect(handle.bulkIn(0x81, buf, 500)).resolves.toEqual({ status: TransferStatus.OK, actualLength: 3 });
    expect([...buf.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
  });

  it('resolves a stall rejection as status stall', async () => {
    const { handle, dev } = await openFake();
    dev.inResponses.push(new Error('transferIn error: Stall'));
    await expect(handle.bulkIn(0x81, new Uint8Array(13), 500)).resolves.toMatchObject({ status: TransferStatus.STALL });
  });

  it('tells a timeout from a cancellation by who cancelled', async () => {
    const { handle } = await openFake();
    await expect(handle.bulkIn(0x81, new Uint8Array(13), 20)).resolves.toMatchObject({
      status: TransferStatus.TIMEOUT,
    });
    const ac = new AbortController();
    const p = handle.bulkIn(0x81, new Uint8Array(13), 5_000, ac.signal);
    ac.abort();
    await expect(p).resolves.toMatchObject({ status: TransferStatus.CANCELLED });
  });

  it('refuses a second transfer on the same endpoint, and a timeout of 0', async () => {
    const { handle } = await openFake();
    const first = handle.bulkIn(0x81, new Uint8Array(13), 50);
    await expect(handle.bulkIn(0x81, new Uint8Array(13), 50)).rejects.toSatisfy((e) =>
      isUsbScsiError(e, 'E_BAD_INPUT'),
    );
    await first;
    await expect(handle.bulkOut(0x02, new Uint8Array(1), 0)).rejects.toSatisfy((e) => isUsbScsiError(e, 'E_BAD_INPUT'));
  });

  it('close settles pending transfers as cancelled; later calls throw E_DEVICE_GONE', async () => {
    const { handle } = await openFake();
    const p = handle.bulkIn(0x81, new Uint8Array(13), 300);
    await handle.close(); // waits for node-usb's transfer to end (its timeout): node-usb refuses close() while one runs
    await expect(p).resolves.toMatchObject({ status: TransferStatus.CANCELLED });
    await expect(handle.bulkIn(0x81, new Uint8Array(13), 50)).rejects.toSatisfy((e) =>
      isUsbScsiError(e, 'E_DEVICE_GONE'),
    );
  });

  it('calls that change the device wait for a transfer in flight (node-usb refuses them meanwhile)', async () => {
    const { handle, dev, calls } = await openFake();
    let busy = false;
    const inner = dev.nativeTransferIn.bind(dev);
    dev.nativeTransferIn = (ep: number, t: number, l: number) => {
      busy = true;
      return inner(ep, t, l).finally(() => {
        busy = false;
      });
    };
    dev.releaseInterface = async (n: number) => {
      if (busy) throw new Error('The same native value cannot be borrowed mutably while another borrow is active');
      calls.push(`release ${n}`);
    };
    const p = handle.bulkIn(0x81, new Uint8Array(13), 200);
    await handle.releaseInterface(0);
    expect(calls).toContain('release 0');
    await expect(p).resolves.toMatchObject({ status: TransferStatus.TIMEOUT });
  });

  it('close() releases the interfaces the handle claimed', async () => {
    const { handle, calls } = await openFake();
    await handle.claimInterface(0);
    await handle.close();
    expect(calls.slice(-2)).toEqual(['release 0', 'close']);
  });

  it('after resetDevice the handle is dead', async () => {
    const { handle } = await openFake();
    await handle.resetDevice();
    await expect(handle.claimInterface(0)).rejects.toSatisfy((e) => isUsbScsiError(e, 'E_DEVICE_GONE'));
  });

  it('on macOS a failed claim is E_BUSY and says to use the native addon', async () => {
    const { handle, calls } = await openFake('darwin', {
      claimInterface: async () => {
        throw new Error('failed to claim interface');
      },
    });
    expect(handle.capabilities).toEqual({ fdStreaming: false, kernelDriver: false, cancellableTransfers: false });
    await handle.detachKernelDriver(0); // a no-op on macOS
    expect(calls).not.toContain('detach 0');
    await expect(handle.claimInterface(0)).rejects.toSatisfy(
      (e) => isUsbScsiError(e, 'E_BUSY') && /native addon/.test((e as Error).message),
    );
  });

  it('maps errors by the OS error number nusb appends, not by words in the text', async () => {
    const cases: Array<[string, string]> = [
      ['clearHalt error: failed to clear halt (errno 19)', 'E_DEVICE_GONE'], // ENODEV
      ['clearHalt error: failed to clear halt (errno 108)', 'E_DEVICE_GONE'], // ESHUTDOWN
      ['clearHalt error: failed to clear halt (errno 13)', 'E_PERMISSION'], // EACCES
      ['clearHalt error: failed to clear halt (errno 16)', 'E_BUSY'], // EBUSY
      ['clearHalt error: failed to clear halt (errno 12)', 'E_NO_MEMORY'], // ENOMEM
      ['clearHalt error: failed to clear halt (error 0xe00002c0)', 'E_DEVICE_GONE'], // macOS kIOReturnNoDevice
      ['clearHalt error: failed to clear halt (error 0xe00002c5)', 'E_BUSY'], // macOS kIOReturnExclusiveAccess
      // A second transfer on a busy endpoint reads "endpoint not found": the device is still there.
      ['clearHalt error: endpoint not found', 'E_IO'],
      ['clearHalt error: failed to clear halt (errno 5)', 'E_IO'], // EIO
    ];
    for (const [text, code] of cases) {
      const { handle } = await openFake('linux', {
        clearHalt: async () => {
          throw new Error(text);
        },
      });
      await expect(handle.clearHalt(0x81), text).rejects.toMatchObject({ code });
    }
    expect(failureOfOsError('no number here')).toBeNull();
  });

  it('a stalled control IN resolves as stall', async () => {
    const { handle } = await openFake();
    await expect(
      handle.controlTransfer({ requestType: 0xa1, request: 0xfe, value: 0, index: 0 }, 1, 500),
    ).resolves.toMatchObject({ status: TransferStatus.STALL });
  });

  it('opening a device that left is E_DEVICE_GONE', async () => {
    const { dev } = fakeDevice();
    let devices = [dev as never];
    const backend = new NodeUsbBackend({ nativeGetDevices: async () => devices }, null, 'linux');
    const [info] = await backend.list();
    devices = [];
    await expect(backend.open(info!)).rejects.toSatisfy((e) => isUsbScsiError(e, 'E_DEVICE_GONE'));
  });

  it('loads the real usb package here (it is installed) and lists without throwing', async () => {
    const r = await loadNodeUsbBackend();
    expect(r.reason).toBeUndefined();
    await expect(r.backend!.list()).resolves.toBeInstanceOf(Array);
  });
});
