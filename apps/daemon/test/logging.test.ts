/**
 * What the JSON log says: never a credential that came in a URL; a client
 * that hangs up is routine (info), not a daemon error with a stack.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '@usbscsi/core';
import { daemonLogger } from '../src/log.js';
import { FakeProvider, SLOW_OPCODE } from './fake-provider.js';
import { raw, sendRaw, startTestDaemon, until, type TestDaemon } from './helpers.js';

const TOKEN = 'f3a1c0de5eed5eed5eedf00dcafe0003';

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const text: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split('\n'))
        if (l) {
          text.push(l);
          lines.push(JSON.parse(l));
        }
      cb();
    },
  });
  return { lines, text, log: pino({ level: 'debug' }, sink) };
}

describe('usbscsid logs', () => {
  let t: TestDaemon | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('never logs a token or lease secret sent in a query string (request lines, refusals, parse errors)', async () => {
    const { lines, text, log } = logSink();
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, { log, listen: { host: '127.0.0.1', port: 0 }, token: TOKEN });
    const tcp = { port: t.daemon.tcp!.port };
    const secrets = [
      'S3CRET-TOKEN-1',
      'S3CRET-TOKEN-2',
      'S3CRET-LEASE-3',
      'S3CRET-TOKEN-4',
      'S3CRET-TOKEN-5',
      'S3CRET-TOKEN-6',
      'S3CRET-TOKEN-7',
    ];
    await raw(t, 'GET', `/healthz?token=${secrets[0]}`);
    await raw(t, 'GET', `/v1/devices?access_token=${secrets[1]}&x=1`);
    await raw(
      t,
      'POST',
      `/v1/devices/1-1/execute?cdb=2a000000000000000100&allowMediumWrite=true&lease=${secrets[2]}`,
      Buffer.alloc(512),
      { 'content-type': 'application/octet-stream' },
    );
    await raw(tcp, 'GET', `/healthz?token=${secrets[3]}`); // refused: no bearer header
    await raw(t, 'GET', `/v2/nothing?%74oken=${secrets[4]}`); // a percent-encoded name
    await sendRaw(
      t.socketPath,
      `GET /v1/devices/%zz?token=${secrets[5]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    await sendRaw(t.socketPath, `GET /healthz?token=${secrets[6]}&${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await until(() => lines.filter((l) => l.msg === 'request').length >= 5, 3000, 'request lines');
    for (const secret of secrets)
      expect(
        text.filter((l) => l.includes(secret)),
        secret,
      ).toEqual([]);
    // ...while the request lines keep what helps: path, harmless parameters, status
    expect(lines.find((l) => l.msg === 'request' && String(l.url).startsWith('/healthz'))).toMatchObject({
      url: '/healthz?token=[redacted]',
      status: 200,
    });
    expect(lines.find((l) => l.msg === 'request' && String(l.url).includes('execute'))).toMatchObject({
      url: '/v1/devices/1-1/execute?cdb=2a000000000000000100&allowMediumWrite=true&lease=[redacted]',
    });
    expect(lines.find((l) => l.msg === 'refused: bearer token')).toMatchObject({ url: '/healthz?token=[redacted]' });
  });

  it('logs a client that disconnects mid-command or while queued as info, without an error or a stack', async () => {
    const { lines, log } = logSink();
    const provider = new FakeProvider();
    const dev = provider.add('1-1');
    t = await startTestDaemon(provider, { log });
    const client = new DaemonClient({ kind: 'unix', socketPath: t.socketPath }, { maxSockets: 8 });
    try {
      const slow = (path: string) => {
        const body = JSON.stringify({ cdb: `${SLOW_OPCODE.toString(16)} 32 00 00 00 00` });
        const r = request({
          socketPath: t!.socketPath,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
        });
        r.on('error', () => undefined);
        r.end(body);
        return r;
      };
      const requests = [slow('/v1/devices/1-1/execute'), slow('/v1/devices/1-1/execute')];
      // Hang up once the first runs and the second waits in the queue (not after a fixed 150 ms: on a
      // loaded machine neither had started by then, both ended queued and none was aborted mid-run).
      await until(
        async () => dev.executed.includes(SLOW_OPCODE) && (await client.listDevices())[0]?.queueDepth === 2,
        10_000,
        'the first command running and the second queued',
      );
      for (const r of requests) r.destroy();
      // each request ends with one line about its E_CANCELLED answer (besides the command's own 'command failed')
      const answered = () => lines.filter((l) => l.code === 'E_CANCELLED' && l.msg !== 'command failed');
      await until(() => answered().length === 2, 3000, 'both requests to end');
      await until(() => dev.aborted === 1, 3000, 'the running command aborted');
      for (const l of answered())
        expect(l).toMatchObject({ level: 30, msg: expect.stringMatching(/^client went away before the answer/) });
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
      expect(JSON.stringify(lines)).not.toContain('"stack"');
      // the daemon carries on
      expect((await client.execute('1-1', Uint8Array.from([0x12, 0, 0, 0, 36, 0]), { length: 36 })).status).toBe(0);
    } finally {
      client.close();
    }
  });

  it("the daemon's own log is written as each line is logged: a crash or kill loses none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'usbscsid-log-'));
    const fd = openSync(join(dir, 'log.jsonl'), 'w+');
    try {
      const log = daemonLogger('info', fd);
      log.info({ device: '1-1', opcode: '00' }, 'command done');
      // No turn of the event loop in between: the line is in the file when info() returns.
      const line = readFileSync(join(dir, 'log.jsonl'), 'utf8');
      expect(JSON.parse(line)).toMatchObject({ name: 'usbscsid', msg: 'command done', opcode: '00' });
      log.debug('below the level');
      expect(readFileSync(join(dir, 'log.jsonl'), 'utf8')).toBe(line);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
