/**
 * Every failure the daemon answers is `{ error: { code, message } }`, also
 * the ones Fastify and Node's HTTP parser produce before any route runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from './fake-provider.js';
import { sendRaw, startTestDaemon, type TestDaemon } from './helpers.js';

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
const post = (path: string, type: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ` +
  `${Buffer.byteLength(body)}\r\nConnection: ` +
  `close\r\n\r\n${body}`;

describe('usbscsid error envelope', () => {
  let t: TestDaemon;

  beforeAll(async () => {
    const provider = new FakeProvider();
    provider.add('1-1');
    t = await startTestDaemon(provider, { limits: { bodyLimit: 1024 } });
  });
  afterAll(async () => t.stop());

  it(
    "wraps Fastify's and Node's own refusals (400, 404, 413, 414, 415, 431) in { error: " + '{ code, message } }',
    async () => {
      const cases: [string, string | Buffer, number, string][] = [
        ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400, 'E_BAD_INPUT'],
        ['a bad request line', 'GET /healthz HTTP/9.9 extra\r\n\r\n', 400, 'E_BAD_INPUT'],
        ['bad percent-encoding', get('/v1/devices/%zz'), 400, 'E_BAD_INPUT'],
        ['unknown route', get('/v2/anything'), 404, 'E_NOT_FOUND'],
        [
          'a body over --body-limit',
          post('/v1/devices/1-1/execute', 'application/octet-stream', 'x'.repeat(2048)),
          413,
          'E_BAD_INPUT',
        ],
        ['a path parameter over 100 characters', get(`/v1/devices/${'a'.repeat(300)}`), 414, 'E_BAD_INPUT'],
        ['an unknown media type', post('/v1/devices/1-1/execute', 'text/csv', 'a,b'), 415, 'E_BAD_INPUT'],
        ['a header over 16 KiB', get('/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'E_BAD_INPUT'],
        ['a URL over 16 KiB', get(`/healthz?${'a'.repeat(20_000)}`), 431, 'E_BAD_INPUT'],
      ];
      for (const [what, bytes, status, code] of cases) {
        const r = await sendRaw(t.socketPath, bytes);
        expect({ what, status: r.status }).toEqual({ what, status });
        expect(r.headers, what).toMatch(/content-type: application\/json/i);
        const body = JSON.parse(r.body) as Record<string, unknown>;
        expect(Object.keys(body), what).toEqual(['error']);
        expect(body.error, what).toMatchObject({ code, message: expect.any(String) });
        expect((body.error as { message: string }).message.length, what).toBeLessThan(400);
      }
    },
  );
});
