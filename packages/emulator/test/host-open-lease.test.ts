import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LeaseJournal, LeaseRegistry, openDevice, type UsbScsiError } from '@usbscsi/core';
import { FakeHandoffPlatform, defaultFakeOsState } from '../../core/src/testing/fake-platform.js';
import { EmulatorBackend, SimulatedDevice } from '@usbscsi/emulator';

// openDevice's handoff path: when the OS driver holds the BOT interface, BOT only
// proceeds through a lease (here on a fake OS whose state is a file), refusing a
// mounted medium unless asked to unmount, and giving everything back on close.

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'usbscsi-open-lease-'));
  const platform = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
  const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
  const sim = new SimulatedDevice({
    kernelDriver: 'usb-storage',
    storage: {
      blockDevices: ['/dev/sdzz'],
      sgDevices: ['/dev/sg9999'],
      mounts: [{ device: '/dev/sda1', mountPoint: '/media/stick' }],
    },
  });
  const backend = new EmulatorBackend({ devices: [sim] });
  return { platform, journal, sim, backend };
}

describe('openDevice over BOT when the OS holds the interface', () => {
  it('refuses with E_MOUNTED (naming the mounts) and leaves the OS as it was', async () => {
    const { platform, journal, backend, sim } = fixture();
    const err = (await openDevice({ backend, transport: 'bot', lease: { platform, journal, registry: null } }).catch(
      (e) => e,
    )) as UsbScsiError;
    expect(err.code).toBe(ErrorCodes.MOUNTED);
    expect(err.message).toMatch(/\/media\/stick/);
    expect(platform.read().driver).toBe('usb-storage');
    expect(platform.read().mounts.length).toBe(2);
    expect(sim.stats.commands).toBe(0);
  });

  it('with unmount: unmounts, detaches, works, and on close re-attaches and re-mounts', async () => {
    const { platform, journal, backend } = fixture();
    const dev = await openDevice({
      backend,
      transport: 'bot',
      lease: { unmount: true, platform, journal, registry: null },
    });
    expect(platform.read().mounts).toEqual([]);
    expect(platform.read().driver).toBeNull();
    expect((await journal.list()).length).toBe(1);
    expect((await dev.inquiry()).vendor).toMatch(/\S/);
    await dev.close();
    const after = platform.read();
    expect(after.driver).toBe('usb-storage');
    expect(after.mounts.map((m) => m.mountPoint).sort()).toEqual(['/media/stick', '/media/stick/data']);
    expect(await journal.list()).toEqual([]);
  });

  it(
    'a release from the registry (what a signal does) drops the USB claim first, then ' + 'gives the device back',
    async () => {
      const { platform, journal, backend } = fixture();
      const fakeHost = {
        pid: process.pid,
        on: () => undefined,
        removeListener: () => undefined,
        kill: () => undefined,
      };
      const registry = new LeaseRegistry({ signals: [], host: fakeHost } as ConstructorParameters<
        typeof LeaseRegistry
      >[0]);
      const dev = await openDevice({
        backend,
        transport: 'bot',
        lease: { unmount: true, platform, journal, registry },
      });
      expect(platform.read().driver).toBeNull();
      await registry.releaseAll();
      expect(platform.read().driver).toBe('usb-storage');
      const err = (await dev.testUnitReady().catch((e) => e)) as UsbScsiError;
      expect(err.code).toBe(ErrorCodes.DEVICE_GONE);
      await dev.close();
      registry.uninstall();
    },
  );

  it('auto transport prefers SG_IO when the kernel owns the device (no detach at all)', async () => {
    const { platform, journal, backend } = fixture();
    const err = (await openDevice({ backend, lease: { platform, journal, registry: null } }).catch(
      (e) => e,
    )) as UsbScsiError;
    // The simulated /dev/sg9999 does not exist on this host: SG_IO is chosen (no lease, no
    // detach), and opening the node reports that it is missing.
    expect(err.code).toBe(ErrorCodes.NOT_FOUND);
    expect(err.message).toMatch(/\/dev\/sg9999 does not exist/);
    expect(platform.read().driver).toBe('usb-storage');
    expect(platform.read().log).toEqual([]);
  });
});
