import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '@usbscsi/core';
import { parseTokenFile } from '../src/auth.js';
import { parseListen } from '../src/socket.js';
import { FakeProvider } from './fake-provider.js';
import { raw, startTestDaemon, type TestDaemon } from './helpers.js';

const TOKEN = 'f3a1c0de5eed5eed5eedf00dcafe0001';

describe('usbscsid TCP listener: bearer token', () => {
  let t: TestDaemon;
  let port: number;

  beforeAll(async () => {
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN });
    port = t.daemon.tcp!.port;
  });
  afterAll(async () => t.stop());

  it('refuses every route without a token, and with a wrong one, with 401 E_PERMISSION', async () => {
    const body = JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36 });
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/devices'],
      ['POST', '/v1/devices/1-1/execute'],
      ['GET', '/metrics'],
      ['GET', '/v1/events'],
      ['GET', '/nope'],
    ] as const) {
      for (const auth of [undefined, 'Bearer wrong-token', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN]) {
        const r = await raw({ port }, method, path, method === 'POST' ? body : undefined, {
          'content-type': 'application/json',
          ...(auth ? { authorization: auth } : {}),
        });
        expect({ path, auth, status: r.status }).toEqual({ path, auth, status: 401 });
        expect(r.json.error.code).toBe('E_PERMISSION');
        expect(r.json.error.details.reason).toBe(auth?.startsWith('Bearer ') ? 'token-invalid' : 'token-missing');
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
  });

  it('serves requests that carry the token', async () => {
    const client = new DaemonClient(`http://127.0.0.1:${port}`, { token: TOKEN });
    try {
      expect((await client.health()).status).toBe('ok');
      const r = await client.execute('1-1', Uint8Array.from([0x12, 0, 0, 0, 36, 0]), { length: 36 });
      expect(r.status).toBe(0);
    } finally {
      client.close();
    }
  });

  it('keeps the Unix socket free of the token requirement', async () => {
    expect((await raw(t, 'GET', '/healthz')).status).toBe(200);
  });

  it('reads the token file and --listen strictly', () => {
    expect(parseTokenFile(`${TOKEN}\n# comment\n`, 'f')).toBe(TOKEN);
    expect(() => parseTokenFile('short\n', 'f')).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    expect(parseListen('127.0.0.1:8765')).toEqual({ host: '127.0.0.1', port: 8765 });
    expect(parseListen('8765')).toEqual({ host: '127.0.0.1', port: 8765 });
    expect(parseListen('[::1]:9')).toEqual({ host: '::1', port: 9 });
    for (const bad of ['host', '1.2.3.4:99999', ':80'])
      expect(() => parseListen(bad)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });

  it('refuses to start TCP without a token or on a non-loopback address', async () => {
    const provider = new FakeProvider();
    await expect(startTestDaemon(provider, { listen: { host: '127.0.0.1', port: 0 } })).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
    });
    for (const host of ['0.0.0.0', '127.example.com', '127.0.0.1.example.com'])
      await expect(startTestDaemon(provider, { listen: { host, port: 0 }, token: TOKEN }), host).rejects.toMatchObject({
        code: 'E_BAD_INPUT',
      });
  });
});
