import { afterEach, describe, expect, it } from 'vitest';
import { CheckConditionError, ErrorCodes, ScsiDevice, openDevice } from '@usbscsi/core';
import { EmulatorBackend, SimulatedDevice } from '@usbscsi/emulator';

// ScsiDevice's long reads and writes as jobs (ScsiTransport.executeJob): the commands before a
// failing one count, that one is handled as a single command is, nothing after it is sent.
// The emulator runs jobs over botExchange; the native engine's own runs in the VM suite.

const BLOCK = 512;
/** 16 commands of 2 blocks. */
const COMMAND = 2 * BLOCK;
const TOTAL = 16 * COMMAND;
let dev: ScsiDevice | undefined;
let sim: SimulatedDevice;

async function open(): Promise<ScsiDevice> {
  sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 2048 }] });
  dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }) });
  await dev.testUnitReady().catch(() => undefined);
  await dev.readCapacity(); // the block size, before the counts
  return dev;
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

afterEach(async () => {
  await dev?.close().catch(() => undefined);
  dev = undefined;
});

describe('ScsiDevice reads and writes over a range as jobs', () => {
  it('write then read back in 16 commands each, with progress after each job', async () => {
    const d = await open();
    const data = pattern(TOTAL);
    await d.write(64, data, { allowMediumWrite: true, commandBytes: COMMAND });
    const before = sim.stats.commands;
    const back = new Uint8Array(TOTAL);
    const progress: number[] = [];
    await d.readInto(64, back, { commandBytes: COMMAND, onProgress: (done) => progress.push(done) });
    expect(back).toEqual(data);
    expect(sim.stats.commands - before).toBe(16);
    expect(progress).toEqual([TOTAL]);
  });

  it('the 6th READ fails NOT READY: CheckConditionError, the 5 before it read, nothing after it sent', async () => {
    const d = await open();
    const data = pattern(TOTAL);
    await d.write(64, data, { allowMediumWrite: true });
    sim.faults.inject({ kind: 'not-ready', opcode: 0x28, skip: 5 });
    const before = sim.stats.commands;
    const back = new Uint8Array(TOTAL);
    const err = await d.readInto(64, back, { commandBytes: COMMAND }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckConditionError);
    expect((err as CheckConditionError).details).toMatchObject({ senseKey: 2, asc: 4, ascq: 1 });
    expect(sim.stats.commands - before).toBe(6 + 1); // and its REQUEST SENSE
    expect(back.subarray(0, 5 * COMMAND)).toEqual(data.subarray(0, 5 * COMMAND));
    expect(back.subarray(5 * COMMAND).every((b) => b === 0)).toBe(true);
  });

  it('a UNIT ATTENTION on the 1st READ: that command sent once more, then the rest of the range as a job', async () => {
    const d = await open();
    const data = pattern(TOTAL);
    await d.write(64, data, { allowMediumWrite: true });
    sim.faults.inject({ kind: 'unit-attention-after-reset' });
    await d.reset();
    const before = sim.stats.commands;
    const back = new Uint8Array(TOTAL);
    await d.readInto(64, back, { commandBytes: COMMAND });
    expect(back).toEqual(data);
    expect(sim.stats.commands - before).toBe(16 + 1 + 1); // + REQUEST SENSE + the retry
  });

  it('the 3rd READ sends half its data with GOOD status: E_IO naming it, nothing after it sent', async () => {
    const d = await open();
    sim.faults.inject({ kind: 'short-data', opcode: 0x28, skip: 2, bytes: BLOCK });
    const before = sim.stats.commands;
    await expect(d.readInto(0, new Uint8Array(TOTAL), { commandBytes: COMMAND })).rejects.toMatchObject({
      code: ErrorCodes.IO,
      details: { lba: '4', expected: COMMAND, transferred: BLOCK },
    });
    expect(sim.stats.commands - before).toBe(3);
  });

  it('commandBytes must be a whole number of blocks (E_BAD_INPUT, nothing sent)', async () => {
    const d = await open();
    const before = sim.stats.commands;
    for (const commandBytes of [0, 100, BLOCK + 1, 1.5 * BLOCK]) {
      await expect(d.readInto(0, new Uint8Array(TOTAL), { commandBytes })).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
      });
    }
    expect(sim.stats.commands - before).toBe(0);
  });
});
