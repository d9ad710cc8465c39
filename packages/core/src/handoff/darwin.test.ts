import { describe, expect, it } from 'vitest';
import { isUsbScsiError, UsbScsiError } from '../errors.js';
import { FakeMac } from '../testing/fake-darwin-native.js';
import { darwinStorageBindings, darwinStorageBindingsAt, locationIdOf } from '../topology/darwin-registry.js';
import { createDarwinPlatform } from './darwin.js';
import { acquireLease } from './lease.js';
import type { LeaseDevice, StepOptions } from './platform.js';

const LOCATION = 0x14320000; // bus 0x14, ports 3 → 2
const device: LeaseDevice = {
  vendorId: 0x05e3,
  productId: 0x0749,
  serialNumber: 'S1',
  busNumber: 0x14,
  portNumbers: [3, 2],
  interfaceNumber: 0,
};

function mac(): FakeMac {
  const fake = new FakeMac();
  fake.addDevice({
    locationId: LOCATION,
    vendorId: 0x05e3,
    productId: 0x0749,
    serialNumber: 'S1',
    diskNumber: 4,
    volumes: [
      { index: 1, kind: 'msdos', name: 'CARD', mounted: true },
      { index: 2, kind: 'exfat', name: 'DATA', mounted: true },
    ],
  });
  return fake;
}

function step(timeoutMs = 1000): StepOptions {
  return { signal: new AbortController().signal, timeoutMs };
}

async function rejection(promise: Promise<unknown>): Promise<UsbScsiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UsbScsiError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

const quickLease = { journal: null, registry: null, timeouts: { waitForStorage: 2000, mount: 2000 } } as const;

