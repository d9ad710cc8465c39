import { afterEach, describe, expect, it } from 'vitest';
import { CheckConditionError, ErrorCodes, ScsiDevice, openDevice } from '@usbscsi/core';
import { EmulatorBackend, RamBlockStore, SimulatedDevice } from '@usbscsi/emulator';

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

// A reset's 06/29 is sent again and the range goes on: 'a UNIT ATTENTION on the 1st READ' above.
describe('a medium change during a block transfer', () => {
  /**
   * The `nth` command of `opcode` finds another medium in the drive: the unit reports the unit
   * attention for it (06/28/00) and does not run the command, as a card reader does.
   */
  function swapMediumAt(opcode: number, nth: number, medium: RamBlockStore): void {
    let seen = 0;
    const off = sim.onCommand(opcode, ({ unit, builtin }) => {
      if (++seen !== nth) return builtin();
      off();
      unit.insertMedium(medium);
      unit.unitAttention = null; // reported here, by this command
      return { status: 0x02, sense: { key: 0x06, asc: 0x28, ascq: 0x00 } };
    });
  }

  for (const jobs of [true, false]) {
    const how = jobs ? 'as jobs' : 'a command at a time (a transport without jobs)';
    const openFor = async () => {
      const d = await open();
      // node-usb's transport has no executeJob: ScsiDevice then sends each command itself.
      if (!jobs) Object.defineProperty(d.transport, 'executeJob', { value: undefined });
      return d;
    };

    it(`a write stops at the change, ${how}: nothing reaches the new medium, the error says where`, async () => {
      const d = await openFor();
      const other = new RamBlockStore(BLOCK, 2048n);
      swapMediumAt(0x2a, 3, other);
      const before = sim.stats.commands;
      const err = await d.write(64, pattern(TOTAL), { allowMediumWrite: true, commandBytes: COMMAND }).catch((e) => e);
      expect(err).toBeInstanceOf(CheckConditionError);
      expect(err).toMatchObject({
        code: ErrorCodes.CHECK_CONDITION,
        details: { senseKey: 0x06, asc: 0x28, mediumChanged: true, lba: String(64 + 4) },
      });
      expect(err.message).toMatch(/medium may have changed.*LBA 68/);
      expect(sim.stats.commands - before).toBe(3 + 1); // two WRITEs, the one that met the change, its REQUEST SENSE
      expect((await other.read(0n, 2048)).every((b) => b === 0)).toBe(true);
    });

    it(`a read stops at the change, ${how}; the new medium's block size is read afresh`, async () => {
      const d = await openFor();
      await d.write(64, pattern(TOTAL), { allowMediumWrite: true });
      const other = new RamBlockStore(4096, 256n);
      swapMediumAt(0x28, 2, other);
      const back = new Uint8Array(TOTAL);
      await expect(d.readInto(64, back, { commandBytes: COMMAND })).rejects.toMatchObject({
        details: { mediumChanged: true, lba: String(64 + 2) },
      });
      // Its first command's bytes came from the first medium; nothing from the second.
      expect(back.subarray(0, COMMAND)).toEqual(pattern(TOTAL).subarray(0, COMMAND));
      expect(back.subarray(COMMAND).every((b) => b === 0)).toBe(true);
      expect((await d.read(0, 1)).length).toBe(4096);
    });
  }

  it('knownCapacity: READ CAPACITY once, then again only after a medium change or MODE SELECT', async () => {
    const d = await open();
    let asked = 0;
    sim.onCommand(0x25, ({ builtin }) => {
      asked++;
      return builtin();
    });
    expect((await d.knownCapacity()).lastLba).toBe(2047n);
    await d.write(0, pattern(4 * BLOCK), { allowMediumWrite: true });
    await d.readInto(0, new Uint8Array(4 * BLOCK));
    expect((await d.knownCapacity()).lastLba).toBe(2047n);
    expect(asked).toBe(0);
    // Another medium, reported to whichever command comes next.
    sim.target.units[0]!.insertMedium(new RamBlockStore(BLOCK, 4096n));
    expect((await d.testUnitReady()).unitAttention).toMatchObject({ asc: 0x28 });
    expect((await d.knownCapacity()).lastLba).toBe(4095n);
    expect(asked).toBe(1);
    // A command that may change the medium other than by writing blocks, whatever its status.
    await d.execute(Uint8Array.of(0x15, 0x10, 0, 0, 0, 0), { allowMediumWrite: true });
    await d.knownCapacity();
    await d.knownCapacity();
    expect(asked).toBe(2);
  });

  it('a change a typed helper reported (TEST UNIT READY): the next transfer uses the new block size', async () => {
    const d = await open();
    expect((await d.read(0, 1)).length).toBe(BLOCK);
    sim.target.units[0]!.insertMedium(new RamBlockStore(2048, 512n));
    expect((await d.testUnitReady()).unitAttention).toMatchObject({ asc: 0x28 });
    expect((await d.read(0, 2)).length).toBe(2 * 2048);
  });
});

