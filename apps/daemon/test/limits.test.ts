/**
 * The daemon's own limits: slow or silent clients are closed, request bodies
 * held at once and each device's queue are bounded (503 E_BUSY + Retry-After).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '@usbscsi/core';
import { FakeProvider, SLOW_OPCODE } from './fake-provider.js';
import { raw, sendRaw, startTestDaemon, until, type TestDaemon } from './helpers.js';

describe('usbscsid closes slow and silent clients', () => {
  let t: TestDaemon | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const start = async () => {
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, {
      limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 },
    });
    return t;
  };

  it(
    'closes a client that sends part of its headers and stalls, within the headers timeout, ' +
      'with 408 in the envelope',
    async () => {
      const { socketPath } = await start();
      const started = Date.now();
      const r = await sendRaw(
        socketPath,
        'POST /v1/devices/1-1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: appl',
        5000,
      );
      const ms = Date.now() - started;
      expect(r.status).toBe(408);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_TIMEOUT' } });
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(2000);
    },
  );

  it('closes a client that sends its headers and then stalls on the body, within the request timeout', async () => {
    const { socketPath } = await start();
    const started = Date.now();
    const head =
      'POST /v1/devices/1-1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nX-Scsi-Cdb: ' +
      '2a 00 00 00 00 00 00 00 08 00\r\nContent-Length: 4096\r\n\r\n';
    const r = await sendRaw(socketPath, `${head}${'x'.repeat(100)}`, 5000);
    const ms = Date.now() - started;
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_TIMEOUT' } });
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(2500);
  });

  it(
    'closes a silent connection and an idle keep-alive one, yet lets a command run longer ' + 'than every timeout',
    async () => {
      const { socketPath } = await start();
      const silent = await sendRaw(socketPath, '', 5000);
      expect(silent.closed || silent.status === 408).toBe(true);
      const client = new DaemonClient({ kind: 'unix', socketPath });
      try {
        // 1.5 s of device time: the request was complete long before, so no request timeout applies
        const r = await client.execute('1-1', Uint8Array.from([SLOW_OPCODE, 150, 0, 0, 0, 0]), { timeoutMs: 10_000 });
        expect(r.status).toBe(0);
      } finally {
        client.close();
      }
      const idle = await sendRaw(socketPath, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
      expect(idle.status).toBe(200);
      expect(idle.closed).toBe(true); // the daemon ended the idle keep-alive connection before the 5 s the test waits
    },
  );
});

describe('usbscsid bounds what it holds', () => {
  let t: TestDaemon | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const KiB = 1024;
  const write10 = (lba: number, blocks: number) => {
    const cdb = Buffer.alloc(10);
    cdb[0] = 0x2a;
    cdb.writeUInt32BE(lba, 2);
    cdb.writeUInt16BE(blocks, 7);
    return cdb.toString('hex');
  };
  const upload = (socketPath: string, lba: number, bytes: number) =>
    raw({ socketPath }, 'POST', '/v1/devices/1-1/execute', Buffer.alloc(bytes, lba), {
      'content-type': 'application/octet-stream',
      'x-scsi-cdb': write10(lba, bytes / 512),
      'x-scsi-allow-medium-write': 'true',
    });

  it(
    'refuses the upload beyond --max-bytes-in-flight with 503 E_BUSY and Retry-After ' +
      'instead of buffering it; admits again once bodies are done',
    async () => {
      const provider = new FakeProvider();
      const dev = provider.add('1-1');
      // room for four 64 KiB bodies and the blocker's small JSON body, not for a fifth
      t = await startTestDaemon(provider, {
        limits: { bodyLimit: 64 * KiB, maxTransferLength: 64 * KiB, maxBytesInFlight: 260 * KiB },
      });
      const client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
      try {
        // The device is busy, so every upload's body waits in memory behind this command.
        const blocker = client.execute('1-1', Uint8Array.from([SLOW_OPCODE, 60, 0, 0, 0, 0]), { timeoutMs: 10_000 });
        await until(async () => (await client.getDevice('1-1')).queueDepth === 1, 2000, 'blocker running');
        const uploads = [0, 1, 2, 3, 4].map((i) => upload(t!.socketPath, i * 128, 64 * KiB));
        const results = await Promise.all(uploads);
        const refused = results.filter((r) => r.status === 503);
        expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 503]);
        expect(refused[0]!.json.error).toMatchObject({
          code: 'E_BUSY',
          details: { bytes: 64 * KiB, maxBytesInFlight: 260 * KiB },
        });
        expect(refused[0]!.headers['retry-after']).toBe('1');
        await blocker;
        expect(dev.executed.filter((op) => op === 0x2a)).toHaveLength(4);
        await until(() => t!.daemon.ctx.bytesInFlight.inUse === 0, 2000, 'budget released');
        expect((await upload(t.socketPath, 4 * 128, 64 * KiB)).status).toBe(200);
        expect(await client.metrics()).toContain('usbscsid_bytes_in_flight 0');
      } finally {
        client.close();
      }
    },
  );

  it(
    'counts queued data-in reads against the same budget (binary at their length, JSON ' + 'at three times it)',
    async () => {
      const provider = new FakeProvider();
      provider.add('1-1');
      t = await startTestDaemon(provider, {
        limits: { bodyLimit: 64 * KiB, maxTransferLength: 64 * KiB, maxBytesInFlight: 128 * KiB },
      });
      const client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
      try {
        const blocker = client.execute('1-1', Uint8Array.from([SLOW_OPCODE, 40, 0, 0, 0, 0]), { timeoutMs: 10_000 });
        await until(async () => (await client.getDevice('1-1')).queueDepth === 1, 2000, 'blocker running');
        const read = (blocks: number) => Uint8Array.from([0x28, 0, 0, 0, 0, 0, 0, 0, blocks, 0]);
        // binary: 64 KiB held (plus its small JSON body)
        const a = client.execute('1-1', read(128), { length: 64 * KiB });
        await until(() => t!.daemon.ctx.bytesInFlight.inUse >= 64 * KiB, 2000, 'first read admitted');
        // 24 KiB as JSON holds 72 KiB: over the 64 KiB left; the same read as binary holds 24 KiB and fits
        const json = await raw(
          t,
          'POST',
          '/v1/devices/1-1/execute',
          JSON.stringify({ cdb: '28 00 00 00 00 00 00 00 30 00', length: 24 * KiB }),
          { 'content-type': 'application/json' },
        );
        expect([json.status, json.json.error.code, json.json.error.details.bytes]).toEqual([503, 'E_BUSY', 72 * KiB]);
        const b = client.execute('1-1', read(48), { length: 24 * KiB });
        await blocker;
        expect((await a).transferred).toBe(64 * KiB);
        expect((await b).transferred).toBe(24 * KiB);
        await until(() => t!.daemon.ctx.bytesInFlight.inUse === 0, 2000, 'budget released');
      } finally {
        client.close();
      }
    },
  );

  it('refuses a command beyond --max-queue-depth with 503 E_BUSY and Retry-After, without sending it', async () => {
    const provider = new FakeProvider();
    const dev = provider.add('1-1');
    t = await startTestDaemon(provider, { limits: { maxQueueDepth: 3 } });
    const client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath }, { maxSockets: 8 });
    try {
      const slow = () => client.execute('1-1', Uint8Array.from([SLOW_OPCODE, 30, 0, 0, 0, 0]), { timeoutMs: 10_000 });
      const admitted = [slow()];
      await until(async () => (await client.getDevice('1-1')).queueDepth === 1, 2000, 'first running');
      admitted.push(slow(), slow());
      await until(async () => (await client.getDevice('1-1')).queueDepth === 3, 2000, 'queue full');
      const refused = await raw(t, 'POST', '/v1/devices/1-1/execute', JSON.stringify({ cdb: '00 00 00 00 00 00' }), {
        'content-type': 'application/json',
      });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json.error).toMatchObject({ code: 'E_BUSY', details: { queueDepth: 3 } });
      await Promise.all(admitted);
      expect(dev.executed).toEqual([SLOW_OPCODE, SLOW_OPCODE, SLOW_OPCODE]);
      expect((await client.execute('1-1', Uint8Array.from([0, 0, 0, 0, 0, 0]))).status).toBe(0);
    } finally {
      client.close();
    }
  });
});
