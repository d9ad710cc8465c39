import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient, type DaemonEvent } from '@usbscsi/core';
import { startDaemon } from '../src/daemon.js';
import type { DeviceProvider } from '../src/provider.js';
import { FakeDevice, FakeProvider } from './fake-provider.js';
import { until } from './helpers.js';

const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);

describe('usbscsid socket, logs and lease expiry', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'usbscsid-life-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('removes a stale socket file, refuses a live one and a non-socket, and makes the socket 0660', async () => {
    const dir = tmp();
    const path = join(dir, 's.sock');
    // a socket file nobody listens on any more: its owner was SIGKILLed
    const owner = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((r) => owner.once('exit', r));
    expect(statSync(path).isSocket()).toBe(true);
    const provider = new FakeProvider();
    const log = pino({ level: 'silent' });
    const d = await startDaemon({ provider, socketPath: path, log });
    cleanup.push(() => d.shutdown());
    expect(statSync(path).mode & 0o777).toBe(0o660);
    await expect(startDaemon({ provider, socketPath: path, log })).rejects.toMatchObject({ code: 'E_BUSY' });
    const notSocket = join(dir, 'plain');
    writeFileSync(notSocket, 'x');
    await expect(startDaemon({ provider, socketPath: notSocket, log })).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
  });

  it('logs one JSON line per command with request id, device, opcode, duration and result', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _e, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    });
    const provider = new FakeProvider();
    provider.add('1-1');
    const path = join(tmp(), 's.sock');
    const d = await startDaemon({ provider, socketPath: path, log: pino({ level: 'info' }, sink) });
    cleanup.push(() => d.shutdown());
    const client = new DaemonClient({ kind: 'unix', socketPath: path });
    cleanup.push(() => client.close());
    await client.execute('1-1', INQUIRY, { length: 36 });
    await client
      .execute('1-1', Uint8Array.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]), { data: new Uint8Array(512) })
      .catch(() => undefined);
    await until(
      () => lines.filter((l) => l.msg === 'command done' || l.msg === 'command failed').length === 2,
      2000,
      'log lines',
    );
    const done = lines.find((l) => l.msg === 'command done')!;
    expect(done).toMatchObject({ device: '1-1', opcode: '12', status: 0, seq: 1 });
    expect(typeof done.reqId).toBe('string');
    expect(typeof done.ms).toBe('number');
    expect(lines.find((l) => l.msg === 'command failed')).toMatchObject({
      device: '1-1',
      opcode: '2a',
      code: 'E_BAD_INPUT',
    });
    const request = lines.find((l) => l.msg === 'request' && l.reqId === done.reqId);
    expect(request).toMatchObject({ method: 'POST', url: '/v1/devices/1-1/execute', status: 200 });
  });

  /** A daemon over `provider` with no watch(): it polls list() every 30 ms. A client and its event list. */
  async function startPolled(provider: Pick<DeviceProvider, 'list' | 'open'>) {
    const path = join(tmp(), 's.sock');
    const d = await startDaemon({
      provider: { name: 'polled', ...provider },
      socketPath: path,
      log: pino({ level: 'silent' }),
      pollMs: 30,
    });
    cleanup.push(() => d.shutdown());
    const client = new DaemonClient({ kind: 'unix', socketPath: path });
    cleanup.push(() => client.close());
    const events: DaemonEvent[] = [];
    cleanup.push(await client.events((e) => events.push(e)));
    return { client, events };
  }

  it('finds arrivals and departures by polling list() when the backend has no hotplug events', async () => {
    const fake = new FakeProvider();
    const { client, events } = await startPolled({ list: () => fake.list(), open: (id) => fake.open(id) });
    fake.add('2-4.1');
    await until(
      () => events.some((e) => e.type === 'device-arrived' && e.device.id === '2-4.1'),
      3000,
      'arrival by polling',
    );
    expect((await client.execute('2-4.1', INQUIRY, { length: 36 })).status).toBe(0);
    fake.unplug('2-4.1');
    await until(() => events.some((e) => e.type === 'device-left'), 3000, 'departure by polling');
    expect(await client.listDevices()).toEqual([]);
  });

  it('a new device at the same port between polls: the old one left, lease and all; the new one arrived', async () => {
    const fake = new FakeProvider();
    let attachment = '2:5';
    // Polled, as the native backend is; the attachment is what core's provider lists (bus:address).
    const { client, events } = await startPolled({
      list: async () => (await fake.list()).map((d) => ({ ...d, attachment })),
      open: (id) => fake.open(id),
    });
    const first = fake.add('2-4.1');
    await until(() => events.some((e) => e.type === 'device-arrived'), 3000, 'arrival by polling');
    const lease = await client.acquireLease('2-4.1', { ttlMs: 60_000 });
    expect((await client.execute('2-4.1', INQUIRY, { length: 36, leaseSecret: lease.secret })).status).toBe(0);

    // Swapped between two polls for a device with other ids (as after a firmware download).
    const entry = fake.devices.get('2-4.1')!;
    fake.devices.set('2-4.1', { summary: { ...entry.summary, productId: 0x9999 }, device: new FakeDevice() });
    first.unplug();
    attachment = '2:6';
    await until(
      () => events.some((e) => e.type === 'device-arrived' && e.device.productId === 0x9999),
      3000,
      'the new device by polling',
    );
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['device-left', 'lease-released', 'device-arrived']),
    );
    expect(events.findIndex((e) => e.type === 'device-left')).toBeLessThan(
      events.findIndex((e) => e.type === 'device-arrived' && e.device.productId === 0x9999),
    );
    expect(await client.listDevices()).toEqual([expect.objectContaining({ id: '2-4.1', productId: 0x9999 })]);
    expect(JSON.stringify(await client.listDevices())).not.toContain('attachment');
    // The old lease ended with the old device: it cannot be renewed, and the new device is free to lease.
    await expect(client.renewLease(lease)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await client.releaseLease(await client.acquireLease('2-4.1', { ttlMs: 60_000 }));

    // The same ids, plugged back in (a new attachment): left and arrived again.
    const arrivals = () => events.filter((e) => e.type === 'device-arrived').length;
    const before = arrivals();
    attachment = '2:7';
    await until(() => arrivals() > before, 3000, 'the re-enumeration by polling');
    // Same ids, same attachment, a product string the backend could not read this time: no change.
    const settled = events.length;
    const current = fake.devices.get('2-4.1')!;
    fake.devices.set('2-4.1', { summary: { ...current.summary, product: undefined }, device: current.device });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.length).toBe(settled);
  });

  it('ends a lease when its TTL is spent (reason expired) and hands the device back', async () => {
    const provider = new FakeProvider();
    const dev = provider.add('1-1');
    const path = join(tmp(), 's.sock');
    const d = await startDaemon({ provider, socketPath: path, log: pino({ level: 'silent' }) });
    cleanup.push(() => d.shutdown());
    const client = new DaemonClient({ kind: 'unix', socketPath: path });
    cleanup.push(() => client.close());
    const events: DaemonEvent[] = [];
    const stop = await client.events((e) => events.push(e));
    cleanup.push(stop);
    const lease = await client.acquireLease('1-1', { ttlMs: 200, idleTimeoutMs: 200 });
    expect(dev.closed).toBe(false);
    // commands keep it from idling, not from expiring
    for (let i = 0; i < 3; i++) await client.execute('1-1', INQUIRY, { length: 36, leaseSecret: lease.secret });
    await until(() => events.some((e) => e.type === 'lease-released'), 3000, 'expiry');
    expect(events.find((e) => e.type === 'lease-released')).toMatchObject({
      reason: 'expired',
      lease: { id: lease.id },
    });
    expect(dev.closed).toBe(true);
    await expect(client.execute('1-1', INQUIRY, { length: 36, leaseSecret: lease.secret })).resolves.toMatchObject({
      status: 0,
    });
    await expect(client.acquireLease('1-1', { ttlMs: 10, idleTimeoutMs: 20 })).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
    });
  });
});
