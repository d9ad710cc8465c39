import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, ScsiDevice, UsbScsiError, openDevice, type ScsiResult } from '@usbscsi/core';
import { EmulatorBackend, SimulatedDevice, type FaultSpec } from '@usbscsi/emulator';

// Integration tier: core's host-side BOT (BotTransport + ScsiDevice) against the emulator's
// device-side BOT. For every injected fault: the recovery (or the typed error) the host
// shows, and that the next command on the same device then succeeds with correct data.

const READ10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x28, 0, lba >>> 24, lba >>> 16, lba >>> 8, lba, 0, blocks >>> 8, blocks, 0);
const WRITE10 = (lba: number, blocks: number) =>
  Uint8Array.of(0x2a, 0, lba >>> 24, lba >>> 16, lba >>> 8, lba, 0, blocks >>> 8, blocks, 0);
const TUR = Uint8Array.of(0, 0, 0, 0, 0, 0);
const BLOCK = 512;

let sim: SimulatedDevice;
let dev: ScsiDevice;

function pattern(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

async function setup(options: ConstructorParameters<typeof SimulatedDevice>[0] = {}) {
  sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 2048 }], ...options });
  const backend = new EmulatorBackend({ devices: [sim] });
  dev = await openDevice({ backend });
  // Known content at LBA 0..7 so every "next command" can check data, not just status.
  await dev.write(0, pattern(1, 8 * BLOCK), { allowMediumWrite: true });
  sim.resetStats();
}

async function nextCommandWorks() {
  const data = await dev.read(0, 8);
  expect(data).toEqual(pattern(1, 8 * BLOCK));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err, 'expected a typed error').toBeInstanceOf(UsbScsiError);
  return (err as UsbScsiError).code;
}

function inject(spec: FaultSpec) {
  return sim.faults.inject(spec);
}

afterEach(async () => {
  await dev?.close().catch(() => undefined);
});

