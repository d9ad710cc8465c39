import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, ScsiDevice, UsbScsiError, openDevice, type BridgeKind } from '@usbscsi/core';
import {
  EmulatorBackend,
  NVME_BRIDGE_PRESETS,
  SimulatedDevice,
  type NvmeBridgePresetName,
  type SimulatedDeviceOptions,
} from '@usbscsi/emulator';

// Integration tier: core's bridge protocols (ScsiDevice.nvme / health over BOT) against the
// emulator's bridge models and simulated NVMe controller, for every model and both modes.

let sim: SimulatedDevice;
let dev: ScsiDevice | undefined;

async function open(preset: NvmeBridgePresetName, extra: SimulatedDeviceOptions = {}): Promise<ScsiDevice> {
  sim = new SimulatedDevice({ ...NVME_BRIDGE_PRESETS[preset], luns: [{ blockSize: 512, blockCount: 2048 }], ...extra });
  // BOT: these cases read the commands back from the BOT device's history (UAS has its own tests).
  dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }), transport: 'bot' });
  return dev;
}

afterEach(async () => {
  await dev?.close().catch(() => undefined);
  dev = undefined;
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a typed error').toBeInstanceOf(UsbScsiError);
  return (err as UsbScsiError).code;
}

/** Opcodes the bridge model saw (its CDBs), in order, since `from`. */
function cdbOpcodes(from = 0): number[] {
  return sim.stats.history.slice(from).map((h) => h.opcode);
}

const MODELS: {
  name: string;
  preset: NvmeBridgePresetName;
  kind: BridgeKind;
  extra?: SimulatedDeviceOptions;
  completion: boolean;
  opcodes: number[];
}[] = [
  { name: 'JMicron JMS583 (A1h)', preset: 'jms583', kind: 'jmicron', completion: true, opcodes: [0xa1] },
  {
    name: 'ASMedia ASM2362 (E6h + EAh/EBh)',
    preset: 'asm2362',
    kind: 'asmedia',
    completion: true,
    opcodes: [0xe6, 0xea, 0xeb],
  },
  {
    name: 'ASMedia ASM2362, basic E6h only',
    preset: 'asm2362',
    kind: 'asmedia',
    extra: { nvmeBridge: { chip: 'asmedia', secondMode: false } },
    completion: false,
    opcodes: [0xe6],
  },
  {
    name: 'Realtek RTL9210 (E4h + E4h/E5h)',
    preset: 'rtl9210',
    kind: 'realtek',
    completion: true,
    opcodes: [0xe4, 0xe5],
  },
  {
    name: 'Realtek RTL9210, basic E4h only',
    preset: 'rtl9210',
    kind: 'realtek',
    extra: { nvmeBridge: { chip: 'realtek', secondMode: false } },
    completion: false,
    opcodes: [0xe4],
  },
];

describe.each(MODELS)(
  '$name: every admin command through the bridge',
  ({ preset, kind, extra, completion, opcodes }) => {
    it('health(): detected from the VID:PID table, NVMe SMART / health log decoded', async () => {
      const d = await open(preset, extra);
      const h = await d.health();
      expect(h.path).toBe('nvme');
      if (h.path !== 'nvme') return;
      expect(h.detection).toMatchObject({ via: 'table', kind });
      expect(h.identify.model).toBe('USBSCSI SIMULATED NVMe SSD 1TB');
      expect(h.identify.pciVendorId).toBe(0x1e4b);
      expect(h.smart).toMatchObject({
        criticalWarning: 0,
        temperatureKelvin: 311,
        availableSpare: 100,
        percentageUsed: 3,
        powerOnHours: 1873n,
        powerCycles: 412n,
        unsafeShutdowns: 37n,
        dataUnitsWritten: 19_876_543n,
      });
      expect(h.passed).toBe(true);
      expect(new Set(cdbOpcodes().filter((o) => o >= 0xa0))).toEqual(
        new Set(opcodes.filter((o) => o === 0xa1 || o === 0xe6 || o === 0xe4)),
      );
    });

    it('Identify Controller / Namespace, Get Log Page 01h 02h 03h 06h', async () => {
      const nvme = await (await open(preset, extra)).nvme();
      expect(nvme.bridge.kind).toBe(kind);
      const id = await nvme.identifyController();
      expect(id).toMatchObject({
        serial: 'SIMNVME0000000000001',
        firmware: '2B2QGXA7',
        versionString: '1.4',
        errorLogEntries: 64,
        supportsSelfTest: true,
        namespaces: 1,
      });
      const ns = await nvme.identifyNamespace(1);
      expect(ns).toMatchObject({ size: 1_953_525_168n, blockSize: 512 });
      const smart = await nvme.smartLog();
      expect(smart.hostReads).toBe(345_678_901n);
      const errors = await nvme.errorLog(4);
      expect(errors.entries.map((e) => e.errorCount)).toEqual([2n, 1n]);
      expect(errors.entries[0]!.statusText).toMatch(/Invalid Field in Command/);
      expect((await nvme.firmwareSlots()).slots[0]).toBe('2B2QGXA7');
      const st = await nvme.selfTestLog();
      expect(st.results.map((r) => r.codeText)).toEqual(['Short', 'Extended']);
      // The Identify Controller read while detecting is reused, not sent twice.
      expect(sim.nvme!.controller.commands.map((c) => c.opcode)).toEqual([0x06, 0x06, 0x02, 0x02, 0x02, 0x02]);
    });

    it(
      'Get Features, Device Self-test and firmware download/commit: where the bridge carries ' +
        'them, with consent for the writes',
      async () => {
        const nvme = await (await open(preset, extra)).nvme();
        if (!completion) {
          expect(await codeOf(nvme.getFeature(0x06))).toBe(ErrorCodes.UNSUPPORTED);
          expect(await codeOf(nvme.selfTest('short', { allowMediumWrite: true }))).toBe(ErrorCodes.UNSUPPORTED);
          expect(sim.nvme!.controller.commands.filter((c) => c.opcode !== 0x06)).toEqual([]);
          return;
        }
        expect(await nvme.getFeature(0x04)).toBe(343);
        const before = sim.nvme!.controller.commands.length;
        expect(await codeOf(nvme.selfTest('short'))).toBe(ErrorCodes.BAD_INPUT);
        expect(sim.nvme!.controller.commands.length, 'nothing reached the drive without consent').toBe(before);
        await nvme.selfTest('short', { allowMediumWrite: true });
        expect((await nvme.selfTestLog()).currentOperationText).toBe('Short self-test in progress');
        const done = await nvme.selfTestLog();
        expect(done.results[0]).toMatchObject({ codeText: 'Short', resultText: 'Completed without error' });
        const image = new Uint8Array(4096);
        image.set(new TextEncoder().encode('NEWFW001'));
        expect(await codeOf(nvme.downloadFirmware(image, {}))).toBe(ErrorCodes.BAD_INPUT);
        const fw = await nvme.downloadFirmware(image, { allowMediumWrite: true, slot: 2, action: 1, chunkBytes: 1024 });
        expect(fw.chunks).toBe(4);
        expect(await nvme.firmwareSlots()).toMatchObject({
          nextResetSlot: 2,
          slots: ['2B2QGXA7', 'NEWFW001', '', '', '', '', ''],
        });
        const bad = await nvme.admin({ opcode: 0x0a, nsid: 0, cdw10: 0x7f, direction: 'none' });
        expect(bad).toMatchObject({ available: true, statusCodeType: 0, statusCode: 0x02 });
        expect(await codeOf(nvme.getFeature(0x7f))).toBe(ErrorCodes.NVME_STATUS);
      },
    );
  },
);

describe('detection on the hazards and the table', () => {
  it('JMS583: the self-test log is capped at 0x218 bytes (19 results); the uncapped read resets the port', async () => {
    const d = await open('jms583');
    const nvme = await d.nvme();
    const st = await nvme.selfTestLog();
    expect(st).toMatchObject({ capped: true, slotsRead: 19 });
    expect(st.results.length).toBe(2);
    expect(sim.connected).toBe(true);
    expect(sim.nvme!.hazards).toEqual([]);
    // The same read without the cap, as raw CDBs: the model drops off the bus like the real chip.
    const block = new Uint8Array(512);
    block.set([0x4e, 0x56, 0x4d, 0x45]);
    const v = new DataView(block.buffer);
    v.setUint32(8, 0x02, true);
    v.setUint32(12, 0xffffffff, true);
    v.setUint32(48, 0x06 | ((564 / 4 - 1) << 16), true);
    await d.execute(Uint8Array.of(0xa1, 0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0), {
      direction: 'out',
      data: block,
      allowMediumWrite: true,
    });
    // Raw A1h is ATA PASS-THROUGH(12) to core's consent check (protocol 1, a reset): consent given.
    const code = await codeOf(
      d.execute(Uint8Array.of(0xa1, 0x82, 0, 0, 0x02, 0x34, 0, 0, 0, 0, 0, 0), {
        length: 564,
        timeoutMs: 2000,
        allowMediumWrite: true,
      }),
    );
    expect(code).toBe(ErrorCodes.DEVICE_GONE);
    expect(sim.nvme!.hazards[0]).toMatch(/port reset/);
  });

  it('JMS583: a raw Get Log Page above 0x230 bytes through the bridge is refused before anything is sent', async () => {
    const nvme = await (await open('jms583')).nvme();
    const before = sim.stats.commands;
    expect(
      await codeOf(
        nvme.admin({
          opcode: 0x02,
          nsid: 0xffffffff,
          cdw10: 0x06 | ((564 / 4 - 1) << 16),
          direction: 'in',
          length: 564,
        }),
      ),
    ).toBe(ErrorCodes.UNSUPPORTED);
    expect(sim.stats.commands).toBe(before);
    expect(sim.connected).toBe(true);
  });

  it('152d:0583 shares its id with SATA adapters: SAT is asked first, then JMicron', async () => {
    const h = await (await open('jms583')).health();
    expect(h.detection.steps[1]).toMatch(/^SAT ATA IDENTIFY DEVICE: .*ILLEGAL REQUEST/);
    expect(h.detection.steps[2]).toMatch(/^JMicron A1h Identify: model/);
    expect(cdbOpcodes().filter((o) => o === 0x85 || o === 0xa1)[0]).toBe(0x85);
  });

  it('Realtek RTL9220 with a SATA drive: NVMe Identify comes back zero, SAT is used', async () => {
    const h = await (await open('rtl9220')).health();
    expect(h.path).toBe('sat');
    expect(h.detection.steps.join('\n')).toMatch(/Realtek E4h Identify: Identify Controller came back empty/);
    if (h.path === 'sat') expect(h.sat.status.status).toBe('passed');
    expect(await codeOf((dev as ScsiDevice).nvme())).toBe(ErrorCodes.UNSUPPORTED);
    // Forced onto the NVMe path, the empty Identify is still not passed off as a drive.
    const forced = await (dev as ScsiDevice).health({ bridge: 'realtek' }).then(
      () => null,
      (e: UsbScsiError) => e,
    );
    expect(forced?.code).toBe(ErrorCodes.UNSUPPORTED);
    expect(forced?.message).toMatch(/--bridge sat/);
  });

  it('EX400U (UAS-capable, E6h breaks it): auto never sends E6h and says how to force it', async () => {
    const d = await open('ex400u');
    const err = await d.health().then(
      () => null,
      (e: UsbScsiError) => e,
    );
    expect(err?.code).toBe(ErrorCodes.UNSUPPORTED);
    expect(err?.message).toMatch(/--bridge/);
    expect(cdbOpcodes()).not.toContain(0xe6);
    expect(sim.connected).toBe(true);
    // Forced, the hazard is real: the model drops off the bus.
    expect(await codeOf(d.health({ bridge: 'asmedia' }))).toBe(ErrorCodes.DEVICE_GONE);
    expect(sim.nvme!.hazards).toHaveLength(1);
  });

  it(
    'an ASMedia VID:PID from the table with a UAS interface (no known breakage): auto ' +
      'never sends E6h; --bridge asmedia does',
    async () => {
      const d = await open('asm2362', { interfaces: 'bot+uas' });
      const err = await d.health().then(
        () => null,
        (e: UsbScsiError) => e,
      );
      expect(err?.code).toBe(ErrorCodes.UNSUPPORTED);
      expect(String(err?.details['steps'])).toMatch(
        /ASM2362.*not probing ASMedia E6h: the device has a UAS interface/s,
      );
      expect(await codeOf(d.nvme())).toBe(ErrorCodes.UNSUPPORTED);
      expect(cdbOpcodes()).not.toContain(0xe6);
      const forced = await d.health({ bridge: 'asmedia' });
      expect(forced).toMatchObject({ path: 'nvme', detection: { via: 'forced', kind: 'asmedia' } });
      expect(cdbOpcodes()).toContain(0xe6);
    },
  );

  it('JMS583: the cap counts what the command asks the drive for (NUMDL/NUMDU), not only the host length', async () => {
    const nvme = await (await open('jms583')).nvme();
    const before = sim.stats.commands;
    expect(
      await codeOf(nvme.admin({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x03ff0002, direction: 'in', length: 512 })),
    ).toBe(ErrorCodes.UNSUPPORTED);
    expect(
      await codeOf(
        nvme.admin({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x2, cdw11: 0x1, direction: 'in', length: 512 }),
      ),
    ).toBe(ErrorCodes.UNSUPPORTED);
    expect(sim.stats.commands).toBe(before);
    expect(sim.connected).toBe(true);
    expect(sim.nvme!.hazards).toEqual([]);
  });

  it(
    'an unknown UAS-capable ASMedia device: probing skips E6h and fails with the reason; ' +
      'without UAS E6h is probed last',
    async () => {
      const uas = await open('asm2362', { vendorId: 0x1234, productId: 0x5678, interfaces: 'bot+uas' });
      const err = await uas.health().then(
        () => null,
        (e: UsbScsiError) => e,
      );
      expect(err?.code).toBe(ErrorCodes.UNSUPPORTED);
      expect(String(err?.details['steps'])).toMatch(/not probing ASMedia E6h: the device has a UAS interface/);
      expect(cdbOpcodes()).not.toContain(0xe6);
      await uas.close();
      const bot = await open('asm2362', { vendorId: 0x1234, productId: 0x5678 });
      const h = await bot.health();
      expect(h.detection).toMatchObject({ path: 'nvme', via: 'probe', kind: 'asmedia' });
      expect(h.detection.steps.join('\n')).toMatch(/INQUIRY bytes 36-37 are 60h 23h/);
    },
  );

  it.each([
    ['jms583', 'jmicron'],
    ['rtl9210', 'realtek'],
  ] as const)('unknown VID:PID with a %s: found by probing in the safe order', async (preset, kind) => {
    const h = await (await open(preset, { vendorId: 0x1234, productId: 0x5678 })).health();
    expect(h.detection).toMatchObject({ path: 'nvme', via: 'probe', kind });
    expect(h.detection.steps[1]).toMatch(/^SAT ATA IDENTIFY DEVICE/);
  });

  it('--bridge overrides: sat on an NVMe bridge fails as SAT does; the right bridge forced works', async () => {
    const d = await open('rtl9210');
    expect(await codeOf(d.health({ bridge: 'sat' }))).toBe(ErrorCodes.CHECK_CONDITION);
    const h = await d.health({ bridge: 'realtek' });
    expect(h.detection).toMatchObject({ via: 'forced', kind: 'realtek' });
  });
});

describe('every VID:PID of the bridge table is detected as its bridge', async () => {
  const { BRIDGE_TABLE } = await import('@usbscsi/core');
  const presetFor: Record<BridgeKind, NvmeBridgePresetName> = {
    jmicron: 'jms583',
    asmedia: 'asm2362',
    realtek: 'rtl9210',
  };
  it.each(
    BRIDGE_TABLE.map(
      (e) =>
        [
          `${e.vendorId.toString(16).padStart(4, '0')}:${e.productId.toString(16).padStart(4, '0')} ${e.name}`,
          e,
        ] as const,
    ),
  )('%s', async (_label, entry) => {
    const extra: SimulatedDeviceOptions = { vendorId: entry.vendorId, productId: entry.productId };
    const d = await open(presetFor[entry.bridge], extra);
    const h = await d.health();
    expect(h.detection).toMatchObject({
      path: 'nvme',
      via: 'table',
      kind: entry.bridge,
      entry: { source: entry.source },
    });
    const vendorCdbs = cdbOpcodes().filter((o) => o >= 0xc0 || o === 0xa1);
    const expected = { jmicron: 0xa1, asmedia: 0xe6, realtek: 0xe4 }[entry.bridge];
    expect(new Set(vendorCdbs)).toEqual(new Set([expected]));
  });
});
