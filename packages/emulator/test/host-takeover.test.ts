import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LeaseJournal, TransferStatus, openDevice, unmountTargets, type UsbScsiError } from '@usbscsi/core';
import { FakeHandoffPlatform, defaultFakeOsState } from '../../core/src/testing/fake-platform.js';
import { EmulatorBackend, SimulatedDevice } from '../src/index.js';
import { IN, OUT, rawCbw } from './raw-bot.js';

// Opening a device someone else used: no self-inflicted UNIT ATTENTION (f_mass_storage takes
// every SET_INTERFACE as a reset), reset recovery before the first command (a holder died
// mid-command), a dead holder's lease recovered first, a UAS-only device refused untouched.

const READ10_8 = [0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0];

describe('opening for BOT raises no UNIT ATTENTION of its own', () => {
  it(
    'on an f_mass_storage-like device (SET_INTERFACE = reset): no SET_INTERFACE, and ' + 'TUR is GOOD at once',
    async () => {
      const sim = new SimulatedDevice({ setInterfaceResets: true });
      const dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }), transport: 'bot' });
      try {
        expect(await dev.testUnitReady()).toEqual({});
        expect(sim.interfaceRequests.setInterface).toBe(0);
      } finally {
        await dev.close();
      }
    },
  );

  it(
    'a UAS bridge left at its UAS setting is asked (GET_INTERFACE) and switched to BOT ' +
      'once; the unit attention it raises is reported and retried',
    async () => {
      const sim = new SimulatedDevice({ interfaces: 'bot+uas', setInterfaceResets: true });
      sim.alternateSetting = 1; // where the kernel's uas driver left it
      const dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }), transport: 'bot' });
      try {
        expect([sim.interfaceRequests.getInterface, sim.interfaceRequests.setInterface, sim.alternateSetting]).toEqual([
          1, 1, 0,
        ]);
        const first = await dev.testUnitReady();
        expect(first.unitAttention).toMatchObject({ senseKey: 6, asc: 0x29, ascq: 0 });
        expect(await dev.testUnitReady()).toEqual({});
      } finally {
        await dev.close();
      }
    },
  );

  it('a TUR that still fails after the retry carries the unit attention it saw first', async () => {
    const sim = new SimulatedDevice();
    sim.lun(0).unitAttention = { key: 6, asc: 0x28, ascq: 0 };
    sim.faults.inject({ kind: 'not-ready', reason: 'medium-not-present', opcode: 0x00, once: false });
    const dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }), transport: 'bot' });
    try {
      const err = (await dev.testUnitReady().catch((e) => e)) as UsbScsiError;
      expect(err.code).toBe(ErrorCodes.CHECK_CONDITION);
      expect(err.details).toMatchObject({ senseKey: 2, asc: 0x3a, unitAttention: { senseKey: 6, asc: 0x28 } });
      expect(err.message).toMatch(/MEDIUM NOT PRESENT.*after a UNIT ATTENTION/);
    } finally {
      await dev.close();
    }
  });
});

describe('taking over a device whose holder died mid-command', () => {
  it('the first command succeeds: reset recovery runs at open, before it', async () => {
    const sim = new SimulatedDevice();
    const backend = new EmulatorBackend({ devices: [sim] });
    const [info] = await backend.list();
    // The dead holder: a READ(10) of 4096 bytes sent, 512 of them taken, then gone.
    const dead = await backend.open(info!);
    await dead.claimInterface(0);
    expect((await dead.bulkOut(OUT, rawCbw({ length: 4096, dirIn: true, cdb: READ10_8 }), 1000)).status).toBe(
      TransferStatus.OK,
    );
    expect((await dead.bulkIn(IN, new Uint8Array(512), 1000)).status).toBe(TransferStatus.OK);
    await dead.close();
    expect(sim.bot.state).toBe('data-in');

    const dev = await openDevice({ backend, transport: 'bot' });
    try {
      expect(await dev.testUnitReady({ timeoutMs: 1000 })).toEqual({});
      expect(sim.stats.resets).toBe(1);
    } finally {
      await dev.close();
    }
  });
});

