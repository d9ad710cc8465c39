import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice, buildSimFirmwareImage } from '@usbscsi/emulator';
import { createCoreProvider } from '../src/core-provider.js';
import { raw, startTestDaemon, until, type TestDaemon } from './helpers.js';

// POST /v1/devices/:id/firmware: a firmware job on the daemon's device, progress as server-sent
// events, cancelled (between chunks) when the client closes the stream.

const image = buildSimFirmwareImage({ revision: '0.2', size: 40_000 });

function sseEvents(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: '))
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1]!, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) }));
}

describe('usbscsid firmware route', () => {
  let t: TestDaemon;
  let sim: SimulatedDevice;

  beforeEach(async () => {
    sim = new SimulatedDevice({
      ...DEFAULT_SIM_DEVICE,
      busNumber: 1,
      portNumbers: [1],
      firmware: { activation: 'unit-attention', activationMs: 50 },
    });
    t = await startTestDaemon(
      await createCoreProvider({ backend: new EmulatorBackend({ devices: [sim] }), transport: 'bot' }),
      { idleCloseMs: 200 },
    );
  });
  afterEach(async () => {
    await t.stop();
  });

  const writeBuffers = () => sim.stats.history.filter((h) => h.cdb[0] === 0x3b);

  it(
    'streams plan, one progress event per chunk, activate, wait and done with the revision ' + 'before and after',
    async () => {
      const r = await raw(
        t,
        'POST',
        '/v1/devices/1-1/firmware?mode=0xe&chunk=8192&activate=true&allowMediumWrite=true',
        Buffer.from(image),
        { 'content-type': 'application/octet-stream' },
      );
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/text\/event-stream/);
      const events = sseEvents(r.body.toString('utf8'));
      expect(events.map((e) => e.event)).toEqual([
        'plan',
        'progress',
        'progress',
        'progress',
        'progress',
        'progress',
        'activate',
        'wait',
        'done',
      ]);
      expect(events[0]!.data).toMatchObject({ mode: 0x0e, chunks: 5, activation: 'activate-command' });
      expect(events.filter((e) => e.event === 'progress').map((e) => e.data.offset)).toEqual([
        0, 8192, 16384, 24576, 32768,
      ]);
      expect(events.at(-1)!.data).toMatchObject({
        state: 'activated',
        revisionBefore: '0.1',
        revisionAfter: '0.2',
        cameBack: 'microcode-changed',
      });
      expect(sim.target.identity.revision).toBe('0.2');
    },
  );

  it('refuses without consent or with a bad mode before anything is sent (400, E_BAD_INPUT)', async () => {
    for (const query of ['mode=0xe', 'mode=6&allowMediumWrite=true', 'mode=7&allowMediumWrite=true']) {
      const r = await raw(t, 'POST', `/v1/devices/1-1/firmware?${query}`, Buffer.from(image), {
        'content-type': 'application/octet-stream',
      });
      expect([r.status, (r.json as any)?.error?.code], query).toEqual([400, 'E_BAD_INPUT']);
    }
    expect(writeBuffers()).toEqual([]);
  });

  it('a refused chunk ends the stream with an error event naming the offset; the old firmware runs', async () => {
    sim.target.firmwareState!.refuseSegment = 2;
    const r = await raw(
      t,
      'POST',
      '/v1/devices/1-1/firmware?mode=7&chunk=8192&activate=1&allowMediumWrite=1',
      Buffer.from(image),
      { 'content-type': 'application/octet-stream' },
    );
    const last = sseEvents(r.body.toString('utf8')).at(-1)!;
    expect(last.event).toBe('error');
    expect(last.data.error).toMatchObject({
      code: 'E_CHECK_CONDITION',
      details: { offset: 8192, deviceState: 'old-firmware' },
    });
    expect(sim.target.identity.revision).toBe('0.1');
  });

  it(
    'closing the stream cancels between chunks: the chunk in flight completes, no more ' +
      'are sent, the old firmware runs',
    async () => {
      // Each WRITE BUFFER takes a while, so the client's close lands while a chunk is in flight.
      sim.onCommand(0x3b, async (ctx) => {
        await new Promise((r) => setTimeout(r, 40));
        const res = await ctx.builtin();
        return { status: res.status, ...(res.sense ? { sense: res.sense } : {}) };
      });
      await new Promise<void>((resolve, reject) => {
        const req = request(
          {
            socketPath: t.socketPath,
            method: 'POST',
            path: '/v1/devices/1-1/firmware?mode=7&chunk=4096&activate=1&allowMediumWrite=1',
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(image.length) },
          },
          (res) => {
            res.on('data', (chunk: Buffer) => {
              if (chunk.toString('utf8').includes('event: progress')) {
                req.destroy();
                resolve();
              }
            });
          },
        );
        req.on('error', () => undefined);
        req.on('close', () => resolve());
        req.setTimeout(5000, () => reject(new Error('no progress event')));
        req.end(Buffer.from(image));
      });
      await until(() => t.daemon.ctx.registry.get('1-1').state === 'idle', 5000);
      const sent = writeBuffers().length;
      expect(sent).toBeGreaterThanOrEqual(1);
      expect(sent).toBeLessThan(10);
      await new Promise((r) => setTimeout(r, 200));
      expect(writeBuffers().length).toBe(sent);
      expect(sim.target.identity.revision).toBe('0.1');
      expect(sim.target.firmwareState!.activated).toEqual([]);
    },
  );
  it(
    'on a leased device only the lease secret runs a firmware job; no secret or the lease ' +
      'id from the listing is 409 E_BUSY before the stream starts',
    async () => {
      const acquired = await raw(t, 'POST', '/v1/devices/1-1/lease', JSON.stringify({ ttlMs: 60_000 }), {
        'content-type': 'application/json',
      });
      expect(acquired.status).toBe(201);
      const grant = (acquired.json as { lease: { id: string; secret: string } }).lease;
      const url = '/v1/devices/1-1/firmware?mode=0xe&chunk=8192&activate=true&allowMediumWrite=true';
      const octets = { 'content-type': 'application/octet-stream' };
      const leases: Record<string, string>[] = [
        {},
        { 'x-usbscsi-lease': grant.id },
        { 'x-usbscsi-lease': `${grant.secret}x` },
      ];
      for (const lease of leases) {
        const refused = await raw(t, 'POST', url, Buffer.from(image), { ...octets, ...lease });
        expect(refused.status).toBe(409);
        expect(refused.headers['content-type']).toMatch(/application\/json/);
        expect(refused.json).toMatchObject({ error: { code: 'E_BUSY', details: { lease: grant.id } } });
      }
      expect(writeBuffers()).toEqual([]);
      const withSecret = await raw(t, 'POST', url, Buffer.from(image), { ...octets, 'x-usbscsi-lease': grant.secret });
      expect(sseEvents(withSecret.body.toString('utf8')).at(-1)).toMatchObject({
        event: 'done',
        data: { state: 'activated', revisionAfter: '0.2' },
      });
    },
  );
});
