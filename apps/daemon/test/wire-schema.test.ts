/**
 * What the daemon really sends, checked against apps/daemon/openapi.yaml, so that the
 * document, the daemon and core's wire module (which the client reads with) cannot drift:
 * every body validates against its schema, and carries no field the schema does not declare.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import {
  DaemonClient,
  ErrorCodes,
  UsbScsiError,
  decodeSense,
  errorBody,
  senseFromJson,
  senseToJson,
  type DaemonEvent,
  type ErrorCode,
  type ScsiResult,
} from '@usbscsi/core';
import { FakeDevice, FakeProvider } from './fake-provider.js';
import { PIECE_BYTES } from '../src/routes/blocks.js';
import type { ExecuteOptions } from '../src/provider.js';
import { raw, startTestDaemon, until, type RawResponse, type TestDaemon } from './helpers.js';

type Schema = Record<string, any>;

const DOC = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as Schema;
const ROOT = 'usbscsid.json';
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
// The components become one schema's $defs, so every `#/components/schemas/X` resolves inside it.
const asDefs = (schema: unknown): Schema =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${ROOT}#/$defs/`));
ajv.addSchema({ $id: ROOT, $defs: asDefs(DOC.components.schemas) });

const resolve = (schema: Schema): Schema => {
  const ref: unknown = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = /^#\/components\/schemas\/(\w+)$/.exec(ref)?.[1];
  if (!name || !DOC.components.schemas[name]) throw new Error(`openapi.yaml: unresolvable $ref ${ref}`);
  return resolve(DOC.components.schemas[name]);
};

/** Fields of `value` that the schema does not declare (a free-form object, `{ type: object }`, declares all). */
function undeclared(schema: Schema, value: unknown, at = '$'): string[] {
  const s = resolve(schema);
  if (Array.isArray(value)) return s.items ? value.flatMap((v, i) => undeclared(s.items, v, `${at}[${i}]`)) : [];
  if (value === null || typeof value !== 'object') return [];
  if (s.oneOf) {
    const branch = (s.oneOf as Schema[]).map(resolve).find((b) => b.type !== 'null');
    return branch ? undeclared(branch, value, at) : [];
  }
  const parts = [s, ...((s.allOf ?? []) as Schema[]).map(resolve)];
  if (!parts.some((p) => p.properties)) return [];
  const declared: Record<string, Schema> = Object.assign({}, ...parts.map((p) => p.properties ?? {}));
  return Object.entries(value).flatMap(([k, v]) =>
    k in declared ? undeclared(declared[k]!, v, `${at}.${k}`) : [`${at}.${k}`],
  );
}

const validators = new Map<string, ValidateFunction>();
function validatorOf(schema: Schema): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) validators.set(key, (v = ajv.compile(asDefs(schema))));
  return v;
}

/** Fails with every schema error and every undeclared field of `value`. */
function expectConforms(schema: Schema, value: unknown, what: string): void {
  const validate = validatorOf(schema);
  const errors = validate(value)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message} ${JSON.stringify(e.params)}`);
  expect({ what, errors, undeclared: undeclared(schema, value) }).toEqual({ what, errors: [], undeclared: [] });
}

const component = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** The JSON schema of a documented answer: `responses[status]`, following `#/components/responses`. */
function responseSchema(path: string, method: string, status: number): Schema {
  let response = DOC.paths[path]?.[method]?.responses?.[String(status)];
  if (!response) throw new Error(`openapi.yaml documents no ${status} for ${method.toUpperCase()} ${path}`);
  const ref = /^#\/components\/responses\/(\w+)$/.exec(response.$ref ?? '')?.[1];
  if (ref) response = DOC.components.responses[ref];
  return response.content['application/json'].schema;
}

function expectDocumented(path: string, method: string, res: RawResponse): void {
  expectConforms(responseSchema(path, method, res.status), res.json, `${method.toUpperCase()} ${path} → ${res.status}`);
}

