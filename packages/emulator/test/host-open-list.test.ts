import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  LeaseJournal,
  UsbScsiError,
  openDevice,
  type UsbBackend,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
} from '@usbscsi/core';
import { FakeHandoffPlatform, defaultFakeOsState } from '@usbscsi/core/testing';
import { EmulatorBackend, SimulatedDevice } from '@usbscsi/emulator';

// Listing walks every device and its OS storage (sysfs, IORegistry): openDevice lists once, and
// a second time only when the lease's capture re-enumerated the device (macOS) so that its old
// address is gone.

/**
 * Counts list() calls; with `reenumerateOnDetach`, the device takes a new address once the fake OS detached its driver.
 */
class CountingBackend implements UsbBackend {
  readonly name = 'counting';
  lists = 0;
  private readonly moved = new Set<string>();

  constructor(
    private readonly inner: EmulatorBackend,
    private readonly platform?: FakeHandoffPlatform,
  ) {}

  private reenumerated(): boolean {
    return this.platform !== undefined && this.platform.read().driver === null;
  }

  async list(): Promise<UsbDeviceInfo[]> {
    this.lists += 1;
    const devices = await this.inner.list();
    if (!this.reenumerated()) return devices;
    return devices.map((d) => {
      this.moved.add(d.id);
      return { ...d, deviceAddress: d.deviceAddress + 10 };
    });
  }

  async open(device: UsbDeviceInfo): Promise<UsbDeviceHandle> {
    const stale = this.reenumerated() && !(this.moved.has(device.id) && device.deviceAddress >= 10);
    if (stale) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `no device at address ${device.deviceAddress} any more`);
    return this.inner.open(device);
  }
}

function leaseFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'usbscsi-open-list-'));
  const platform = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
  const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
  const sim = new SimulatedDevice({
    kernelDriver: 'usb-storage',
    storage: { blockDevices: ['/dev/sdzz'], sgDevices: ['/dev/sg9999'] },
  });
  return { platform, journal, inner: new EmulatorBackend({ devices: [sim] }) };
}

describe('openDevice lists devices once', () => {
  it('when no driver holds the interface', async () => {
    const backend = new CountingBackend(new EmulatorBackend({ devices: [new SimulatedDevice()] }));
    const device = await openDevice({ backend });
    expect((await device.inquiry()).vendor).toMatch(/\S/);
    await device.close();
    expect(backend.lists).toBe(1);
  });

  it('when it takes the interface from the OS through a lease', async () => {
    const { platform, journal, inner } = leaseFixture();
    const backend = new CountingBackend(inner);
    const device = await openDevice({
      backend,
      transport: 'bot',
      lease: { unmount: true, platform, journal, registry: null },
    });
    expect((await device.inquiry()).vendor).toMatch(/\S/);
    await device.close();
    expect(backend.lists).toBe(1);
  });

  it('and once more when the capture re-enumerated the device, finding it again where it is plugged', async () => {
    const { platform, journal, inner } = leaseFixture();
    const backend = new CountingBackend(inner, platform);
    const device = await openDevice({
      backend,
      transport: 'bot',
      lease: { unmount: true, platform, journal, registry: null },
    });
    expect((await device.inquiry()).vendor).toMatch(/\S/);
    expect(device.description.usb?.deviceAddress).toBeGreaterThanOrEqual(10);
    await device.close();
    expect(backend.lists).toBe(2);
    expect(platform.read().driver).toBe('usb-storage');
  });
});
