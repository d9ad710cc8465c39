/**
 * The daemon's own limits: slow or silent clients are closed, request bodies
 * held at once and each device's queue are bounded (503 E_BUSY + Retry-After).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '@usbscsi/core';
import { FakeProvider, SLOW_OPCODE } from './fake-provider.js';
import { sendRaw, startTestDaemon, type TestDaemon } from './helpers.js';

describe('usbscsid closes slow and silent clients', () => {
  let t: TestDaemon | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const start = async () => {
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 } });
    return t;
  };

  it('closes a client that sends part of its headers and stalls, within the headers timeout, with 408 in the envelope', async () => {
    const { socketPath } = await start();
    const started = Date.now();
    const r = await sendRaw(socketPath, 'POST /v1/devices/1-1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: appl', 5000);
    const ms = Date.now() - started;
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_TIMEOUT' } });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
  });

  it('closes a client that sends its headers and then stalls on the body, within the request timeout', async () => {
    const { socketPath } = await start();
    const started = Date.now();
    const head = 'POST /v1/devices/1-1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nX-Scsi-Cdb: 2a 00 00 00 00 00 00 00 08 00\r\nContent-Length: 4096\r\n\r\n';
    const r = await sendRaw(socketPath, `${head}${'x'.repeat(100)}`, 5000);
    const ms = Date.now() - started;
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_TIMEOUT' } });
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(2500);
  });

  it('closes a silent connection and an idle keep-alive one, yet lets a command run longer than every timeout', async () => {
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
  });
});