/** Descriptor sense with an INFORMATION descriptor (a 64-bit value) and an ATA Status Return (SAT). */
const DESCRIPTOR_SENSE = Uint8Array.from([
  0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 26, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x07, 0x09, 0x0c, 0x01, 0x04, 0,
  0x02, 0, 0x11, 0, 0x22, 0, 0x33, 0x40, 0x51,
]);
/** Fixed sense, ILLEGAL REQUEST INVALID FIELD IN CDB, with a field pointer (SKSV) and command-specific bytes. */
const FIXED_SENSE = Uint8Array.from([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0x12, 0x34, 0x24, 0x00, 0, 0xc0, 0x00, 0x02]);

const SENSE_OPCODE = 0x03;
/** Reads of this block or later fail (a range that breaks midway). */
const FAILING_LBA = 10240;

/**
 * A fake device whose REQUEST SENSE answers CHECK CONDITION with the descriptor sense above, with
 * 16384 blocks of 512 bytes (READ CAPACITY), whose reads fail from FAILING_LBA on.
 */
class SensingDevice extends FakeDevice {
  override async execute(cdb: Uint8Array, options: ExecuteOptions): Promise<ScsiResult> {
    if (cdb[0] === 0x25) {
      const data = Uint8Array.from([0, 0, 0x3f, 0xff, 0, 0, 2, 0]);
      return { status: 0, data, transferred: 8, residue: 0, durationNs: 1 };
    }
    if (cdb[0] === 0x28 && Buffer.from(cdb).readUInt32BE(2) + Buffer.from(cdb).readUInt16BE(7) > FAILING_LBA)
      throw new UsbScsiError(ErrorCodes.IO, 'the fake medium fails here');
    if (cdb[0] !== SENSE_OPCODE) return super.execute(cdb, options);
    const data = new Uint8Array(options.length ?? 0).fill(0xa5);
    return {
      status: 2,
      sense: decodeSense(DESCRIPTOR_SENSE),
      data,
      transferred: data.length,
      residue: 0,
      durationNs: 1234,
    };
  }
}

