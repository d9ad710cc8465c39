import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from './daemon-client.js';
import { defaultDaemonSocket, parseVia } from './endpoint.js';
import { RemoteTransport, openRemoteDevice } from './remote-transport.js';
import { senseFromJson } from '../wire/json.js';

describe('parseVia', () => {
  it('reads unix:PATH, unix: and http://HOST:PORT (token from the environment)', () => {
    expect(parseVia('unix:/run/usbscsid.sock')).toEqual({ kind: 'unix', socketPath: '/run/usbscsid.sock' });
    expect(parseVia('unix:', { env: { XDG_RUNTIME_DIR: '/run/user/1000' } })).toEqual({
      kind: 'unix',
      socketPath: process.getuid?.() === 0 ? '/run/usbscsid.sock' : '/run/user/1000/usbscsid.sock',
    });
    expect(parseVia('http://127.0.0.1:8765', { env: { USBSCSI_TOKEN: 'sekrit' } })).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 8765,
      token: 'sekrit',
    });
    expect(parseVia('http://[::1]:9/')).toMatchObject({ kind: 'tcp', host: '::1', port: 9 });
    for (const bad of ['tcp:1', 'unix:relative', 'http://host', '/run/x.sock'])
      expect(() => parseVia(bad)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });

  it('refuses plain HTTP to a host that is not loopback, so the token never crosses the network in clear', () => {
    const env = { USBSCSI_TOKEN: 'sekrit' };
    for (const host of ['127.0.0.1', '127.1.2.3', '[::1]', 'localhost', 'LOCALHOST', '[0:0:0:0:0:0:0:1]'])
      expect(parseVia(`http://${host}:8765`, { env })).toMatchObject({ kind: 'tcp', port: 8765, token: 'sekrit' });
    for (const host of [
      '10.0.0.5',
      '192.168.1.20',
      'station-7.lan',
      '127.example.com',
      '127.0.0.256',
      '[::2]',
      '[fe80::1]',
      '0.0.0.0',
    ]) {
      for (const options of [{ env }, { env: {} }, { env: {}, token: 'sekrit' }]) {
        let thrown: unknown;
        try {
          parseVia(`http://${host}:8765`, options);
        } catch (err) {
          thrown = err;
        }
        expect(thrown, host).toMatchObject({
          code: 'E_BAD_INPUT',
          message: expect.stringMatching(/not loopback.*ssh -N -L/s),
        });
      }
    }
  });

  it('refuses ports outside 1-65535', () => {
    for (const port of ['0', '65536', '99999', '00000', '123456789012'])
      expect(() => parseVia(`http://127.0.0.1:${port}`), port).toThrow(
        expect.objectContaining({ code: 'E_BAD_INPUT', message: expect.stringContaining('1 to 65535') }),
      );
    expect(parseVia('http://127.0.0.1:1')).toMatchObject({ port: 1 });
    expect(parseVia('http://127.0.0.1:65535')).toMatchObject({ port: 65535 });
  });

  it('defaults to /run for root and $XDG_RUNTIME_DIR otherwise', () => {
    expect(defaultDaemonSocket({}, 0)).toBe('/run/usbscsid.sock');
    expect(defaultDaemonSocket({ XDG_RUNTIME_DIR: '/run/user/5' }, 5)).toBe('/run/user/5/usbscsid.sock');
    expect(defaultDaemonSocket({}, 5)).toBe('/tmp/usbscsid-5.sock');
  });
});

describe('senseFromJson', () => {
  it('restores bigint and byte fields of decoded sense', () => {
    const s = senseFromJson({
      format: 'fixed',
      senseKey: 5,
      asc: 0x24,
      ascq: 0,
      information: '4294967296',
      raw: '700005',
      descriptors: [{ type: 9, bytes: '0a0b' }],
      ataStatusReturn: { error: 0, lba: '17', status: 0x50 },
    });
    expect(s.information).toBe(4294967296n);
    expect([...s.raw]).toEqual([0x70, 0x00, 0x05]);
    expect([...s.descriptors![0]!.bytes]).toEqual([0x0a, 0x0b]);
    expect(s.ataStatusReturn!.lba).toBe(17n);
  });
});

