import {
  ErrorCodes,
  ResponseCode,
  UasTransport,
  openDevice,
  type UasEvent,
  type UasTransportOptions,
  type UsbDeviceHandle,
} from '@usbscsi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice, type SimulatedDeviceOptions } from '../src/index.js';

const read10 = (lba: number) => Uint8Array.of(0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 1, 0);
const readOne = (tr: UasTransport, lba: number, timeoutMs?: number) =>
  tr.execute({ cdb: read10(lba), direction: 'in', data: new Uint8Array(512), ...(timeoutMs ? { timeoutMs } : {}) });

let open: { tr: UasTransport; backend: EmulatorBackend } | undefined;
afterEach(async () => {
  await open?.tr.close().catch(() => undefined);
  await open?.backend.dispose();
  open = undefined;
});

async function uas(
  sim: SimulatedDeviceOptions,
  options: UasTransportOptions = {},
): Promise<{ tr: UasTransport; sim: SimulatedDevice; events: UasEvent[] }> {
  const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, interfaces: 'uas-only', ...sim });
  const backend = new EmulatorBackend({ devices: [device] });
  const events: UasEvent[] = [];
  const [info] = await backend.list();
  const tr = await UasTransport.open(await backend.open(info!), {
    taskManagementTimeoutMs: 300,
    ...options,
    onEvent: (e) => events.push(e),
  });
  open = { tr, backend };
  return { tr, sim: device, events };
}

/** Each block holds its own LBA in its first bytes, so a result shows which block it is. */
async function labelBlocks(tr: UasTransport, count: number): Promise<void> {
  for (let lba = 0; lba < count; lba++) {
    const data = new Uint8Array(512).fill(lba);
    const r = await tr.execute({ cdb: Uint8Array.of(0x2a, 0, 0, 0, 0, lba, 0, 0, 1, 0), direction: 'out', data });
    expect(r.status).toBe(0);
  }
}