describe('a lease left in the journal by a dead holder', () => {
  it('openDevice on the interface it left unbound recovers that lease first, says so, then takes its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usbscsi-takeover-'));
    const os = defaultFakeOsState();
    const platform = new FakeHandoffPlatform({
      stateFile: join(dir, 'os.json'),
      initial: { ...os, driver: null, mounts: [] },
    });
    const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
    const sim = new SimulatedDevice({ storage: { blockDevices: ['/dev/sdzz'] } }); // the OS view: no driver bound
    const device = {
      vendorId: sim.vendorId,
      productId: sim.productId,
      serialNumber: sim.serialNumber,
      busNumber: 1,
      portNumbers: [1],
      configurationValue: 1,
      interfaceNumber: 0,
    };
    await journal.put({
      id: 'dead',
      platform: 'fake',
      device,
      holder: { pid: 999_999_999, startTime: 'x' },
      status: 'held',
      wholeDisks: ['/dev/sda'],
      unmounted: unmountTargets(os.mounts, 'filesystem'),
      detached: { driver: 'usb-storage', target: '1-1:1.0' },
      expected: { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 2 },
      remount: true,
      createdAt: '',
      updatedAt: '',
    });
    const notices: string[] = [];
    const dev = await openDevice({
      backend: new EmulatorBackend({ devices: [sim] }),
      transport: 'bot',
      lease: { unmount: true, platform, journal, registry: null, onNotice: (m) => notices.push(m) },
    });
    try {
      expect(notices.join('\n')).toMatch(
        /process 999999999, which died without giving it back: recovered it first \(re-attached usb-storage/,
      );
      expect((await journal.list()).map((e) => e.holder.pid)).toEqual([process.pid]);
      expect(await dev.testUnitReady()).toEqual({});
    } finally {
      await dev.close();
    }
    expect(platform.read().driver).toBe('usb-storage');
    expect(
      platform
        .read()
        .mounts.map((m) => m.mountPoint)
        .sort(),
    ).toEqual(['/media/stick', '/media/stick/data']);
    expect(await journal.list()).toEqual([]);
  });
});

describe('a UAS-only device', () => {
  function uasFixture(kernelDriver: string | null) {
    const dir = mkdtempSync(join(tmpdir(), 'usbscsi-uas-'));
    const platform = new FakeHandoffPlatform({
      stateFile: join(dir, 'os.json'),
      initial: defaultFakeOsState({ driver: kernelDriver }),
    });
    const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
    const sim = new SimulatedDevice({
      interfaces: 'uas-only',
      kernelDriver,
      storage: {
        blockDevices: ['/dev/sdzz'],
        sgDevices: ['/dev/sg77'],
        mounts: [{ device: '/dev/sdzz1', mountPoint: '/media/uas' }],
      },
    });
    return { platform, journal, sim, backend: new EmulatorBackend({ devices: [sim] }) };
  }

  it(
    'mounted and held by uas: refused before any lease with E_UNSUPPORTED naming UAS ' +
      'and SG_IO, not E_MOUNTED; nothing touched',
    async () => {
      const { platform, journal, sim, backend } = uasFixture('uas');
      const err = (await openDevice({
        backend,
        transport: 'bot',
        lease: { unmount: true, platform, journal, registry: null },
      }).catch((e) => e)) as UsbScsiError;
      expect(err.code).toBe(ErrorCodes.UNSUPPORTED);
      expect(err.message).toMatch(/USB Attached SCSI \(UAS, protocol 0x62\) only/);
      expect(err.message).toMatch(/nothing was touched \(uas still holds it\)/);
      expect(err.message).toMatch(/SG_IO .*--device \/dev\/sg77/);
      expect(platform.read().log).toEqual([]);
      expect(await journal.list()).toEqual([]);
      expect(sim.kernelDriver).toBe('uas');
      expect(sim.forcedUnmounts).toEqual([]);
    },
  );

  it('with no driver bound, transport bot is refused the same way; auto takes UAS (no SG_IO node)', async () => {
    const { platform, journal, backend } = uasFixture(null);
    const err = (await openDevice({ backend, transport: 'bot', lease: { platform, journal, registry: null } }).catch(
      (e) => e,
    )) as UsbScsiError;
    expect(err.code).toBe(ErrorCodes.UNSUPPORTED);
    expect(err.message).toMatch(/--transport uas/);
    expect(platform.read().log).toEqual([]);
    const device = await openDevice({ backend, lease: { platform, journal, registry: null } });
    try {
      expect(device.transportKind).toBe('uas');
      expect((await device.inquiry()).vendor).toBeTruthy();
    } finally {
      await device.close();
    }
  });
});