describe('DaemonClient against a stub server', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;
  let devices: unknown[];
  let executeBodies: Promise<string>[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'usbscsi-client-'));
    socketPath = join(dir, 's.sock');
    devices = [
      { id: '1-1', backend: 'x', vendorId: 0x1234, productId: 0x0001, serialNumber: 'A', location: '1-1' },
      { id: '1-2', backend: 'x', vendorId: 0x1234, productId: 0x0001, serialNumber: 'B', location: '1-2' },
    ];
    executeBodies = [];
    server = createServer((req, res) => {
      if (req.url === '/v1/devices') return res.end(JSON.stringify({ devices }));
      if (req.url?.endsWith('/execute'))
        executeBodies.push(
          new Promise((resolve) => {
            let b = '';
            req.on('data', (c) => (b += c)).on('end', () => resolve(b));
          }),
        );
      if (req.url === '/teapot') return res.writeHead(418).end('not json');
      res
        .writeHead(409, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'E_BUSY', message: 'leased by x', details: { holder: 'x' } } }));
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves devices exactly: by id, by VID:PID:SERIAL; refuses ambiguity with candidates', async () => {
    const c = new DaemonClient(`unix:${socketPath}`);
    expect((await c.resolveDevice('1-2')).id).toBe('1-2');
    expect((await c.resolveDevice('1234:0001:A')).id).toBe('1-1');
    await expect(c.resolveDevice('1234:0001')).rejects.toMatchObject({
      code: 'E_AMBIGUOUS',
      details: { candidates: ['1-1', '1-2'] },
    });
    await expect(c.resolveDevice()).rejects.toMatchObject({ code: 'E_AMBIGUOUS' });
    await expect(c.resolveDevice('dead:beef')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    c.close();
  });

  it("turns the daemon's error body into the UsbScsiError it names, keeping details and the HTTP status", async () => {
    const c = new DaemonClient({ kind: 'unix', socketPath });
    await expect(c.execute('1-1', Uint8Array.of(0, 0, 0, 0, 0, 0))).rejects.toMatchObject({
      code: 'E_BUSY',
      message: 'leased by x',
      details: { holder: 'x', httpStatus: 409 },
    });
    c.close();
  });

  it('retries on another socket a request whose reused keep-alive socket the server had dropped', async () => {
    const flaky = createServer((req, res) => {
      const socket = req.socket as typeof req.socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (socket.served > 1) return socket.destroy(); // as if the idle socket had just been closed
      res.end(JSON.stringify({ status: 'ok', version: 'x', devices: 0, leases: 0 }));
    });
    const path = join(dir, 'flaky.sock');
    await new Promise<void>((r) => flaky.listen(path, r));
    const c = new DaemonClient({ kind: 'unix', socketPath: path }, { maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) expect((await c.health()).status).toBe('ok');
    } finally {
      c.close();
      await new Promise((r) => flaky.close(r));
    }
  });

  it("describes the device by the daemon's listing (id, VID:PID, names, serial, location)", async () => {
    devices[1] = { ...(devices[1] as object), manufacturer: 'Acme', product: 'Stick', extra: 'ignored' };
    const device = await openRemoteDevice({ via: `unix:${socketPath}`, selector: '1-2' });
    try {
      expect(device.description.transport).toBe('remote');
      expect(device.description.daemonDevice).toEqual({
        id: '1-2',
        vendorId: 0x1234,
        productId: 0x0001,
        manufacturer: 'Acme',
        product: 'Stick',
        serialNumber: 'B',
        location: '1-2',
      });
    } finally {
      await device.close();
    }
  });

  it('sends each command with the command timeout the device was opened with', async () => {
    const device = await openRemoteDevice({ via: `unix:${socketPath}`, selector: '1-1', commandTimeoutMs: 4321 });
    try {
      // The stub answers 409: what matters is the request that reached it.
      await expect(device.inquiry()).rejects.toMatchObject({ code: 'E_BUSY' });
      await expect(device.readCapacity()).rejects.toMatchObject({ code: 'E_BUSY' });
      const sent = (await Promise.all(executeBodies)).map((b) => (JSON.parse(b) as { timeoutMs?: number }).timeoutMs);
      expect(sent).toEqual([4321, 4321]);
    } finally {
      await device.close();
    }
  });

  it('says where no daemon listens, and refuses LUNs other than 0 before sending', async () => {
    const c = new DaemonClient({ kind: 'unix', socketPath: join(dir, 'nobody.sock') });
    await expect(c.health()).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringContaining('no usbscsid listens'),
      details: { errno: 'ENOENT' },
    });
    const t = new RemoteTransport({ client: c, deviceId: '1-1' });
    expect(t.kind).toBe('remote');
    await expect(t.execute({ cdb: Uint8Array.of(0, 0, 0, 0, 0, 0), direction: 'none', lun: 1 })).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
    });
    c.close();
  });
});
