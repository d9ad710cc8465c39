/**
 * ScsiDevice.readBatch: many small reads through one API on every transport, queued by tag on
 * UAS and serialised on BOT; and readInto over a large range on UAS as a queued job.
 */
import { ErrorCodes, openDevice, type ScsiDevice } from '@usbscsi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice } from '../src/index.js';

let backend: EmulatorBackend | undefined;
let dev: ScsiDevice | undefined;
afterEach(async () => {
  await dev?.close().catch(() => undefined);
  await backend?.dispose();
  dev = undefined;
  backend = undefined;
});

async function open(transport: 'uas' | 'bot'): Promise<{ dev: ScsiDevice; sim: SimulatedDevice }> {
  const sim = new SimulatedDevice({
    ...DEFAULT_SIM_DEVICE,
    speed: 'super',
    interfaces: 'bot+uas',
    uasCommandDelayMs: () => 5,
  });
  backend = new EmulatorBackend({ devices: [sim] });
  dev = await openDevice({ backend, transport, queueDepth: transport === 'uas' ? 8 : undefined });
  expect(dev.transportKind).toBe(transport);
  return { dev, sim };
}

/** Block n holds n in every byte (mod 256). */
async function label(d: ScsiDevice, blocks: number): Promise<void> {
  const data = new Uint8Array(blocks * 512);
  for (let b = 0; b < blocks; b++) data.fill(b & 0xff, b * 512, (b + 1) * 512);
  await d.write(0, data, { allowMediumWrite: true });
}

const reads = Array.from({ length: 24 }, (_, i) => ({ lba: (i * 7) % 64, blocks: 1 + (i % 3) }));

describe('ScsiDevice.readBatch', () => {
  it('UAS: reads in flight at once by tag, each buffer holds its own blocks, in the order given', async () => {
    const { dev: d, sim } = await open('uas');
    await label(d, 72);
    sim.uas.resetStats();
    const out = await d.readBatch(reads, { queueDepth: 8 });
    expect(sim.uas.stats.maxOutstanding).toBe(8);
    out.forEach((buf, i) => {
      const { lba, blocks } = reads[i]!;
      expect(buf.length).toBe(blocks * 512);
      for (let b = 0; b < blocks; b++) expect(buf[b * 512]).toBe(lba + b);
    });
  });

  it('BOT: the same API, one command at a time, the same bytes', async () => {
    const { dev: d } = await open('bot');
    await label(d, 72);
    const out = await d.readBatch(reads, { queueDepth: 8 });
    out.forEach((buf, i) => expect(buf[0]).toBe(reads[i]!.lba));
  });

  it('a read past the last block fails the batch (CHECK CONDITION); bad input is E_BAD_INPUT first', async () => {
    const { dev: d } = await open('uas');
    const { blocks } = await d.readCapacity();
    await expect(
      d.readBatch([
        { lba: 0, blocks: 1 },
        { lba: blocks, blocks: 1 },
      ]),
    ).rejects.toMatchObject({
      code: ErrorCodes.CHECK_CONDITION,
    });
    await expect(d.readBatch([])).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(d.readBatch([{ lba: -1, blocks: 1 }])).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(d.readBatch([{ lba: 0, blocks: 0 }])).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(d.readBatch([{ lba: 0, blocks: 1 }], { queueDepth: 0 })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
  });
});

describe('UAS: readInto and write over a large range run as queued jobs', () => {
  it('several commands in flight, every byte where it belongs', async () => {
    const { dev: d, sim } = await open('uas');
    const data = Uint8Array.from({ length: 256 * 512 }, (_, i) => (i * 31 + 7) & 0xff);
    await d.write(100, data, { allowMediumWrite: true, commandBytes: 8 * 512 });
    sim.uas.resetStats();
    const back = new Uint8Array(data.length);
    await d.readInto(100, back, { commandBytes: 8 * 512 });
    expect(sim.uas.stats.maxOutstanding).toBeGreaterThan(1);
    expect(back).toEqual(data);
  });
});
