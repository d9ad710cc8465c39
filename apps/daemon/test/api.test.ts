import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '@usbscsi/core';
import { FakeProvider, type FakeDevice } from './fake-provider.js';
import { raw, startTestDaemon, type TestDaemon } from './helpers.js';

const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);

describe('usbscsid HTTP API (fake device)', () => {
  let t: TestDaemon;
  let provider: FakeProvider;
  let dev: FakeDevice;
  let client: DaemonClient;

  beforeEach(async () => {
    provider = new FakeProvider();
    dev = provider.add('1-1');
    // as usbscsid --body-limit 64K sets them: one limit for bodies and data-in
    t = await startTestDaemon(provider, { limits: { bodyLimit: 64 * 1024, maxTransferLength: 64 * 1024 } });
    client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
  });

  it('answers /healthz and lists the device with its state', async () => {
    expect(await client.health()).toMatchObject({ status: 'ok', devices: 1, leases: 0 });
    const [d] = await client.listDevices();
    expect(d).toMatchObject({ id: '1-1', vendorId: 0x1234, state: 'idle', queueDepth: 0, lease: null });
  });

  it('executes a data-in command as JSON (base64) and as binary', async () => {
    const r = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute',
      JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36 }),
      { 'content-type': 'application/json' },
    );
    expect(r.status).toBe(200);
    expect(Buffer.from(r.json.data, 'base64').toString().trim()).toBe('fake inquiry');
    expect(r.json).toMatchObject({ status: 0, transferred: 36, seq: 1 });
    const b = await client.execute('1-1', INQUIRY, { length: 36 });
    expect(Buffer.from(b.data).toString().trim()).toBe('fake inquiry');
    expect(b.seq).toBe(2);
  });

  it('streams data-out as a binary body and reads it back as binary', async () => {
    const data = Buffer.alloc(8 * 512, 0xa5);
    const write = Uint8Array.from([0x2a, 0, 0, 0, 0, 7, 0, 0, 8, 0]);
    const refused = await raw(t, 'POST', '/v1/devices/1-1/execute', data, {
      'content-type': 'application/octet-stream',
      'x-scsi-cdb': '2a00000000070000 0800',
    });
    expect(refused.status).toBe(400); // no consent: the device refused it
    expect(refused.json.error.code).toBe('E_BAD_INPUT');
    const w = await client.execute('1-1', write, { data, allowMediumWrite: true });
    expect(w.transferred).toBe(data.length);
    const r = await client.execute('1-1', Uint8Array.from([0x28, 0, 0, 0, 0, 7, 0, 0, 8, 0]), { length: data.length });
    expect(Buffer.from(r.data).equals(data)).toBe(true);
  });

  it(
    'takes a chunked data-out body (no Content-Length) whole, and refuses one ' + 'over --body-limit with 413',
    async () => {
      const { request } = await import('node:http');
      const chunked = (chunks: Buffer[]) =>
        new Promise<{ status: number; json: any }>((resolve, reject) => {
          const r = request(
            {
              socketPath: t.socketPath,
              method: 'POST',
              path: '/v1/devices/1-1/execute',
              headers: {
                'content-type': 'application/octet-stream',
                'x-scsi-cdb': '2a 00 00 00 00 10 00 00 08 00',
                'x-scsi-allow-medium-write': 'true',
              },
            },
            (res) => {
              let body = '';
              res.on('data', (c) => (body += c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
            },
          );
          r.on('error', reject);
          for (const c of chunks) r.write(c);
          r.end();
        });
      const data = Buffer.alloc(8 * 512);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      const ok = await chunked([data.subarray(0, 1000), data.subarray(1000, 3000), data.subarray(3000)]);
      expect(ok).toMatchObject({ status: 200, json: { transferred: data.length } });
      const back = await client.execute('1-1', Uint8Array.from([0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0]), {
        length: data.length,
      });
      expect(Buffer.from(back.data).equals(data)).toBe(true);
      const big = await chunked(Array.from({ length: 20 }, () => Buffer.alloc(4096)));
      expect([big.status, big.json.error.code]).toEqual([413, 'E_BAD_INPUT']);
    },
  );

  it('takes data-out as base64 in JSON, or binary with the CDB and consent in the query string', async () => {
    const small = Buffer.alloc(512, 0x3c);
    const j = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute',
      JSON.stringify({ cdb: '2a 00 00 00 00 02 00 00 01 00', data: small.toString('base64'), allowMediumWrite: true }),
      { 'content-type': 'application/json' },
    );
    expect(j.status).toBe(200);
    expect(j.json).toMatchObject({ status: 0, transferred: 512 });
    const big = Buffer.alloc(4 * 512, 0x7e);
    const q = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute?cdb=2a0000000003000004' + '00&allowMediumWrite=true&timeoutMs=5000',
      big,
      { 'content-type': 'application/octet-stream' },
    );
    expect(q.status).toBe(200);
    expect(q.json.transferred).toBe(big.length);
    const back = await client.execute('1-1', Uint8Array.from([0x28, 0, 0, 0, 0, 2, 0, 0, 5, 0]), { length: 5 * 512 });
    expect(Buffer.from(back.data).equals(Buffer.concat([small, big]))).toBe(true);
  });

  it(
    'refuses malformed JSON, bad fields, oversized bodies, wrong media types, unknown ' +
      'devices and routes with 4xx and a code',
    async () => {
      const json = { 'content-type': 'application/json' };
      const cases: [string, string, string | Buffer | undefined, Record<string, string>, number][] = [
        ['POST', '/v1/devices/1-1/execute', '{"cdb": "12 00', json, 400],
        ['POST', '/v1/devices/1-1/execute', '[]', json, 400],
        ['POST', '/v1/devices/1-1/execute', JSON.stringify({ cdb: 'zz' }), json, 400],
        ['POST', '/v1/devices/1-1/execute', JSON.stringify({ cdb: '12 00 00 00 24 00', direction: 'in' }), json, 400],
        [
          'POST',
          '/v1/devices/1-1/execute',
          JSON.stringify({ cdb: '12 00 00 00 24 00', direction: 'sideways', length: 3 }),
          json,
          400,
        ],
        ['POST', '/v1/devices/1-1/execute', JSON.stringify({ cdb: '12 00 00 00 24 00', length: -1 }), json, 400],
        [
          'POST',
          '/v1/devices/1-1/execute',
          Buffer.alloc(65 * 1024),
          { 'content-type': 'application/octet-stream', 'x-scsi-cdb': '2a00000000000000 8000' },
          413,
        ],
        ['POST', '/v1/devices/1-1/execute', 'hello', { 'content-type': 'text/csv' }, 415],
        ['POST', '/v1/devices/9-9/execute', JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36 }), json, 404],
        ['GET', '/v1/devices/9-9', undefined, {}, 404],
        ['DELETE', '/v1/leases/nope', undefined, {}, 404],
        ['GET', '/v2/nothing', undefined, {}, 404],
        ['POST', '/v1/devices/1-1/lease', JSON.stringify({ ttlMs: 'soon' }), json, 400],
      ];
      // JSON types are not coerced: a number written as a string is refused, never read as the number.
      const coerced: [string, Record<string, unknown>][] = [
        ['/v1/devices/1-1/execute', { cdb: '12 00 00 00 24 00', length: '36' }],
        ['/v1/devices/1-1/execute', { cdb: '12 00 00 00 24 00', length: 36, timeoutMs: '5000' }],
        ['/v1/devices/1-1/execute', { cdb: '12 00 00 00 24 00', length: 36, allowMediumWrite: 'true' }],
        ['/v1/devices/1-1/execute', { cdb: '12 00 00 00 24 00', length: 36, lease: 42 }],
        ['/v1/devices/1-1/execute', { cdb: '12 00 00 00 24 00', length: [36] }],
        ['/v1/devices/1-1/lease', { ttlMs: '600000' }],
        ['/v1/devices/1-1/lease', { idleTimeoutMs: '1000' }],
      ];
      for (const [path, body] of coerced) cases.push(['POST', path, JSON.stringify(body), json, 400]);
      for (const [method, path, body, headers, status] of cases) {
        const r = await raw(t, method, path, body, headers);
        expect({ path, body: String(body).slice(0, 40), status: r.status }).toEqual({
          path,
          body: String(body).slice(0, 40),
          status,
        });
        expect(r.json?.error?.code, `${method} ${path} ${String(body).slice(0, 40)}`).toMatch(
          /^E_(BAD_INPUT|NOT_FOUND)$/,
        );
        expect(r.json.error.message.length).toBeGreaterThan(10);
      }
      // nothing malformed reached the device
      expect(dev.executed).toEqual([]);
    },
  );

  it(
    'answers 415 for every body that is neither JSON nor octet-stream, text/plain included, ' + 'and sends nothing',
    async () => {
      const inquiry = JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36 });
      for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'text/csv']) {
        for (const path of ['/v1/devices/1-1/execute', '/v1/devices/1-1/lease']) {
          const r = await raw(t, 'POST', path, inquiry, { 'content-type': type });
          expect({ type, path, status: r.status, code: r.json?.error?.code }).toEqual({
            type,
            path,
            status: 415,
            code: 'E_BAD_INPUT',
          });
        }
      }
      expect(dev.executed).toEqual([]);
    },
  );

  it('refuses a data-in length over --body-limit with 400 naming the limit, and a body over it with 413', async () => {
    const json = { 'content-type': 'application/json' };
    const over = await raw(
      t,
      'POST',
      '/v1/devices/1-1/execute',
      JSON.stringify({ cdb: '28 00 00 00 00 00 00 00 81 00', length: 65 * 1024 }),
      json,
    );
    expect(over.status).toBe(400);
    expect(over.json.error).toMatchObject({
      code: 'E_BAD_INPUT',
      details: { field: 'length', reason: 'data-in-over-limit', limit: 64 * 1024 },
    });
    expect(over.json.error.message).toMatch(/66560 is over .*65536 bytes \(--body-limit\)/);
    const body = await raw(t, 'POST', '/v1/devices/1-1/execute', Buffer.alloc(65 * 1024), {
      'content-type': 'application/octet-stream',
      'x-scsi-cdb': '2a00000000000000 8000',
    });
    expect(body.status).toBe(413);
    expect(dev.executed).toEqual([]);
  });

  it(
    'clamps the default idle timeout to a shorter ttlMs on acquire, and names the real ' + 'ranges when refusing',
    async () => {
      const json = { 'content-type': 'application/json' };
      const short = await raw(t, 'POST', '/v1/devices/1-1/lease', JSON.stringify({ ttlMs: 1500 }), json);
      expect(short.status).toBe(201);
      expect(short.json.lease.idleTimeoutMs).toBe(1500);
      await raw(t, 'DELETE', `/v1/leases/${short.json.lease.id}`, undefined, {
        'x-usbscsi-lease': short.json.lease.secret,
      });
      // an explicit idle timeout longer than the lease is still refused, with the lease's ttlMs in the message
      const longer = await raw(
        t,
        'POST',
        '/v1/devices/1-1/lease',
        JSON.stringify({ ttlMs: 1500, idleTimeoutMs: 2000 }),
        json,
      );
      expect(longer.status).toBe(400);
      expect(longer.json.error.message).toMatch(
        /idleTimeoutMs must be an integer from 1 to the lease's ttlMs \(1500\)/,
      );
      const maxTtl = 24 * 3600_000;
      for (const body of [{ ttlMs: -1 }, { ttlMs: maxTtl + 1 }, { idleTimeoutMs: 0 }]) {
        const r = await raw(t, 'POST', '/v1/devices/1-1/lease', JSON.stringify(body), json);
        expect(r.status).toBe(400);
        expect(r.json.error.message).toContain(`from 1 to ${maxTtl}`);
      }
      const lease = await client.acquireLease('1-1', { ttlMs: 60_000 });
      const renew = await raw(t, 'POST', `/v1/leases/${lease.id}/renew`, JSON.stringify({ ttlMs: -1 }), {
        ...json,
        'x-usbscsi-lease': lease.secret,
      });
      expect(renew.status).toBe(400);
      expect(renew.json.error.message).toContain(`from 1 to ${maxTtl}`);
    },
  );

  it('serves an OpenAPI document whose paths and methods are exactly the routes', async () => {
    const r = await raw(t, 'GET', '/openapi.yaml');
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(text).toBe(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'));
    expect(text).toMatch(/^openapi: 3\.1\.0$/m);
    // paths: two-space keys under `paths:`, methods four-space keys below them
    const documented = new Set<string>();
    let path: string | undefined;
    let inPaths = false;
    for (const line of text.split('\n')) {
      if (/^\S/.test(line)) inPaths = line.startsWith('paths:');
      if (!inPaths) continue;
      const p = /^ {2}(\/\S*):\s*$/.exec(line);
      if (p) path = p[1]!.replace(/\{(\w+)\}/g, ':$1');
      const m = /^ {4}(get|post|put|delete|patch):\s*$/.exec(line);
      if (m && path) documented.add(`${m[1]!.toUpperCase()} ${path}`);
    }
    const served = new Set(t.daemon.routes.map((r) => `${r.method} ${r.url.replace(/:\w+/g, (s) => s)}`));
    const norm = (s: Set<string>) => [...s].map((x) => x.replace(/:\w+/g, ':p')).sort();
    expect(norm(documented)).toEqual(norm(served));
    expect(documented.size).toBeGreaterThanOrEqual(11);
    // every $ref names a component that exists (components/<kind>/<name> keys at 2 and 4 spaces)
    const components = new Set<string>();
    let kind: string | undefined;
    let inComponents = false;
    for (const line of text.split('\n')) {
      if (/^\S/.test(line)) inComponents = line.startsWith('components:');
      if (!inComponents) continue;
      const k = /^ {2}(\w+):\s*$/.exec(line);
      if (k) kind = k[1];
      const n = /^ {4}(\w+):/.exec(line);
      if (n && kind) components.add(`#/components/${kind}/${n[1]}`);
    }
    const refs = [...text.matchAll(/\$ref: '([^']+)'/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    expect(refs.filter((r) => !components.has(r))).toEqual([]);
  });

  it('reports commands, errors, bytes and latency in Prometheus text', async () => {
    await client.execute('1-1', INQUIRY, { length: 36 });
    await raw(t, 'GET', '/v1/devices/nope');
    const text = await client.metrics();
    expect(text).toContain('usbscsid_commands_total{opcode_class="inquiry",result="good"} 1');
    expect(text).toContain('usbscsid_errors_total{code="E_NOT_FOUND"} 1');
    expect(text).toContain('usbscsid_data_in_bytes_total 36');
    expect(text).toMatch(/usbscsid_command_duration_seconds_count 1\n/);
    expect(text).toMatch(/usbscsid_command_duration_seconds_bucket\{le="\+Inf"\} 1\n/);
  });
});
