/**
 * A lease is a capability: the secret from the acquire answer uses, renews
 * and releases it; the id that listings and events show grants nothing. A
 * lease whose holder lost its secret can be broken only by the Unix-socket
 * user that took it, or by root.
 */
import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient, loadNativeAddon, openRemoteDevice, type DaemonEvent } from '@usbscsi/core';
import { FakeProvider, type FakeDevice } from './fake-provider.js';
import { raw, startTestDaemon, until, type TestDaemon } from './helpers.js';

const INQUIRY = Uint8Array.from([0x12, 0, 0, 0, 36, 0]);
const INQUIRY_JSON = JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36 });
const JSON_TYPE = { 'content-type': 'application/json' };
const TOKEN = 'f3a1c0de5eed5eed5eedf00dcafe0002';

describe('usbscsid leases are capabilities', () => {
  let t: TestDaemon;
  let dev: FakeDevice;
  let owner: DaemonClient;

  beforeEach(async () => {
    const provider = new FakeProvider();
    dev = provider.add('1-1');
    t = await startTestDaemon(provider, { idleCloseMs: 10_000 });
    owner = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
  });
  afterEach(async () => {
    owner.close();
    await t.stop();
  });

  it(
    'a second client can neither use, renew nor release a lease with the id from the ' +
      'listing, the device view or the lease-acquired event; the owner can',
    async () => {
      const events: DaemonEvent[] = [];
      const unsubscribe = await owner.events((e) => events.push(e));
      const grant = await owner.acquireLease('1-1', { holder: 'station-7', ttlMs: 60_000, idleTimeoutMs: 30_000 });
      expect(grant.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(grant.secret).not.toBe(grant.id);
      await until(() => events.some((e) => e.type === 'lease-acquired'), 2000, 'lease-acquired event');

      // What a second client can learn about the lease: its id, never its secret.
      const listing = await raw(t, 'GET', '/v1/leases');
      const view = await raw(t, 'GET', '/v1/devices/1-1');
      const one = await raw(t, 'GET', `/v1/leases/${grant.id}`);
      const seen = [
        listing.json.leases[0].id,
        view.json.device.lease.id,
        one.json.lease.id,
        (events.find((e) => e.type === 'lease-acquired') as { lease: { id: string } }).lease.id,
      ];
      expect(seen).toEqual([grant.id, grant.id, grant.id, grant.id]);
      for (const text of [listing.body.toString(), view.body.toString(), one.body.toString(), JSON.stringify(events)])
        expect(text).not.toContain(grant.secret);

      // ...and with that id it gets nothing done: not as header, JSON field or query parameter.
      const useWithId = [
        await raw(t, 'POST', '/v1/devices/1-1/execute', INQUIRY_JSON, { ...JSON_TYPE, 'x-usbscsi-lease': grant.id }),
        await raw(
          t,
          'POST',
          '/v1/devices/1-1/execute',
          JSON.stringify({ cdb: '12 00 00 00 24 00', length: 36, lease: grant.id }),
          JSON_TYPE,
        ),
        await raw(
          t,
          'POST',
          `/v1/devices/1-1/execute?cdb=2a000000000000000100&allowMediumWrite=true&lease=${grant.id}`,
          Buffer.alloc(512),
          { 'content-type': 'application/octet-stream' },
        ),
        await raw(t, 'POST', '/v1/devices/1-1/reset', undefined, { 'x-usbscsi-lease': grant.id }),
      ];
      expect(useWithId.map((r) => [r.status, r.json.error.code])).toEqual(Array(4).fill([409, 'E_BUSY']));
      const endWithId = [
        await raw(t, 'DELETE', `/v1/leases/${grant.id}`),
        await raw(t, 'DELETE', `/v1/leases/${grant.id}`, undefined, { 'x-usbscsi-lease': grant.id }),
        await raw(t, 'POST', `/v1/leases/${grant.id}/renew`, '{}', { ...JSON_TYPE, 'x-usbscsi-lease': grant.id }),
        await raw(t, 'POST', `/v1/leases/${grant.id}/renew`, '{}', JSON_TYPE),
      ];
      expect(endWithId.map((r) => [r.status, r.json.error.code, r.json.error.details.reason])).toEqual([
        [403, 'E_PERMISSION', 'secret-missing'],
        [403, 'E_PERMISSION', 'secret-invalid'],
        [403, 'E_PERMISSION', 'secret-invalid'],
        [403, 'E_PERMISSION', 'secret-missing'],
      ]);
      expect(dev.executed).toEqual([]);
      expect(await owner.listLeases()).toHaveLength(1);
      expect(events.filter((e) => e.type === 'lease-released')).toEqual([]);

      // The owner, with the secret: use, renew, release.
      expect((await owner.execute('1-1', INQUIRY, { length: 36, leaseSecret: grant.secret })).status).toBe(0);
      const renewed = await owner.renewLease(grant, { ttlMs: 120_000 });
      expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(grant.expiresAt));
      expect(await owner.releaseLease(grant)).toMatchObject({ id: grant.id });
      expect(await owner.listLeases()).toEqual([]);
      expect(dev.executed).toEqual([0x12]);
      unsubscribe();
    },
  );

  it('openRemoteDevice with a lease presents the secret on every command and releases on close', async () => {
    const device = await openRemoteDevice({ via: `unix:${t.socketPath}`, lease: { holder: 'remote' } });
    try {
      expect((await owner.listLeases())[0]).toMatchObject({ holder: 'remote' });
      await device.testUnitReady();
      expect(dev.executed).toEqual([0x00]);
      expect(await raw(t, 'POST', '/v1/devices/1-1/execute', INQUIRY_JSON, JSON_TYPE)).toMatchObject({ status: 409 });
    } finally {
      await device.close();
    }
    expect(await owner.listLeases()).toEqual([]);
  });

  it(
    'a broken lease needs the Unix-socket peer: without SO_PEERCRED nobody breaks it, ' +
      'the secret still releases it',
    async () => {
      const provider = new FakeProvider();
      provider.add('1-1');
      const blind = await startTestDaemon(provider, { peerLookup: () => undefined });
      const c = new DaemonClient({ kind: 'unix', socketPath: blind.socketPath });
      try {
        const grant = await c.acquireLease('1-1');
        expect(grant.ownerUid).toBeNull();
        await expect(c.breakLease(grant.id)).rejects.toMatchObject({
          code: 'E_PERMISSION',
          details: { reason: 'peer-unknown', httpStatus: 403 },
        });
        expect(await c.releaseLease(grant)).toMatchObject({ id: grant.id });
      } finally {
        c.close();
        await blind.stop();
      }
    },
  );
});