describe('the wire: what usbscsid sends conforms to openapi.yaml', () => {
  let t: TestDaemon;
  let provider: FakeProvider;
  let client: DaemonClient;

  beforeEach(async () => {
    provider = new FakeProvider();
    provider.add('1-1');
    provider.devices.get('1-1')!.device = new SensingDevice();
    t = await startTestDaemon(provider);
    client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
  });

  it('the check itself refuses a missing required field and an undeclared one, at any depth', () => {
    const device = {
      id: '1-1',
      backend: 'fake',
      vendorId: 1,
      productId: 2,
      location: '1-1',
      state: 'idle',
      queueDepth: 0,
      open: false,
      lease: { id: 'x', holder: 'h' },
    };
    expect(validatorOf(component('Device'))(device)).toBe(true);
    expect(undeclared(component('Device'), device)).toEqual([]);
    expect(validatorOf(component('Device'))({ ...device, state: undefined })).toBe(false);
    expect(undeclared(component('Device'), { ...device, extra: 1, lease: { ...device.lease, secret: 's' } })).toEqual([
      '$.lease.secret',
      '$.extra',
    ]);
    expect(undeclared(component('LeaseGrant'), { id: 'x', secret: 's', extra: 1 })).toEqual(['$.extra']);
  });

  it('sense: core encodes it as the Sense schema says, and decodes it back to the same sense', () => {
    for (const bytes of [DESCRIPTOR_SENSE, FIXED_SENSE]) {
      const sense = decodeSense(bytes);
      const json = senseToJson(sense);
      expectConforms(component('Sense'), json, `sense ${sense.format}`);
      expect(senseFromJson(JSON.parse(JSON.stringify(json)))).toEqual(sense);
    }
  });

  it('error envelope: every stable error code, with details, is an Error', () => {
    for (const code of Object.values(ErrorCodes) as ErrorCode[]) {
      const body = errorBody(
        new UsbScsiError(code, 'what happened and what to do', { details: { lba: 7n, raw: Uint8Array.of(1, 2) } }),
      );
      expectConforms(component('Error'), JSON.parse(JSON.stringify(body)), `error ${code}`);
    }
  });

  it('health, devices, leases and errors: each answer is its documented schema', async () => {
    expectDocumented('/healthz', 'get', await raw(t, 'GET', '/healthz'));
    expectDocumented('/v1/devices', 'get', await raw(t, 'GET', '/v1/devices'));
    expectDocumented('/v1/devices/{id}', 'get', await raw(t, 'GET', '/v1/devices/1-1'));
    expectDocumented('/v1/devices/{id}', 'get', await raw(t, 'GET', '/v1/devices/9-9'));
    const json = { 'content-type': 'application/json' };
    const acquired = await raw(
      t,
      'POST',
      '/v1/devices/1-1/lease',
      JSON.stringify({ ttlMs: 60_000, holder: 'wire test' }),
      json,
    );
    expect(acquired.status).toBe(201);
    expectDocumented('/v1/devices/{id}/lease', 'post', acquired);
    const { id, secret } = acquired.json.lease as { id: string; secret: string };
    const leased = await raw(t, 'GET', '/v1/devices/1-1');
    expect(leased.json.device.lease).toEqual({ id, holder: 'wire test' });
    expectDocumented('/v1/devices/{id}', 'get', leased);
    expectDocumented('/v1/devices/{id}/lease', 'post', await raw(t, 'POST', '/v1/devices/1-1/lease', '{}', json));
    expectDocumented('/v1/leases', 'get', await raw(t, 'GET', '/v1/leases'));
    expectDocumented('/v1/leases/{leaseId}', 'get', await raw(t, 'GET', `/v1/leases/${id}`));
    expectDocumented(
      '/v1/leases/{leaseId}/renew',
      'post',
      await raw(t, 'POST', `/v1/leases/${id}/renew`, '{}', { ...json, 'x-usbscsi-lease': secret }),
    );
    expectDocumented(
      '/v1/leases/{leaseId}/renew',
      'post',
      await raw(t, 'POST', `/v1/leases/${id}/renew`, '{}', { ...json, 'x-usbscsi-lease': 'wrong' }),
    );
    expectDocumented(
      '/v1/devices/{id}/reset',
      'post',
      await raw(t, 'POST', '/v1/devices/1-1/reset', undefined, { 'x-usbscsi-lease': secret }),
    );
    expectDocumented(
      '/v1/leases/{leaseId}',
      'delete',
      await raw(t, 'DELETE', `/v1/leases/${id}`, undefined, { 'x-usbscsi-lease': secret }),
    );
    expectDocumented('/v1/leases/{leaseId}/break', 'post', await raw(t, 'POST', `/v1/leases/${id}/break`));
  });

  it('execute: a CHECK CONDITION in JSON is an ExecuteResult with its Sense; in headers the same Sense', async () => {
    const json = { 'content-type': 'application/json' };
    const body = JSON.stringify({ cdb: '03 00 00 00 12 00', direction: 'in', length: 18 });
    const res = await raw(t, 'POST', '/v1/devices/1-1/execute', body, json);
    expect(res.json.status).toBe(2);
    expectDocumented('/v1/devices/{id}/execute', 'post', res);
    expect(res.json.sense.information).toBe(String(0x0100000007n));

    const binary = await raw(t, 'POST', '/v1/devices/1-1/execute', body, {
      ...json,
      accept: 'application/octet-stream',
    });
    expect(binary.headers['x-scsi-status']).toBe('2');
    const sense = JSON.parse(Buffer.from(String(binary.headers['x-scsi-sense']), 'base64').toString('utf8'));
    expectConforms(component('Sense'), sense, 'X-Scsi-Sense');
    expect(sense).toEqual(res.json.sense);

    const typed = await client.execute('1-1', Uint8Array.from([SENSE_OPCODE, 0, 0, 0, 18, 0]), { length: 18 });
    expect(typed.sense).toEqual(decodeSense(DESCRIPTOR_SENSE));
    expectDocumented(
      '/v1/devices/{id}/execute',
      'post',
      await raw(t, 'POST', '/v1/devices/1-1/execute', JSON.stringify({ cdb: 'zz' }), json),
    );
  });

  it('block ranges: BlockWriteResult, the read headers, and a failure midway as an Error trailer', async () => {
    const octets = { 'content-type': 'application/octet-stream', 'x-scsi-allow-medium-write': 'true' };
    const written = await raw(t, 'POST', '/v1/devices/1-1/write?lba=8&blocks=4', Buffer.alloc(2048, 9), octets);
    expect(written.status).toBe(200);
    expectDocumented('/v1/devices/{id}/write', 'post', written);
    expectDocumented(
      '/v1/devices/{id}/write',
      'post',
      await raw(t, 'POST', '/v1/devices/1-1/write?lba=8&blocks=0', Buffer.alloc(1), octets),
    );
    const read = await raw(t, 'POST', '/v1/devices/1-1/read?lba=8&blocks=4');
    expect(read.status).toBe(200);
    const documented = DOC.paths['/v1/devices/{id}/read'].post.responses['200'].headers as Record<string, unknown>;
    for (const h of ['x-usbscsi-length', 'x-usbscsi-block-size'])
      expect(Object.keys(documented).map((k) => k.toLowerCase())).toContain(h);
    expect(read.headers['x-usbscsi-length']).toBe('2048');
    expect(read.body.equals(Buffer.alloc(2048, 9))).toBe(true);
    expectDocumented('/v1/devices/{id}/read', 'post', await raw(t, 'POST', '/v1/devices/1-1/read?lba=20000&blocks=1'));

    // Past FAILING_LBA the stream breaks after its first piece: the trailer carries the Error envelope.
    const RANGE_BLOCKS = FAILING_LBA + 2048;
    expect(PIECE_BYTES / 512).toBeLessThanOrEqual(FAILING_LBA);
    const trailers = await new Promise<Record<string, string | undefined>>((resolve, reject) => {
      const r = request(
        {
          socketPath: t.socketPath,
          method: 'POST',
          path: `/v1/devices/1-1/read?lba=0&blocks=${RANGE_BLOCKS}`,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.trailers));
        },
      );
      r.on('error', reject);
      r.end();
    });
    expect(trailers['x-usbscsi-transferred']).toBe(String(PIECE_BYTES));
    const envelope = JSON.parse(Buffer.from(trailers['x-usbscsi-error']!, 'base64url').toString('utf8'));
    expectConforms(component('Error'), envelope, 'X-Usbscsi-Error');
    expect(envelope.error.code).toBe(ErrorCodes.IO);
    await expect(
      client.readBlocks('1-1', { lba: 0n, blocks: RANGE_BLOCKS, bytes: RANGE_BLOCKS * 512 }, () => undefined),
    ).rejects.toMatchObject({ code: ErrorCodes.IO, message: expect.stringContaining('fake medium fails') });
    const range = { lba: 0n, blocks: RANGE_BLOCKS, bytes: RANGE_BLOCKS * 512 };
    await expect(client.readBlocksInto('1-1', range, new Uint8Array(range.bytes))).rejects.toMatchObject({
      code: ErrorCodes.IO,
      message: expect.stringContaining('fake medium fails'),
    });
  });

  it('events: arrivals, departures and lease changes are each an Event whose device is a Device', async () => {
    const events: DaemonEvent[] = [];
    const stop = await client.events((e) => events.push(e));
    try {
      provider.add('1-2');
      const lease = await client.acquireLease('1-2', { holder: 'events' });
      await client.releaseLease(lease);
      provider.unplug('1-2');
      await until(() => events.some((e) => e.type === 'device-left'), 5000, 'device-left');
    } finally {
      stop();
    }
    expect(events.map((e) => e.type)).toEqual(['device-arrived', 'lease-acquired', 'lease-released', 'device-left']);
    for (const event of events) expectConforms(component('Event'), event, `event ${event.type}`);
    for (const event of events)
      if ('device' in event) expectConforms(component('Device'), event.device, `${event.type} device`);
    const left = events.find((e) => e.type === 'device-left') as Extract<DaemonEvent, { device: unknown }>;
    expect(left.device.state).toBe('gone');
  });
});