describe('BOT against the emulator: every fault recovers or gives a typed error; the next command succeeds', () => {
  it('stall in the data-in phase: halt cleared, CSW read, partial data and residue reported', async () => {
    await setup();
    inject({ kind: 'stall-data-in', opcode: 0x28, bytes: 1024 });
    const result: ScsiResult = await dev.execute(READ10(0, 8), { length: 8 * BLOCK });
    expect(result.transferred).toBe(1024);
    expect(result.data).toEqual(pattern(1, 8 * BLOCK).subarray(0, 1024));
    expect(result.residue).toBe(8 * BLOCK - 1024);
    expect(sim.stats.clearHaltsByEndpoint[0x81]).toBe(1);
    expect(sim.stats.resets).toBe(0);
    await nextCommandWorks();
  });

  it('stall in the data-out phase: halt cleared, CSW read, the write reports what was not taken', async () => {
    await setup();
    inject({ kind: 'stall-data-out', opcode: 0x2a, bytes: 0 });
    const result = await dev.execute(WRITE10(100, 2), { data: pattern(9, 2 * BLOCK), allowMediumWrite: true });
    expect(sim.stats.clearHaltsByEndpoint[0x02]).toBe(1);
    expect(result.residue).toBeGreaterThan(0);
    await nextCommandWorks();
  });

  it('stalled CSW: cleared and read again, the command succeeds', async () => {
    await setup();
    inject({ kind: 'stall-csw', opcode: 0x28 });
    await nextCommandWorks();
    expect(sim.stats.clearHaltsByEndpoint[0x81]).toBe(1);
    expect(sim.stats.resets).toBe(0);
  });

  for (const kind of ['bad-csw-signature', 'wrong-csw-tag', 'phase-error'] as const) {
    it(`${kind}: reset recovery, E_PHASE_ERROR, then the device works`, async () => {
      await setup();
      inject({ kind, opcode: 0x00 });
      expect(await codeOf(dev.execute(TUR))).toBe(ErrorCodes.PHASE_ERROR);
      expect(sim.stats.resets).toBe(1);
      expect(sim.stats.clearHaltsByEndpoint[0x81]).toBeGreaterThanOrEqual(1);
      expect(sim.stats.clearHaltsByEndpoint[0x02]).toBeGreaterThanOrEqual(1);
      await nextCommandWorks();
    });
  }

  it(
    'short data: less than asked is a result with its residue, and the typed read refuses ' + 'to pass it off as whole',
    async () => {
      await setup();
      inject({ kind: 'short-data', opcode: 0x28, bytes: 512 });
      const result = await dev.execute(READ10(0, 8), { length: 8 * BLOCK });
      expect(result.transferred).toBe(512);
      expect(result.residue).toBe(7 * BLOCK);
      inject({ kind: 'short-data', opcode: 0x28, bytes: 512 });
      expect(await codeOf(dev.read(0, 8))).toBe(ErrorCodes.IO);
      await nextCommandWorks();
    },
  );

  it('too much data (babble): reset recovery and E_OVERFLOW', async () => {
    await setup();
    inject({ kind: 'too-much-data', opcode: 0x28 });
    expect(await codeOf(dev.execute(READ10(0, 1), { length: BLOCK }))).toBe(ErrorCodes.OVERFLOW);
    expect(sim.stats.resets).toBe(1);
    await nextCommandWorks();
  });

  for (const phase of ['cbw', 'data', 'csw'] as const) {
    it(
      `no response in the ${phase} phase: E_TIMEOUT after the timeout, reset recovery, ` + `then the device works`,
      async () => {
        await setup();
        inject({ kind: 'no-response', opcode: 0x28, phase });
        const t0 = Date.now();
        expect(await codeOf(dev.execute(READ10(0, 1), { length: BLOCK, timeoutMs: 150 }))).toBe(ErrorCodes.TIMEOUT);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
        expect(sim.stats.resets).toBe(1);
        await nextCommandWorks();
      },
    );
  }

  it('disconnect mid-command: E_DEVICE_GONE now and after; a replugged device opens again', async () => {
    await setup();
    inject({ kind: 'disconnect', opcode: 0x28 });
    expect(await codeOf(dev.execute(READ10(0, 1), { length: BLOCK }))).toBe(ErrorCodes.DEVICE_GONE);
    expect(await codeOf(dev.execute(TUR))).toBe(ErrorCodes.DEVICE_GONE);
    await dev.close();
    sim.replug();
    dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }) });
    await nextCommandWorks();
  });

  it('GET MAX LUN stall: the device is treated as single-LUN and works', async () => {
    sim = new SimulatedDevice({
      luns: [
        { blockSize: BLOCK, blockCount: 64 },
        { blockSize: BLOCK, blockCount: 64 },
      ],
    });
    sim.faults.inject({ kind: 'get-max-lun-stall' });
    dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }) });
    expect(dev.description.maxLun).toBe(0);
    await dev.testUnitReady();
  });

  it('two LUNs without the fault: GET MAX LUN gives 1 and LUN 1 is addressable', async () => {
    sim = new SimulatedDevice({
      luns: [
        { blockSize: BLOCK, blockCount: 64 },
        { blockSize: 4096, blockCount: 16 },
      ],
    });
    dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }), lun: 1 });
    expect(dev.description.maxLun).toBe(1);
    expect((await dev.readCapacity()).blockSize).toBe(4096);
  });

  it('UNIT ATTENTION after reset: reported once by TUR (sense 6/29/00), then the device is ready', async () => {
    await setup();
    inject({ kind: 'unit-attention-after-reset' });
    await dev.reset();
    const ua = await dev.execute(TUR);
    expect(ua.status).toBe(2);
    expect(ua.sense?.senseKey).toBe(6);
    expect(ua.sense?.asc).toBe(0x29);
    await dev.testUnitReady();
    await nextCommandWorks();
  });

  it('typed helpers retry once after UNIT ATTENTION', async () => {
    await setup();
    inject({ kind: 'unit-attention-after-reset' });
    await dev.reset();
    expect((await dev.readCapacity()).blocks).toBe(2048n);
  });

  it('NOT READY: a CheckConditionError with the sense decoded, then ready', async () => {
    await setup();
    inject({ kind: 'not-ready', opcode: 0x00, reason: 'medium-not-present' });
    const err = await dev.testUnitReady().then(
      () => null,
      (e) => e,
    );
    expect(err?.code).toBe(ErrorCodes.CHECK_CONDITION);
    expect(err.sense.senseKeyName).toBe('NOT READY');
    expect(err.sense.ascText).toMatch(/MEDIUM NOT PRESENT/);
    await dev.testUnitReady();
  });

  it(
    'an unsupported opcode is a CHECK CONDITION result with ILLEGAL REQUEST / INVALID ' + 'COMMAND OPERATION CODE',
    async () => {
      await setup();
      // D7h is vendor-specific: consent is asked of every vendor opcode, whatever its direction.
      const result = await dev.execute(Uint8Array.of(0xd7, 0, 0, 0, 0, 0), { allowMediumWrite: true });
      expect(result.status).toBe(2);
      expect(result.sense?.senseKeyName).toBe('ILLEGAL REQUEST');
      expect(result.sense?.ascText).toBe('INVALID COMMAND OPERATION CODE');
      await nextCommandWorks();
    },
  );

  it('a vendor command handler receives data-out and answers data-in', async () => {
    await setup();
    let received: Uint8Array | undefined;
    sim.onCommand(0xc1, async (ctx) => {
      received = ctx.dataOut;
      return { data: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) };
    });
    sim.onCommand(0xc2, async (ctx) => {
      received = ctx.dataOut ? Uint8Array.from(ctx.dataOut) : undefined;
      return {};
    });
    // A vendor opcode may change anything, even one that reads: consent first, and nothing is sent without it.
    const before = sim.stats.commands;
    expect(await codeOf(dev.execute(Uint8Array.of(0xc1, 0, 0, 0, 4, 0), { length: 4 }))).toBe(ErrorCodes.BAD_INPUT);
    expect(sim.stats.commands).toBe(before);
    const r = await dev.execute(Uint8Array.of(0xc1, 0, 0, 0, 4, 0), { length: 4, allowMediumWrite: true });
    expect(Array.from(r.data)).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect(
      await codeOf(dev.execute(Uint8Array.of(0xc2, 0, 0, 0, 3, 0), { direction: 'out', data: Uint8Array.of(1, 2, 3) })),
    ).toBe(ErrorCodes.BAD_INPUT);
    expect(sim.stats.commands).toBe(before + 1);
    await dev.execute(Uint8Array.of(0xc2, 0, 0, 0, 3, 0), {
      direction: 'out',
      data: Uint8Array.of(1, 2, 3),
      allowMediumWrite: true,
    });
    expect(Array.from(received ?? [])).toEqual([1, 2, 3]);
  });
});

