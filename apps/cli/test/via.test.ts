/**
 * --via: the same commands through a real usbscsid (the daemon's own start
 * function, serving a simulated device on a Unix socket in a temp dir).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';

const daemonSrc = fileURLToPath(new URL('../../daemon/src/daemon.ts', import.meta.url));
const haveDaemon = existsSync(daemonSrc);

describe.skipIf(!haveDaemon)(
  `--via unix:PATH through usbscsid${haveDaemon ? '' : ' (SKIPPED: apps/daemon/src/daemon.ts not found)'}`,
  () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'usbscsi-via-')), 'd.sock');
    let shutdown: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const { startDaemon } = await import('../../daemon/src/daemon.js');
      const { createProvider } = await import('../../daemon/src/providers.js');
      // pino is the daemon's dependency, not the CLI's: resolve it from the daemon's package.
      const pinoPath = createRequire(daemonSrc).resolve('pino');
      const { pino } = (await import(pathToFileURL(pinoPath).href)) as { pino: (o: object) => never };
      const setup = await createProvider({
        devices: ['sim:blocks=4096'],
        backend: 'auto',
        transport: 'auto',
        unmount: false,
      });
      const daemon = await startDaemon({
        provider: setup.provider,
        socketPath: socket,
        log: pino({ level: 'silent' }),
        pollMs: 200,
      });
      shutdown = () => daemon.shutdown('test');
    });
    afterAll(async () => {
      await shutdown?.();
    });

    it('inquiry, capacity and a failing raw command give the same output and exit status as direct', async () => {
      const inq = await run(['--via', `unix:${socket}`, 'inquiry']);
      expect(inq.code).toBe(0);
      expect(inq.stdout).toMatch(/^Vendor:\s+USBSCSI$/m);
      expect(json(await run(['--via', `unix:${socket}`, '--json', 'capacity']))).toMatchObject({
        blocks: 4096,
        blockSize: 512,
      });
      // FFh is vendor-specific: it needs --yes like any command not known to leave the medium alone.
      const bad = await run(['--via', `unix:${socket}`, 'raw', 'ff 00 00 00 00 00', '--yes']);
      expect(bad.code).toBe(ExitCode.SENSE_ILLEGAL_REQUEST);
      expect(bad.stdout).toContain('INVALID COMMAND OPERATION CODE');
      const env = await run(['tur'], { env: { USBSCSI_VIA: `unix:${socket}` } });
      expect(env.code).toBe(0);
      expect((await run(['--via', `unix:${socket}`, '--lun', '1', 'tur'])).code).toBe(ExitCode.USAGE);
    });

    it("names the device by the daemon's listing in info --json and in the write statement", async () => {
      const info = json(await run(['--via', `unix:${socket}`, '--json', 'info']));
      expect(info['device']).toMatchObject({
        transport: 'remote',
        daemonDeviceId: expect.any(String),
        usb: { vendorId: '1d6b', productId: '0104', location: expect.any(String) },
      });
      const data = join(socket, '..', 'two-blocks.bin');
      writeFileSync(data, Buffer.alloc(1024, 0xa5));
      const write = await run(['--via', `unix:${socket}`, 'write', '--lba', '0', '-i', data, '--yes']);
      expect(write.code).toBe(0);
      expect(write.stderr).toMatch(
        /About to write 1024 bytes .* to LBA 0\.\.1 of .*\(1d6b:0104 at \S+ on usbscsid as \S+.*\), LUN 0 via remote\//,
      );
    });

    it('a bad --timeout is exit 2 before the daemon is asked anything', async () => {
      const r = await run(['--via', 'unix:/nonexistent/usbscsid.sock', '--timeout', '0', 'capacity']);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toContain('--timeout must be between 1');
    });
  },
);