describe('darwin handoff platform', () => {
  it('maps a libusb bus/port path to the IOKit location id and refuses paths it cannot express', () => {
    expect(locationIdOf(0x14, [3, 2])).toBe(LOCATION);
    expect(locationIdOf(1, [])).toBe(0x01000000);
    expect(() => locationIdOf(1, [16])).toThrow(/each port 1\.\.15/);
  });

  it('describes the device: whole disk, partitions, mounted volumes with their whole disk', async () => {
    const storage = await createDarwinPlatform({ native: mac() }).describe(device, step());
    expect(storage).toEqual({
      driver: 'IOUSBMassStorageInterfaceNub',
      wholeDisks: ['disk4'],
      partitions: ['disk4s1', 'disk4s2'],
      mounts: [
        { device: 'disk4s1', mountPoint: '/Volumes/CARD', fsType: 'msdos', options: 'rw', wholeDisk: 'disk4' },
        { device: 'disk4s2', mountPoint: '/Volumes/DATA', fsType: 'exfat', options: 'rw', wholeDisk: 'disk4' },
      ],
    });
  });

  it("gives a USB backend the contract's StorageBinding per mass-storage interface", async () => {
    const [listed] = await mac().listStorage();
    expect(darwinStorageBindings(listed!)).toEqual([
      {
        interfaceNumber: 0,
        driver: 'IOUSBMassStorageInterfaceNub',
        blockDevices: ['disk4'],
        sgDevices: [],
        mounts: [
          { device: 'disk4s1', mountPoint: '/Volumes/CARD', fsType: 'msdos' },
          { device: 'disk4s2', mountPoint: '/Volumes/DATA', fsType: 'exfat' },
        ],
      },
    ]);
  });

  it('finds the bindings of a libusb bus/port path, and none where macOS lists no storage', async () => {
    const fake = mac();
    expect((await darwinStorageBindingsAt(0x14, [3, 2], fake))[0]?.blockDevices).toEqual(['disk4']);
    expect(await darwinStorageBindingsAt(0x14, [3, 1], fake)).toEqual([]);
  });

  it('refuses a different device at the same port with E_DEVICE_GONE', async () => {
    const err = await rejection(
      createDarwinPlatform({ native: mac() }).describe({ ...device, serialNumber: 'OTHER' }, step()),
    );
    expect(err.code).toBe('E_DEVICE_GONE');
    expect(err.message).toMatch(/different device.*serial S1/);
  });

  it('an unmount refusal is E_BUSY with the dissenter in details.holders and says how to find the holder', async () => {
    const fake = mac();
    fake.busyDissenter = { statusString: 'Volume in use' };
    const platform = createDarwinPlatform({ native: fake, run: async () => ({ code: 1, stdout: '', stderr: '' }) });
    const storage = await platform.describe(device, step());
    const err = await rejection(platform.unmount({ wholeDisk: 'disk4', filesystems: storage.mounts }, step()));
    expect(err.code).toBe('E_BUSY');
    expect(err.details.holders).toEqual([
      { bsdName: 'disk4', status: 0xf8da0002, statusName: 'kDAReturnBusy', statusString: 'Volume in use', pid: null },
    ]);
    expect(err.message).toContain('macOS refused to unmount disk4 (kDAReturnBusy, 0xf8da0002)');
    expect(err.message).toContain("sudo lsof +f -- '/Volumes/CARD'");
    expect(err.message).toMatch(/Spotlight.*Time Machine/);
    // Still mounted: a refused whole-disk unmount leaves nothing half-done.
    expect((await platform.describe(device, step())).mounts).toHaveLength(2);
  });

  it('names the processes lsof sees on a busy volume, after the dissenter', async () => {
    const fake = mac();
    fake.busyDissenter = {};
    const lsofCalls: string[][] = [];
    const run = async (command: string, args: string[]) => {
      lsofCalls.push([command, ...args]);
      return args.at(-1) === '/Volumes/CARD'
        ? { code: 0, stdout: 'p412\ncmds_stores\np77\ncbash\n', stderr: '' }
        : { code: 1, stdout: '', stderr: '' };
    };
    const platform = createDarwinPlatform({ native: fake, run });
    const storage = await platform.describe(device, step());
    const err = await rejection(platform.unmount({ wholeDisk: 'disk4', filesystems: storage.mounts }, step()));
    expect(lsofCalls[0]).toEqual(['lsof', '-F', 'pc', '+f', '--', '/Volumes/CARD']);
    expect(err.details.holders).toEqual([
      { bsdName: 'disk4', status: 0xf8da0002, statusName: 'kDAReturnBusy', pid: null },
      { pid: 412, command: 'mds_stores', mountPoint: '/Volumes/CARD' },
      { pid: 77, command: 'bash', mountPoint: '/Volumes/CARD' },
    ]);
    expect(err.message).toContain('mds_stores (pid 412), bash (pid 77)');
  });

  it('a refused whole-disk unmount that took some volumes re-mounts them before rejecting', async () => {
    const fake = mac();
    const platform = createDarwinPlatform({ native: fake, run: async () => ({ code: 1, stdout: '', stderr: '' }) });
    const storage = await platform.describe(device, step());
    // DiskArbitration unmounted CARD, then DATA's dissenter refused.
    fake.unmountDisk = async (bsdName) => {
      fake.devices[0]!.volumes[0]!.mounted = false;
      throw Object.assign(new Error('refused'), {
        code: 'E_BUSY',
        operation: 'unmount',
        bsdName,
        osStatusName: 'kDAReturnBusy',
        dissenter: { status: 0xf8da0002, statusName: 'kDAReturnBusy' },
      });
    };
    const err = await rejection(platform.unmount({ wholeDisk: 'disk4', filesystems: storage.mounts }, step()));
    expect(err.code).toBe('E_BUSY');
    expect(fake.calls).toContain('mountDisk disk4s1');
    expect((await platform.describe(device, step())).mounts.map((m) => m.device)).toEqual(['disk4s1', 'disk4s2']);
  });

  it('a capture without root or entitlement is E_PERMISSION naming sudo, the entitlement and codesign', async () => {
    const fake = mac();
    fake.privileged = false;
    const platform = createDarwinPlatform({ native: fake });
    const err = await rejection(platform.detachDriver(device, await platform.describe(device, step()), step()));
    expect(err.code).toBe('E_PERMISSION');
    expect(err.message).toContain('kIOReturnNotPrivileged');
    expect(err.message).toContain('sudo');
    expect(err.message).toContain('com.apple.vm.device-access');
    expect(err.message).toMatch(/provisioning profile/);
    expect(err.message).toMatch(/codesign .*--entitlements/);
  });

  it('a lease round trip: unmount, capture, release, the disk comes back renamed and mounted', async () => {
    const fake = mac();
    const states: string[] = [];
    const lease = await acquireLease(device, {
      platform: createDarwinPlatform({ native: fake }),
      unmount: true,
      ...quickLease,
      onStateChange: (s) => states.push(s),
    });
    expect(lease.state).toBe('held');
    expect(fake.calls).toContain('unmountDisk disk4');
    expect(fake.calls).toContain('capture 14320000');
    expect(fake.devices[0]!.captured).toBe(true);

    const report = await lease.release();
    expect(fake.calls).toContain('release 14320000');
    expect(report.storage?.wholeDisks).toEqual(['disk10']);
    // DiskArbitration auto-mounted them: nothing to mount ourselves.
    expect(fake.calls.some((c) => c.startsWith('mountDisk'))).toBe(false);
    expect(report.remounted.map((m) => m.device)).toEqual(['disk10s1', 'disk10s2']);
    expect(states).toEqual(['unmounting', 'detaching', 'held', 'releasing', 'reattaching', 'remounting', 'released']);
  });

  it('gives back a captured device that shows no interfaces at all', async () => {
    const fake = mac();
    fake.devices[0]!.interfacesVanishOnCapture = true;
    const lease = await acquireLease(device, {
      platform: createDarwinPlatform({ native: fake }),
      unmount: true,
      ...quickLease,
    });
    expect((await createDarwinPlatform({ native: fake }).describe(device, step())).driver).toBeNull();
    const report = await lease.release();
    expect(fake.calls).toContain('release 14320000');
    expect(report.remounted).toHaveLength(2);
  });

  it('refuses an interface that is not a mass-storage interface of the device (E_BAD_INPUT)', async () => {
    const err = await rejection(
      createDarwinPlatform({ native: mac() }).describe({ ...device, interfaceNumber: 3 }, step()),
    );
    expect(err.code).toBe('E_BAD_INPUT');
    expect(err.message).toMatch(/Interface 3 .*\(mass-storage interfaces: 0\)/);
  });

  it('mounts the renamed disk itself when DiskArbitration does not auto-mount it', async () => {
    const fake = mac();
    fake.automount = false;
    const lease = await acquireLease(device, {
      platform: createDarwinPlatform({ native: fake, automountGraceMs: 50 }),
      unmount: true,
      ...quickLease,
    });
    const report = await lease.release();
    expect(fake.calls).toContain('mountDisk disk10 whole');
    expect(report.remounted.map((m) => m.device)).toEqual(['disk10s1', 'disk10s2']);
    expect(fake.devices[0]!.volumes.every((v) => v.mounted)).toBe(true);
  });

  it(
    'rolls back when the capture is refused: the unmounted disk is mounted again and ' + 'E_PERMISSION is thrown',
    async () => {
      const fake = mac();
      fake.privileged = false;
      const err = await rejection(
        acquireLease(device, {
          platform: createDarwinPlatform({ native: fake, automountGraceMs: 50 }),
          unmount: true,
          ...quickLease,
        }),
      );
      expect(err.code).toBe('E_PERMISSION');
      expect(err.details.rolledBack).toBe(true);
      expect(fake.calls).toContain('unmountDisk disk4');
      expect(fake.calls).toContain('mountDisk disk4 whole');
      expect(fake.devices[0]!.volumes.every((v) => v.mounted)).toBe(true);
      expect(fake.devices[0]!.captured).toBe(false);
    },
  );

  it('refuses a mounted device without --unmount and touches nothing (E_MOUNTED)', async () => {
    const fake = mac();
    const err = await rejection(
      acquireLease(device, { platform: createDarwinPlatform({ native: fake }), ...quickLease }),
    );
    expect(err.code).toBe('E_MOUNTED');
    expect(fake.calls.filter((c) => c !== 'listStorage')).toEqual([]);
  });

  it('attachDriver is idempotent: a device the OS already has back is not re-enumerated', async () => {
    const fake = mac();
    await createDarwinPlatform({ native: fake }).attachDriver(
      device,
      { driver: 'IOUSBMassStorageInterfaceNub', target: 'locationID 0x14320000' },
      step(),
    );
    expect(fake.calls.some((c) => c.startsWith('release'))).toBe(false);
  });

  it('waitForStorage gives up promptly when its signal aborts, in short native slices', async () => {
    const fake = mac();
    fake.devices[0]!.captured = true;
    const platform = createDarwinPlatform({ native: fake, sliceMs: 20 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 60);
    const started = Date.now();
    const err = await rejection(
      platform.waitForStorage(
        device,
        { driver: 'x', wholeDiskCount: 1, partitionCount: 2 },
        { signal: controller.signal, timeoutMs: 10_000 },
      ),
    );
    expect(err.code).toBe('E_CANCELLED');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.calls.filter((c) => c === 'waitForStorage').length).toBeGreaterThan(1);
  });

  it('waitForStorage times out with E_TIMEOUT naming what was expected', async () => {
    const fake = mac();
    fake.devices[0]!.captured = true;
    const err = await rejection(
      createDarwinPlatform({ native: fake, sliceMs: 20 }).waitForStorage(
        device,
        { driver: 'x', wholeDiskCount: 1, partitionCount: 2 },
        step(80),
      ),
    );
    expect(isUsbScsiError(err, 'E_TIMEOUT')).toBe(true);
    expect(err.message).toMatch(/1 disk\(s\) and 2 partition\(s\) within 80 ms/);
  });

  it('process identity comes from the native start time; an unknown pid is null', async () => {
    const platform = createDarwinPlatform({ native: mac() });
    expect(await platform.processIdentity(process.pid)).toEqual({ pid: process.pid, startTime: '1700000000.123456' });
    expect(await platform.processIdentity(999_999_999)).toBeNull();
  });
});
