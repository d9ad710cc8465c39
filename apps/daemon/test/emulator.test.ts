import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScsiDevice } from '@usbscsi/core';
import type { EmulatorBackend } from '@usbscsi/emulator';
import { DaemonClient, RemoteTransport, type DaemonEvent } from '@usbscsi/core';
import { createCoreProvider } from '../src/core-provider.js';
import { createSimBackend } from '../src/sim.js';
import { raw, startTestDaemon, until, type TestDaemon } from './helpers.js';

const BLOCK = 512;
const CLIENTS = 32;
const PER_CLIENT = 50;
const BLOCKS_PER_IO = 4;

function cdb10(op: number, lba: number, blocks: number): Uint8Array {
  const b = Buffer.alloc(10);
  b[0] = op;
  b.writeUInt32BE(lba, 2);
  b.writeUInt16BE(blocks, 7);
  return new Uint8Array(b);
}
const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);

/** Bytes no other client or step writes: client, step and offset all in the pattern. */
function pattern(client: number, step: number): Buffer {
  const b = Buffer.alloc(BLOCKS_PER_IO * BLOCK);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32BE(((client << 24) | (step << 16) | (i >> 2)) >>> 0, i);
  return b;
}

describe('usbscsid against the emulator (simulated BOT disk through core)', () => {
  let t: TestDaemon;
  let backend: EmulatorBackend;
  let client: DaemonClient;

  beforeEach(async () => {
    backend = createSimBackend(['sim:blocks=8192']);
    t = await startTestDaemon(await createCoreProvider({ backend, transport: 'bot' }), { idleCloseMs: 200 });
    client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath }, { maxSockets: 64 });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
  });

  it(
    `serves ${CLIENTS} concurrent clients × ${PER_CLIENT} commands: none lost, each client's ` +
      `order kept, every result matched`,
    async () => {
      const [device] = await client.listDevices();
      expect(device).toMatchObject({ id: '1-1', vendorId: 0x1d6b, productId: 0x0104, serialNumber: 'SIM0001' });
      const clients = Array.from(
        { length: CLIENTS },
        () => new DaemonClient({ kind: 'unix', socketPath: t.socketPath }, { maxSockets: 1 }),
      );
      const seqs: number[][] = clients.map(() => []);
      let mismatches = 0;
      await Promise.all(
        clients.map(async (c, k) => {
          const base = k * 200; // this client's own LBA range
          let lastWrite: { lba: number; data: Buffer } | undefined;
          for (let step = 0; step < PER_CLIENT; step++) {
            const kind = step % 5; // 0,2 write; 1,3 read back; 4 INQUIRY
            if (kind === 0 || kind === 2) {
              const lba = base + (step % 40) * BLOCKS_PER_IO;
              const data = pattern(k, step);
              const r = await c.execute('1-1', cdb10(0x2a, lba, BLOCKS_PER_IO), { data, allowMediumWrite: true });
              expect(r.status).toBe(0);
              expect(r.transferred).toBe(data.length);
              seqs[k]!.push(r.seq);
              lastWrite = { lba, data };
            } else if (kind === 1 || kind === 3) {
              const r = await c.execute('1-1', cdb10(0x28, lastWrite!.lba, BLOCKS_PER_IO), {
                length: BLOCKS_PER_IO * BLOCK,
              });
              expect(r.status).toBe(0);
              if (!Buffer.from(r.data).equals(lastWrite!.data)) mismatches++;
              seqs[k]!.push(r.seq);
            } else {
              const r = await c.execute('1-1', INQUIRY, { length: 36 });
              expect(Buffer.from(r.data.subarray(8, 16)).toString().trim()).toBe('USBSCSI');
              seqs[k]!.push(r.seq);
            }
          }
        }),
      );
      clients.forEach((c) => c.close());
      expect(mismatches).toBe(0);
      // every command ran exactly once, and each client's commands ran in the order it sent them
      const all = seqs.flat();
      expect(all).toHaveLength(CLIENTS * PER_CLIENT);
      expect(new Set(all).size).toBe(all.length);
      for (const s of seqs) expect(s).toEqual([...s].sort((a, b) => a - b));
      // the clients really interleaved (a FIFO shared by all, not one client after another)
      expect(seqs.some((s) => s[s.length - 1]! - s[0]! > PER_CLIENT)).toBe(true);
      // every written pattern is still where its client put it
      for (let k = 0; k < CLIENTS; k++) {
        const r = await client.execute('1-1', cdb10(0x28, k * 200 + (47 % 40) * BLOCKS_PER_IO, BLOCKS_PER_IO), {
          length: BLOCKS_PER_IO * BLOCK,
        });
        expect(Buffer.from(r.data).equals(pattern(k, 47))).toBe(true);
      }
      const metrics = await client.metrics();
      expect(metrics).toContain(`usbscsid_commands_total{opcode_class="write",result="good"} ${CLIENTS * 20}`);
      expect(metrics).toContain(`usbscsid_commands_total{opcode_class="inquiry",result="good"} ${CLIENTS * 10}`);
      expect(metrics).toContain(`usbscsid_data_out_bytes_total ${CLIENTS * 20 * BLOCKS_PER_IO * BLOCK}`);
    },
    60_000,
  ); // 1600 commands on a shared, loaded machine: no timing is asserted, only a generous ceiling

  it('returns CHECK CONDITION as a 200 result with decoded sense, in JSON and in binary form', async () => {
    const beyond = cdb10(0x28, 8192, 1); // one past the last LBA
    const j = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute',
      JSON.stringify({ cdb: Buffer.from(beyond).toString('hex'), length: 512 }),
      { 'content-type': 'application/json' },
    );
    expect(j.status).toBe(200);
    expect(j.json).toMatchObject({
      status: 2,
      sense: { senseKey: 5, asc: 0x21, ascq: 0, senseKeyName: 'ILLEGAL REQUEST' },
    });
    const b = await client.execute('1-1', beyond, { length: 512 });
    expect(b.status).toBe(2);
    expect(b.sense).toMatchObject({ senseKey: 5, asc: 0x21, ascq: 0 });
    expect(b.sense!.raw).toBeInstanceOf(Uint8Array);
    expect(b.sense!.raw[0]! & 0x7f).toBeGreaterThanOrEqual(0x70);
  });

  it('runs every ScsiDevice helper through RemoteTransport (kind remote)', async () => {
    const device = new ScsiDevice(new RemoteTransport({ client, deviceId: '1-1' }));
    expect(device.description.transport).toBe('remote');
    const inquiry = await device.inquiry();
    expect(inquiry).toMatchObject({ vendor: 'USBSCSI', product: 'SIMULATED DISK' });
    const capacity = await device.readCapacity();
    expect(capacity).toMatchObject({ blocks: 8192n, blockSize: 512 });
    const data = Buffer.alloc(64 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    await expect(device.write(100, data, { allowMediumWrite: false as true })).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
    });
    await device.write(100, data, { allowMediumWrite: true });
    expect(Buffer.from(await device.read(100, 128)).equals(data)).toBe(true);
    await device.testUnitReady();
    await device.reset();
    await device.close();
  });

  it('answers E_TIMEOUT (504) when the device never answers, and the queue goes on after reset recovery', async () => {
    backend.devices[0]!.faults.inject({ kind: 'no-response', opcode: 0x28, phase: 'csw' });
    const stuck = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute',
      JSON.stringify({ cdb: Buffer.from(cdb10(0x28, 0, 1)).toString('hex'), length: 512, timeoutMs: 300 }),
      { 'content-type': 'application/json' },
    );
    expect(stuck.status).toBe(504);
    expect(stuck.json.error.code).toBe('E_TIMEOUT');
    const next = await client.execute('1-1', INQUIRY, { length: 36 });
    expect(next.status === 0 || next.sense?.senseKey === 6).toBe(true); // a UNIT ATTENTION after the reset is fine
    expect((await client.execute('1-1', cdb10(0x28, 0, 1), { length: 512 })).status).toBe(0);
  });

  it(
    'fails the running and every queued command with E_DEVICE_GONE when the ' + 'device disconnects mid-queue',
    async () => {
      const events: DaemonEvent[] = [];
      const unsubscribe = await client.events((e) => events.push(e));
      const sim = backend.devices[0]!;
      // the 3rd command the device sees makes it drop off the bus
      sim.resetStats();
      sim.faults.inject({ kind: 'disconnect', opcode: 0x28, skip: 2 });
      const reads = Array.from({ length: 12 }, (_, i) =>
        client.execute('1-1', cdb10(0x28, i, 1), { length: 512 }).then(
          (r) => `ok:${r.seq}`,
          (err: { code: string }) => err.code,
        ),
      );
      const outcomes = await Promise.all(reads);
      expect(outcomes.slice(0, 2)).toEqual(['ok:1', 'ok:2']);
      expect(outcomes.slice(2)).toEqual(Array(10).fill('E_DEVICE_GONE'));
      await until(() => events.some((e) => e.type === 'device-left'), 3000, 'device-left event');
      expect(await client.listDevices()).toEqual([]);
      sim.replug();
      await until(() => events.some((e) => e.type === 'device-arrived'), 3000, 'device-arrived event');
      expect((await client.execute('1-1', INQUIRY, { length: 36 })).status).toBe(0);
      unsubscribe();
    },
  );
});