describe.each([
  ['high speed, no streams', 'high' as const, 0],
  ['SuperSpeed, 16 streams', 'super' as const, 16],
])('UAS queueing (%s)', (_name, speed, streams) => {
  it('N commands issued at once are outstanding at once on the device (its count), each with its data', async () => {
    const { tr, sim } = await uas({ speed, uasCommandDelayMs: () => 40 }, { queueDepth: 8 });
    expect(tr.streams).toBe(streams);
    await labelBlocks(tr, 8);
    sim.uas.resetStats();
    const results = await Promise.all(Array.from({ length: 8 }, (_, lba) => readOne(tr, lba)));
    expect(sim.uas.stats.maxOutstanding).toBe(8);
    results.forEach((r, lba) => expect([r.status, r.transferred, r.data[0], r.data[511]]).toEqual([0, 512, lba, lba]));
  });

  it('the queue depth caps what the device sees outstanding', async () => {
    const { tr, sim } = await uas({ speed, uasCommandDelayMs: () => 30 }, { queueDepth: 3 });
    expect(tr.queueDepth).toBe(3);
    await Promise.all(Array.from({ length: 9 }, (_, lba) => readOne(tr, lba)));
    expect(sim.uas.stats.maxOutstanding).toBe(3);
  });

  it('completions out of order (later tags finish first) reach the right commands', async () => {
    // Writes: without streams data phases go one at a time, but the commands then run side by side.
    const { tr, sim } = await uas({ speed, uasCommandDelayMs: (cdb) => (cdb[0] === 0x2a ? 80 - 10 * cdb[5]! : 0) });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, lba) =>
        tr.execute({
          cdb: Uint8Array.of(0x2a, 0, 0, 0, 0, lba, 0, 0, 1, 0),
          direction: 'out',
          data: new Uint8Array(512).fill(0x40 + lba),
        }),
      ),
    );
    const order = sim.uas.stats.completionOrder;
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
    expect(results.map((r) => [r.status, r.transferred])).toEqual(Array.from({ length: 6 }, () => [0, 512]));
    for (let lba = 0; lba < 6; lba++) expect((await readOne(tr, lba)).data[0]).toBe(0x40 + lba);
  });

  it('ABORT TASK and LOGICAL UNIT RESET unanswered: USB port reset, reported; the transport is gone', async () => {
    const { tr, sim, events } = await uas({ speed });
    sim.faults.inject({ kind: 'uas-lost-status', opcode: 0x28 });
    sim.faults.inject({ kind: 'uas-tmf-no-response', times: 2 });
    const generation = sim.generation;
    await expect(readOne(tr, 0, 200)).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT });
    expect(
      events
        .filter((e) => e.type !== 'select-alternate' && e.type !== 'streams' && e.type !== 'no-streams')
        .map((e) => e.type),
    ).toEqual(['abort-task', 'lun-reset', 'usb-reset']);
    expect(sim.generation).toBeGreaterThan(generation);
    await expect(readOne(tr, 0)).rejects.toMatchObject({ code: ErrorCodes.DEVICE_GONE });
  });

  it('Response IU in place of the status: INCORRECT LUN is E_BAD_INPUT, INVALID IU is E_PHASE_ERROR', async () => {
    const { tr, sim } = await uas({ speed });
    sim.faults.inject({ kind: 'uas-response', opcode: 0x28, responseCode: ResponseCode.INCORRECT_LUN });
    await expect(readOne(tr, 0)).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT, details: { responseCode: 9 } });
    sim.faults.inject({ kind: 'uas-response', opcode: 0x28 });
    await expect(readOne(tr, 0)).rejects.toMatchObject({ code: ErrorCodes.PHASE_ERROR, details: { responseCode: 2 } });
    expect((await readOne(tr, 0)).status).toBe(0);
  });

  it('a lost status among several outstanding: only that command times out; the others complete', async () => {
    const { tr, sim } = await uas({ speed, uasCommandDelayMs: () => 20 });
    sim.faults.inject({ kind: 'uas-lost-status', opcode: 0x28, skip: 2 });
    const settled = await Promise.allSettled(Array.from({ length: 5 }, (_, lba) => readOne(tr, lba, 400)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCodes.TIMEOUT });
    expect(sim.uas.stats.taskManagement.map((t) => [t.function, t.response])).toEqual([[1, 0]]);
  });
});

