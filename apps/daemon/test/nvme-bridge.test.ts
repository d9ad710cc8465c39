import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRemoteDevice, type ScsiDevice } from '@usbscsi/core';
import type { EmulatorBackend } from '@usbscsi/emulator';
import { createCoreProvider } from '../src/core-provider.js';
import { createSimBackend } from '../src/sim.js';
import { startTestDaemon, type TestDaemon } from './helpers.js';

// The daemon serves NVMe bridges through its generic execute route: the client's core builds
// the bridge CDBs (and decides consent); usbscsid only queues them to the device.

describe('usbscsid serves USB-NVMe bridges through /execute', () => {
  let t: TestDaemon;
  let backend: EmulatorBackend;
  const opened: ScsiDevice[] = [];
  const remote = async (selector: string) => {
    const d = await openRemoteDevice({ via: `unix:${t.socketPath}`, selector });
    opened.push(d);
    return d;
  };

  beforeEach(async () => {
    backend = createSimBackend(['sim:bridge=jms583', 'sim:bridge=rtl9210', 'sim:bridge=asm2362']);
    t = await startTestDaemon(await createCoreProvider({ backend, transport: 'bot' }), { idleCloseMs: 200 });
  });
  afterEach(async () => {
    for (const d of opened.splice(0)) await d.close().catch(() => undefined);
    await t.stop();
  });

  it.each([
    ['1-1', 'jmicron'],
    ['1-2', 'realtek'],
  ] as const)(
    '%s: health() finds the %s bridge by probing (no USB descriptors over the daemon) and reads the NVMe health',
    async (selector, kind) => {
      const h = await (await remote(selector)).health();
      expect(h.detection).toMatchObject({ path: 'nvme', via: 'probe', kind });
      expect(h.path === 'nvme' && h.smart).toMatchObject({ powerOnHours: 1873n, temperatureKelvin: 311 });
    },
  );

  it(
    'ASMedia: E6h is never probed unasked over the daemon (UAS unknown); named with bridge: ' + 'asmedia it works',
    async () => {
      const d = await remote('1-3');
      await expect(d.health()).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      expect(backend.devices[2]!.stats.history.some((h) => h.opcode === 0xe6)).toBe(false);
      const nvme = await d.nvme({ bridge: 'asmedia' });
      expect((await nvme.identifyController()).model).toBe('USBSCSI SIMULATED NVMe SSD 1TB');
      expect(await nvme.getFeature(0x06)).toBe(1);
    },
  );

  it(
    'JMS583 over the daemon: a Get Log Page asking the drive for more than 0x230 bytes ' +
      '(NUMDL) is refused before it reaches the daemon',
    async () => {
      const nvme = await (await remote('1-1')).nvme();
      const jms = backend.devices[0]!;
      const before = jms.stats.commands;
      await expect(
        nvme.admin({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x03ff0002, direction: 'in', length: 512 }),
      ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      expect(jms.stats.commands).toBe(before);
      expect(jms.connected).toBe(true);
    },
  );

  it(
    "consent is the client core's: a self-test without it never reaches the daemon; with " + 'it the drive runs it',
    async () => {
      const nvme = await (await remote('1-2')).nvme();
      const controller = backend.devices[1]!.nvme!.controller;
      const before = backend.devices[1]!.stats.commands;
      await expect(nvme.selfTest('extended')).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      expect(backend.devices[1]!.stats.commands).toBe(before);
      await nvme.selfTest('extended', { allowMediumWrite: true });
      expect(controller.commands.at(-1)).toMatchObject({ opcode: 0x14, cdw10: 2 });
    },
  );
});