// readBatch on a transport that runs one command at a time and has jobs (BOT here, SG_IO too):
// the reads go as jobs, handled as the jobs of a range are.
describe('ScsiDevice.readBatch as jobs (BOT)', () => {
  /** Reads of 1 to 10 blocks at scattered LBAs; at 4 blocks per command the 10-block read is 3 commands. */
  const reads = [
    { lba: 700, blocks: 1 },
    { lba: 10, blocks: 10 },
    { lba: 1500, blocks: 3 },
    { lba: 3, blocks: 4 },
    { lba: 2047, blocks: 1 },
  ];
  const image = pattern(2048 * BLOCK);
  const expected = (lba: number, blocks: number) => image.subarray(lba * BLOCK, (lba + blocks) * BLOCK);

  async function openBatch(): Promise<{ d: ScsiDevice; jobs: number[]; executes: () => number }> {
    sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 2048 }] });
    const d = await openDevice({
      backend: new EmulatorBackend({ devices: [sim] }),
      tuning: { maxTransferBytes: 4 * BLOCK },
    });
    dev = d;
    await d.testUnitReady().catch(() => undefined);
    await d.write(0, image, { allowMediumWrite: true });
    const jobs: number[] = [];
    let executes = 0;
    const { transport } = d;
    const job = transport.executeJob!.bind(transport);
    const execute = transport.execute.bind(transport);
    Object.defineProperty(transport, 'executeJob', {
      value: (j: Parameters<typeof job>[0]) => {
        jobs.push(j.commands.length);
        return job(j);
      },
    });
    Object.defineProperty(transport, 'execute', {
      value: (r: Parameters<typeof execute>[0]) => {
        executes++;
        return execute(r);
      },
    });
    return { d, jobs, executes: () => executes };
  }

  it('one job of every READ (a read longer than a command split), each buffer its own blocks, in order', async () => {
    const { d, jobs, executes } = await openBatch();
    const before = executes();
    const out = await d.readBatch(reads, { queueDepth: 16 });
    expect(jobs).toEqual([1 + 3 + 1 + 1 + 1]);
    expect(executes() - before).toBe(0);
    out.forEach((buf, i) => expect(buf).toEqual(expected(reads[i]!.lba, reads[i]!.blocks)));
  });

  it('the 4th READ fails NOT READY: CheckConditionError, nothing after it sent', async () => {
    const { d } = await openBatch();
    sim.faults.inject({ kind: 'not-ready', opcode: 0x28, skip: 3 });
    const before = sim.stats.commands;
    const err = await d.readBatch(reads).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckConditionError);
    expect((err as CheckConditionError).details).toMatchObject({ senseKey: 2, asc: 4 });
    expect(sim.stats.commands - before).toBe(4 + 1); // and its REQUEST SENSE
  });

  it("a reset's UNIT ATTENTION on the 1st READ: sent once more, the rest as a job, every buffer right", async () => {
    const { d, jobs } = await openBatch();
    sim.faults.inject({ kind: 'unit-attention-after-reset' });
    await d.reset();
    const out = await d.readBatch(reads);
    expect(jobs).toEqual([7, 6]);
    out.forEach((buf, i) => expect(buf).toEqual(expected(reads[i]!.lba, reads[i]!.blocks)));
  });

  it('a medium change at the 3rd READ stops the batch, naming its LBA', async () => {
    const { d } = await openBatch();
    let seen = 0;
    const off = sim.onCommand(0x28, ({ unit, builtin }) => {
      if (++seen !== 3) return builtin();
      off();
      unit.insertMedium(new RamBlockStore(BLOCK, 2048n));
      unit.unitAttention = null;
      return { status: 0x02, sense: { key: 0x06, asc: 0x28, ascq: 0x00 } };
    });
    await expect(d.readBatch(reads)).rejects.toMatchObject({
      details: { mediumChanged: true, lba: String(10 + 4) },
    });
  });
});