describe('ScsiDevice safety and typed helpers against the emulator', () => {
  it('writes need explicit consent and nothing reaches the device without it', async () => {
    await setup();
    expect(await codeOf(dev.write(0, new Uint8Array(BLOCK), { allowMediumWrite: false }))).toBe(ErrorCodes.BAD_INPUT);
    expect(await codeOf(dev.execute(WRITE10(0, 1), { data: new Uint8Array(BLOCK) }))).toBe(ErrorCodes.BAD_INPUT);
    expect(sim.stats.commands).toBe(0);
    await nextCommandWorks();
  });

  it('multi-MiB reads and writes split into commands and come back intact', async () => {
    sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 16384 }] });
    dev = await openDevice({
      backend: new EmulatorBackend({ devices: [sim] }),
      tuning: { maxTransferBytes: 256 * 1024 },
    });
    const data = pattern(3, 3 * 1024 * 1024);
    let last = 0;
    await dev.write(10, data, {
      allowMediumWrite: true,
      onProgress: (d) => {
        last = d;
      },
    });
    expect(last).toBe(data.length);
    // Compare as Buffers: toEqual on multi-MiB typed arrays walks them element by element.
    const back = await dev.read(10, data.length / BLOCK);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(sim.stats.commands).toBe(1 + 2 * 12); // READ CAPACITY + 12 writes + 12 reads of 256 KiB
  });

  it('INQUIRY, VPD pages and capacity are parsed', async () => {
    await setup();
    const inq = await dev.inquiry();
    expect(inq.peripheralType).toBe(0);
    expect(inq.vendor.length).toBeGreaterThan(0);
    const pages = await dev.vpd(0x00);
    expect(pages).toMatchObject({ kind: 'supported-pages', pageCode: 0 });
    expect(pages.kind === 'supported-pages' && pages.supportedPages).toEqual(
      expect.arrayContaining([0x00, 0x80, 0x83, 0xb0]),
    );
    expect(await dev.vpd(0x80)).toMatchObject({
      kind: 'unit-serial-number',
      serialNumber: expect.stringMatching(/.+/),
    });
    const cap = await dev.readCapacity();
    expect(cap.blocks).toBe(2048n);
    expect(cap.bytes).toBe(2048n * 512n);
  });

  it('SMART through SAT: identify, attributes and health', async () => {
    await setup();
    const smart = await dev.smart();
    expect(smart.identify.model.length).toBeGreaterThan(0);
    expect(smart.data.attributes.length).toBeGreaterThan(0);
    expect(smart.status.status).toBe('passed');
  });
});

