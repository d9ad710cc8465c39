import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient, type DaemonEvent } from '@usbscsi/core';
import { FakeProvider, SLOW_OPCODE, type FakeDevice } from './fake-provider.js';
import { startTestDaemon, until, type TestDaemon } from './helpers.js';

const slow = (tensOfMs: number) => Uint8Array.from([SLOW_OPCODE, tensOfMs, 0, 0, 0, 0]);
const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe('usbscsid queueing, cancellation, leases, draining (fake device)', () => {
  let t: TestDaemon;
  let provider: FakeProvider;
  let dev: FakeDevice;
  let client: DaemonClient;
  let stopped = false;

  beforeEach(async () => {
    stopped = false;
    provider = new FakeProvider();
    dev = provider.add('1-1');
    t = await startTestDaemon(provider, { idleCloseMs: 10_000, limits: { watchdogGraceMs: 100 } });
    client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath }, { maxSockets: 64 });
  });
  afterEach(async () => {
    client.close();
    if (!stopped) await t.stop();
  });

  const depth = async () => (await client.getDevice('1-1')).queueDepth;

  it('runs commands of many clients strictly one at a time, in arrival order', async () => {
    const running = client.execute('1-1', slow(80));
    await until(async () => (await depth()) === 1, 2000, 'slow command running');
    const queued = [0, 1, 2, 3].map((i) => client.execute('1-1', Uint8Array.from([0x00, 0, 0, 0, i, 0])));
    await until(async () => (await depth()) === 5, 2000, 'four queued');
    expect((await client.getDevice('1-1')).state).toBe('busy');
    const results = await Promise.all([running, ...queued]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops the queued commands of a client that disconnects, and aborts its running read', async () => {
    const gone = new AbortController();
    const running = client.execute('1-1', slow(150), { signal: gone.signal });
    await until(async () => (await depth()) === 1, 2000, 'running');
    const queued = [1, 2, 3].map(() => client.execute('1-1', INQUIRY, { length: 36, signal: gone.signal }));
    const other = client.execute('1-1', Uint8Array.from([0x00, 0, 0, 0, 0, 0]));
    await until(async () => (await depth()) === 5, 2000, 'queued');
    gone.abort();
    expect(await Promise.all([running, ...queued].map(codeOf))).toEqual([
      'E_CANCELLED',
      'E_CANCELLED',
      'E_CANCELLED',
      'E_CANCELLED',
    ]);
    expect((await other).status).toBe(0);
    await until(() => dev.aborted === 1, 2000, 'running command aborted');
    // the three INQUIRYs never reached the device; the other client's TEST UNIT READY did
    expect(dev.executed).toEqual([SLOW_OPCODE, 0x00]);
  });

  it('fails every pending command with E_DEVICE_GONE when the device is unplugged mid-queue', async () => {
    const events: DaemonEvent[] = [];
    const unsubscribe = await client.events((e) => events.push(e));
    const running = client.execute('1-1', slow(100));
    await until(async () => (await depth()) === 1, 2000, 'running');
    const queued = Array.from({ length: 6 }, () => client.execute('1-1', INQUIRY, { length: 36 }));
    await until(async () => (await depth()) === 7, 2000, 'queued');
    provider.unplug('1-1');
    const codes = await Promise.all([running, ...queued].map(codeOf));
    expect(codes).toEqual(Array(7).fill('E_DEVICE_GONE'));
    expect(dev.executed).toEqual([SLOW_OPCODE]);
    expect(await client.listDevices()).toEqual([]);
    expect(await codeOf(client.execute('1-1', INQUIRY, { length: 36 }))).toBe('E_NOT_FOUND');
    await until(() => events.some((e) => e.type === 'device-left'), 2000, 'device-left event');
    provider.add('1-1');
    await until(() => events.some((e) => e.type === 'device-arrived'), 2000, 'device-arrived event');
    expect((await client.execute('1-1', INQUIRY, { length: 36 })).status).toBe(0);
    unsubscribe();
  });

  it('times a command out with E_TIMEOUT when the transport does not finish it', async () => {
    const r = client.execute('1-1', slow(100), { timeoutMs: 50 });
    expect(await codeOf(r)).toBe('E_TIMEOUT');
    // the stuck command was aborted, and the queue moves on
    expect((await client.execute('1-1', INQUIRY, { length: 36 })).status).toBe(0);
  });

  it('gives a lease exclusive use, announces it on /v1/events, and ends it after the idle timeout', async () => {
    const events: DaemonEvent[] = [];
    const unsubscribe = await client.events((e) => events.push(e));
    const lease = await client.acquireLease('1-1', { holder: 'station-7', ttlMs: 60_000, idleTimeoutMs: 300 });
    expect(await client.getDevice('1-1')).toMatchObject({
      state: 'leased',
      lease: { holder: 'station-7' },
      open: true,
    });
    const refused = await codeOf(client.execute('1-1', INQUIRY, { length: 36 }));
    expect(refused).toBe('E_BUSY');
    expect(await codeOf(client.acquireLease('1-1'))).toBe('E_BUSY');
    expect((await client.execute('1-1', INQUIRY, { length: 36, leaseSecret: lease.secret })).status).toBe(0);
    await until(() => events.some((e) => e.type === 'lease-acquired'), 2000, 'lease-acquired event');
    await until(() => events.some((e) => e.type === 'lease-released'), 3000, 'idle lease end');
    const released = events.find((e) => e.type === 'lease-released') as Extract<
      DaemonEvent,
      { type: 'lease-released' }
    >;
    expect(released).toMatchObject({ reason: 'idle', lease: { id: lease.id, holder: 'station-7', deviceId: '1-1' } });
    expect(dev.closed).toBe(true); // handed back
    expect(await client.getDevice('1-1')).toMatchObject({ state: 'idle', lease: null, open: false });
    expect((await client.execute('1-1', INQUIRY, { length: 36 })).status).toBe(0);
    unsubscribe();
  });

  it('releases a lease on DELETE and cancels its queued commands', async () => {
    const lease = await client.acquireLease('1-1', { idleTimeoutMs: 10_000 });
    const running = client.execute('1-1', slow(100), { leaseSecret: lease.secret });
    await until(async () => (await depth()) === 1, 2000, 'running');
    const queued = codeOf(client.execute('1-1', INQUIRY, { length: 36, leaseSecret: lease.secret }));
    await until(async () => (await depth()) === 2, 2000, 'queued');
    expect((await client.releaseLease(lease)).id).toBe(lease.id);
    expect(await queued).toBe('E_CANCELLED');
    expect((await running).status).toBe(0);
    expect(await client.listLeases()).toEqual([]);
    expect(await codeOf(client.releaseLease(lease))).toBe('E_NOT_FOUND');
  });

  it('drains on shutdown: the running command finishes, queued ones get E_CANCELLED, leases are released', async () => {
    const events: DaemonEvent[] = [];
    const unsubscribe = await client.events((e) => events.push(e));
    provider.add('1-2');
    await until(async () => (await client.listDevices()).length === 2, 2000, 'second device');
    const lease = await client.acquireLease('1-2');
    const running = client.execute('1-1', slow(100));
    await until(async () => (await depth()) === 1, 2000, 'running');
    const queued = [1, 2].map(() => client.execute('1-1', INQUIRY, { length: 36 }));
    await until(async () => (await depth()) === 3, 2000, 'queued');
    stopped = true;
    const stopping = t.stop();
    expect(await Promise.all([running, ...queued].map(codeOf))).toEqual(['resolved', 'E_CANCELLED', 'E_CANCELLED']);
    await stopping;
    expect(events.find((e) => e.type === 'lease-released')).toMatchObject({
      reason: 'shutdown',
      lease: { id: lease.id },
    });
    expect(provider.devices.get('1-2')!.device.closed).toBe(true);
    expect(dev.closed).toBe(true);
    unsubscribe();
  });
});