const peerCredentialsAvailable = (() => {
  const load = loadNativeAddon();
  return load.ok && typeof load.addon.peerCredentials === 'function';
})();
const isRoot = process.getuid?.() === 0;
const CROSS_UID = peerCredentialsAvailable && isRoot;
const skipReason = !peerCredentialsAvailable
  ? ' (SKIPPED: the native addon with peerCredentials is not built)'
  : !isRoot
    ? ' (SKIPPED: needs root to run clients as other users)'
    : '';

/** One HTTP request over the Unix socket from a process running as `uid`. */
function asUser(
  uid: number,
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const script = `
    const [socketPath, method, path, headers] = process.argv.slice(1);
    const r = require('node:http').request({ socketPath, method, path, headers: JSON.parse(headers) }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, json: JSON.parse(body) })));
    });
    r.on('error', (e) => { process.stderr.write(String(e)); process.exit(3); });
    r.end();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, socketPath, method, path, JSON.stringify(headers)], {
      uid,
      gid: uid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client as uid ${uid} exited ${code}: ${err}`)),
    );
  });
}

describe.skipIf(!CROSS_UID)(`breaking a lease: only the uid that took it, or root${skipReason}`, () => {
  const HOLDER = 65534;
  const OTHER = 65533;
  let t: TestDaemon;
  let events: DaemonEvent[];
  let root: DaemonClient;
  let unsubscribe: () => void;

  beforeEach(async () => {
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, { listen: { host: '127.0.0.1', port: 0 }, token: TOKEN });
    // Let the other users reach the socket (the test daemon's directory is private).
    chmodSync(t.dir, 0o755);
    chmodSync(t.socketPath, 0o666);
    root = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
    events = [];
    unsubscribe = await root.events((e) => events.push(e));
  });
  afterEach(async () => {
    unsubscribe();
    root.close();
    await t.stop();
  });

  it(
    'records the acquiring uid; another uid may not break or release it, the same uid ' +
      '(another process, no secret) may',
    async () => {
      const taken = await asUser(HOLDER, t.socketPath, 'POST', '/v1/devices/1-1/lease');
      expect(taken.status).toBe(201);
      const { id, secret } = taken.json.lease;
      expect(taken.json.lease.ownerUid).toBe(HOLDER);
      expect((await root.listLeases())[0]).toMatchObject({ id, ownerUid: HOLDER });

      const other = await asUser(OTHER, t.socketPath, 'POST', `/v1/leases/${id}/break`);
      expect([other.status, other.json.error.code, other.json.error.details.reason]).toEqual([
        403,
        'E_PERMISSION',
        'not-owner',
      ]);
      expect((await asUser(OTHER, t.socketPath, 'DELETE', `/v1/leases/${id}`)).status).toBe(403);
      // The secret is what releases; a uid alone does not (the holder's own uid included).
      expect((await asUser(HOLDER, t.socketPath, 'DELETE', `/v1/leases/${id}`)).status).toBe(403);
      expect(await root.listLeases()).toHaveLength(1);

      const broken = await asUser(HOLDER, t.socketPath, 'POST', `/v1/leases/${id}/break`);
      expect(broken).toMatchObject({ status: 200, json: { broken: true, lease: { id } } });
      await until(() => events.some((e) => e.type === 'lease-released'), 2000, 'lease-released');
      expect(events.find((e) => e.type === 'lease-released')).toMatchObject({ reason: 'broken', lease: { id } });
      expect(JSON.stringify(events)).not.toContain(secret);
    },
  );

  it(
    'root breaks any lease, over the Unix socket only; a lease taken over TCP has no ' +
      'owner uid, so only root breaks it',
    async () => {
      const taken = await asUser(HOLDER, t.socketPath, 'POST', '/v1/devices/1-1/lease');
      expect(await root.breakLease(taken.json.lease.id)).toMatchObject({ id: taken.json.lease.id });

      const tcp = new DaemonClient(`http://127.0.0.1:${t.daemon.tcp!.port}`, { token: TOKEN });
      try {
        const grant = await tcp.acquireLease('1-1');
        expect(grant.ownerUid).toBeNull();
        await expect(tcp.breakLease(grant.id)).rejects.toMatchObject({
          code: 'E_PERMISSION',
          details: { reason: 'peer-unknown' },
        });
        const byHolderUid = await asUser(HOLDER, t.socketPath, 'POST', `/v1/leases/${grant.id}/break`);
        expect([byHolderUid.status, byHolderUid.json.error.details.reason]).toEqual([403, 'not-owner']);
        expect(await root.breakLease(grant.id)).toMatchObject({ id: grant.id });
        expect(await root.listLeases()).toEqual([]);
      } finally {
        tcp.close();
      }
    },
  );
});