describe('UAS open', () => {
  it('a SuperSpeed device through a handle without streams: E_UNSUPPORTED, interface released', async () => {
    const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, speed: 'super', interfaces: 'uas-only' });
    const backend = new EmulatorBackend({ devices: [device] });
    const [info] = await backend.list();
    const handle = await backend.open(info!);
    const noStreams = new Proxy(handle, {
      get: (target, key, receiver) =>
        key === 'allocStreams' || key === 'streamTransfer'
          ? undefined
          : (Reflect.get(target, key, receiver) as unknown),
    });
    await expect(UasTransport.open(noStreams)).rejects.toMatchObject({
      code: ErrorCodes.UNSUPPORTED,
      message: expect.stringMatching(/offers 16 bulk streams/),
    });
    expect(device.claimedBy).toBeNull();
    await backend.dispose();
  });

  it('a bridge held by the kernel uas driver: detached for the transport, given back at close', async () => {
    const device = new SimulatedDevice({
      ...DEFAULT_SIM_DEVICE,
      speed: 'super',
      interfaces: 'bot+uas',
      kernelDriver: 'uas',
    });
    const backend = new EmulatorBackend({ devices: [device] });
    const [info] = await backend.list();
    await expect(UasTransport.open(await backend.open(info!))).rejects.toMatchObject({ code: ErrorCodes.BUSY });
    const tr = await UasTransport.open(await backend.open(info!), { detachKernelDriver: true });
    expect(device.kernelDriver).toBeNull();
    expect(device.alternateSetting).toBe(1);
    expect((await readOne(tr, 0)).status).toBe(0);
    await tr.close();
    expect(device.kernelDriver).toBe('uas');
    await backend.dispose();
  });

  it('a backend that cannot cancel a transfer (usb package): E_UNSUPPORTED saying why; auto takes BOT', async () => {
    const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, interfaces: 'bot+uas' });
    const backend = new EmulatorBackend({ devices: [device] });
    const uncancellable = (h: UsbDeviceHandle): UsbDeviceHandle =>
      new Proxy(h, {
        get: (target, key, receiver) =>
          key === 'capabilities'
            ? { ...target.capabilities, cancellableTransfers: false }
            : (Reflect.get(target, key, receiver) as unknown),
      });
    const [info] = await backend.list();
    await expect(UasTransport.open(uncancellable(await backend.open(info!)))).rejects.toMatchObject({
      code: ErrorCodes.UNSUPPORTED,
      message: expect.stringMatching(/cannot cancel a pending transfer/),
    });
    const wrapped = {
      ...backend,
      name: backend.name,
      list: () => backend.list(),
      open: async (d: typeof info) => uncancellable(await backend.open(d!)),
    };
    const auto = await openDevice({ backend: wrapped });
    expect(auto.transportKind).toBe('bot');
    await auto.close();
    await expect(openDevice({ backend: wrapped, transport: 'uas' })).rejects.toMatchObject({
      code: ErrorCodes.UNSUPPORTED,
    });
    await backend.dispose();
  });

  it('openDevice: auto on a UAS bridge takes UAS, bot keeps BOT; concurrent execute() queues on UAS only', async () => {
    const device = new SimulatedDevice({
      ...DEFAULT_SIM_DEVICE,
      speed: 'super',
      interfaces: 'bot+uas',
      uasCommandDelayMs: () => 20,
    });
    const backend = new EmulatorBackend({ devices: [device] });
    const viaUas = await openDevice({ backend, queueDepth: 4 });
    expect(viaUas.transportKind).toBe('uas');
    expect(viaUas.transport.queueDepth).toBe(4);
    await Promise.all(Array.from({ length: 4 }, (_, i) => viaUas.execute(read10(i), { length: 512 })));
    expect(device.uas.stats.maxOutstanding).toBe(4);
    await viaUas.close();
    const viaBot = await openDevice({ backend, transport: 'bot' });
    expect(viaBot.transportKind).toBe('bot');
    expect(viaBot.transport.queueDepth).toBeUndefined();
    await viaBot.close();
    await expect(openDevice({ backend, queueDepth: 0 })).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await backend.dispose();
  });
});

describe('UAS LUNs: REPORT LUNS at open (UAS has no GET MAX LUN)', () => {
  const twoLuns = {
    luns: [
      { blockSize: 512, blockCount: 2048 },
      { blockSize: 4096, blockCount: 64 },
    ],
  };

  it.each([['high' as const], ['super' as const]])('a two-LUN device (%s speed): maxLun 1', async (speed) => {
    const { tr, sim } = await uas({ speed, ...twoLuns });
    expect(tr.maxLun).toBe(1);
    expect(sim.uas.stats.commands).toBe(1); // REPORT LUNS, nothing else before the caller's commands
  });

  it('openDevice --lun 1 on UAS reaches that LUN; a LUN past what REPORT LUNS listed is refused', async () => {
    const backend = new EmulatorBackend({
      devices: [new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, speed: 'super', interfaces: 'uas-only', ...twoLuns })],
    });
    const second = await openDevice({ backend, lun: 1 });
    expect(second.transportKind).toBe('uas');
    expect(await second.readCapacity()).toMatchObject({ blockSize: 4096, blocks: 64n });
    await second.close();
    await expect(openDevice({ backend, lun: 2 })).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await backend.dispose();
  });

  it('a device whose REPORT LUNS fails (Response IU INVALID IU) still opens as single-LUN and answers', async () => {
    const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, interfaces: 'uas-only', speed: 'super', ...twoLuns });
    device.faults.inject({ kind: 'uas-response', opcode: 0xa0 });
    const backend = new EmulatorBackend({ devices: [device] });
    const [info] = await backend.list();
    const tr = await UasTransport.open(await backend.open(info!), { taskManagementTimeoutMs: 300 });
    open = { tr, backend };
    expect(tr.maxLun).toBe(0);
    expect((await readOne(tr, 0)).status).toBe(0);
  });
});