/** The documented JSON request body of an operation. */
function requestSchema(path: string, method: string): Schema {
  const schema = DOC.paths[path]?.[method]?.requestBody?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`openapi.yaml documents no JSON body for ${method.toUpperCase()} ${path}`);
  return schema;
}

describe('the wire: what the client sends conforms to openapi.yaml', () => {
  let dir: string;
  let server: Server;
  let client: DaemonClient;
  const seen: { method: string; url: string; body: unknown }[] = [];
  const grant = {
    id: 'L1',
    deviceId: '1-1',
    holder: 'h',
    ownerUid: null,
    createdAt: new Date(0).toISOString(),
    expiresAt: new Date(1).toISOString(),
    idleTimeoutMs: 1,
    secret: 's',
  };

  beforeEach(async () => {
    seen.length = 0;
    dir = mkdtempSync(join(tmpdir(), 'usbscsi-wire-'));
    // Records each request and answers the documented shape, so the client's own encoding is what is checked.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        seen.push({
          method: req.method!,
          url: req.url!,
          body: text && req.headers['content-type'] === 'application/json' ? JSON.parse(text) : undefined,
        });
        if (req.url!.endsWith('/execute') && req.headers.accept === 'application/octet-stream') {
          res
            .writeHead(200, {
              'content-type': 'application/octet-stream',
              'x-scsi-status': '0',
              'x-scsi-transferred': '0',
              'x-scsi-residue': '0',
              'x-scsi-duration-ns': '1',
              'x-usbscsi-seq': '1',
            })
            .end();
          return;
        }
        const answer = req.url!.endsWith('/execute')
          ? { status: 0, data: '', transferred: 0, residue: 0, durationNs: 1, seq: 1 }
          : { lease: grant };
        res
          .writeHead(req.url!.endsWith('/lease') ? 201 : 200, { 'content-type': 'application/json' })
          .end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 's.sock'), r));
    client = new DaemonClient({ kind: 'unix', socketPath: join(dir, 's.sock') });
  });
  afterEach(async () => {
    client.close();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('execute and lease request bodies are the documented ExecuteRequest and lease bodies', async () => {
    await client.execute('1-1', Uint8Array.from([0x00, 0, 0, 0, 0, 0]), { timeoutMs: 500 });
    await client.execute('1-1', Uint8Array.from([0x12, 0, 0, 0, 36, 0]), { length: 36, allowMediumWrite: true });
    await client.acquireLease('1-1', { ttlMs: 60_000, idleTimeoutMs: 1000, holder: 'wire test' });
    await client.renewLease(grant, { ttlMs: 1000, idleTimeoutMs: 10 });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/devices/1-1/execute',
      'POST /v1/devices/1-1/execute',
      'POST /v1/devices/1-1/lease',
      'POST /v1/leases/L1/renew',
    ]);
    const documented = [
      '/v1/devices/{id}/execute',
      '/v1/devices/{id}/execute',
      '/v1/devices/{id}/lease',
      '/v1/leases/{leaseId}/renew',
    ];
    seen.forEach((r, i) => expectConforms(requestSchema(documented[i]!, 'post'), r.body, `${r.method} ${r.url}`));
    expect(seen[1]!.body).toEqual({ cdb: '120000002400', direction: 'in', length: 36, allowMediumWrite: true });
  });
});