describe('ScsiDevice file streaming against the emulator (buffered path: the emulator has no fd fast path)', () => {
  it('writeFromFd then readToFd round-trips a multi-MiB file, and a pipe-like short input is refused', async () => {
    const { mkdtempSync, writeFileSync, readFileSync, openSync, closeSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 8192 }] });
    dev = await openDevice({
      backend: new EmulatorBackend({ devices: [sim] }),
      tuning: { maxTransferBytes: 128 * 1024 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'usbscsi-fd-'));
    const image = pattern(5, 2 * 1024 * 1024 + 3 * BLOCK);
    writeFileSync(join(dir, 'in.img'), image);
    const inFd = openSync(join(dir, 'in.img'), 'r');
    const outFd = openSync(join(dir, 'out.img'), 'w+');
    try {
      const blocks = image.length / BLOCK;
      expect(await codeOf(dev.writeFromFd(7, blocks, inFd, { allowMediumWrite: false }))).toBe(ErrorCodes.BAD_INPUT);
      expect(await dev.writeFromFd(7, blocks, inFd, { allowMediumWrite: true })).toBe(image.length);
      let progress = 0;
      expect(
        await dev.readToFd(7, blocks, outFd, {
          onProgress: (d) => {
            progress = d;
          },
        }),
      ).toBe(image.length);
      expect(progress).toBe(image.length);
      expect(Buffer.compare(readFileSync(join(dir, 'out.img')), Buffer.from(image))).toBe(0);
      expect(await codeOf(dev.writeFromFd(0, blocks + 1, inFd, { allowMediumWrite: true }))).toBe(ErrorCodes.BAD_INPUT);
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
  });
});

describe('ScsiDevice mount checks', () => {
  it(
    'a multi-command write probes the mounts once, and a mounted medium is refused before ' + 'anything is sent',
    async () => {
      const { ScsiDevice: Device } = await import('@usbscsi/core');
      sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 4096 }] });
      const opened = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }) });
      let probes = 0;
      let mounted = false;
      dev = new Device(opened.transport, {
        maxTransferBytes: 64 * 1024,
        mounts: async () => {
          probes++;
          return mounted ? [{ device: '/dev/sdz1', mountPoint: '/mnt/z' }] : [];
        },
      });
      await dev.write(0, pattern(2, 512 * 1024), { allowMediumWrite: true });
      expect(probes).toBe(1);
      mounted = true;
      const before = sim.stats.commands;
      expect(await codeOf(dev.write(0, pattern(2, BLOCK), { allowMediumWrite: true }))).toBe(ErrorCodes.MOUNTED);
      expect(await codeOf(dev.execute(WRITE10(0, 1), { data: new Uint8Array(BLOCK), allowMediumWrite: true }))).toBe(
        ErrorCodes.MOUNTED,
      );
      expect(sim.stats.commands).toBe(before);
    },
  );
});
