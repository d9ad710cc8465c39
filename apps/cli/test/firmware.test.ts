/** `usbscsi firmware info | download` against the simulated device's firmware model. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSimFirmwareImage } from '@usbscsi/emulator';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { simWith } from './sim-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'usbscsi-cli-fw-'));
const imagePath = join(tmp, 'fw-0.2.bin');
writeFileSync(imagePath, buildSimFirmwareImage({ revision: '0.2', size: 40_000 }));
const writeBuffers = (deps: ReturnType<typeof simWith>) =>
  deps.devices.flatMap((d) => d.stats.history.filter((h) => h.cdb[0] === 0x3b));

describe('usbscsi firmware', () => {
  it('info: modes, offset boundary, buffer size, revision (human and --json)', async () => {
    const r = await run(['--device', 'sim', 'firmware', 'info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Revision\s+0\.1/);
    expect(r.stdout).toMatch(/Modes\s+0x05, 0x07, 0x0d, 0x0e, 0x0f/);
    expect(r.stdout).toMatch(/Offset boundary 512 bytes/);
    const doc = json(await run(['--json', '--device', 'sim', 'firmware', 'info']));
    expect(doc).toMatchObject({
      target: 'scsi',
      modes: [5, 7, 13, 14, 15],
      offsetBoundary: 512,
      bufferCapacity: 1048576,
      revision: '0.1',
    });
  });

  it(
    'download --activate --yes: segments, activation, re-enumeration, new revision; --json ' +
      'is one document with the chunks',
    async () => {
      const deps = simWith(() => {});
      const r = await run(
        ['--json', '--device', 'sim', 'firmware', 'download', imagePath, '--chunk', '16k', '--activate', '--yes'],
        { deps },
      );
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const doc = json(r);
      expect(doc).toMatchObject({
        state: 'activated',
        revisionBefore: '0.1',
        revisionAfter: '0.2',
        cameBack: 're-enumerated',
        chunksSent: 3,
        bytesSent: 40_000,
      });
      expect(doc['plan']).toMatchObject({ mode: 0x0e, activation: 'activate-command' });
      expect(doc['chunks'].map((c: { offset: number }) => c.offset)).toEqual([0, 16384, 32768]);
      expect(writeBuffers(deps).map((h) => h.cdb[1])).toEqual([0x0e, 0x0e, 0x0e, 0x0f]);
    },
  );

  it(
    'without --yes: exit 2 before the device is opened; --dry-run needs no --yes and ' + 'sends no download command',
    async () => {
      const deps = simWith(() => {});
      const r = await run(['--device', 'sim', 'firmware', 'download', imagePath, '--activate'], { deps });
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(/Would download 40000 bytes.*\n.*explicit consent/);
      expect(deps.devices).toHaveLength(0);
      const dry = await run(
        [
          '--device',
          'sim',
          'firmware',
          'download',
          imagePath,
          '--dry-run',
          '--mode',
          '7',
          '--chunk',
          '8192',
          '--activate',
        ],
        { deps },
      );
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stderr).toMatch(/mode\s+0x07 [^\n]*\n\s+why\s+asked for/);
      expect(dry.stdout.trim().split('\n')).toHaveLength(5);
      expect(dry.stdout).toMatch(/chunk\s+5\s+offset\s+32768\s+7232 bytes/);
      expect(writeBuffers(deps)).toEqual([]);
    },
  );

  it('the plan names the activate command of its target and states a one-chunk image by its own size', async () => {
    const small = join(tmp, 'small.bin');
    writeFileSync(small, new Uint8Array(5000));
    const one = await run(['--device', 'sim', 'firmware', 'download', small, '--activate', '--dry-run']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/image\s+small\.bin, 5000 bytes in 1 chunk at buffer offset 0\n/);
    expect(one.stderr).toMatch(/then\s+activate \(WRITE BUFFER mode 0x0f\)/);
    const blocks = join(tmp, 'blocks.bin');
    writeFileSync(blocks, buildSimFirmwareImage({ revision: '0.3', size: 40 * 512 }));
    const ata = await run([
      '--device',
      'sim',
      'firmware',
      'download',
      blocks,
      '--target',
      'ata',
      '--mode',
      '0xe',
      '--activate',
      '--dry-run',
    ]);
    expect(ata.code, ata.stderr).toBe(0);
    expect(ata.stderr).toMatch(/then\s+activate \(ATA DOWNLOAD MICROCODE subcommand 0x0f\)/);
    expect(ata.stderr).not.toMatch(/WRITE BUFFER/);
  });

  it(
    'an activation the device refuses: the old firmware runs, nothing is said to be saved, ' +
      'the reason names the activation',
    async () => {
      const junk = join(tmp, 'junk.bin');
      writeFileSync(
        junk,
        new Uint8Array(5000).map((_, i) => (i * 37 + 11) & 0xff),
      );
      const deps = simWith(() => {});
      const r = await run(['--device', 'sim', 'firmware', 'download', junk, '--activate', '--yes'], { deps });
      expect(r.code).toBe(ExitCode.SENSE_ILLEGAL_REQUEST);
      expect(r.stderr).toMatch(
        /refused the activate command \(WRITE BUFFER mode 0x0f\).*still runs its old firmware; it holds no saved image/,
      );
      expect(r.stderr).not.toMatch(/is saved/);
      const doc = json(await run(['--json', '--device', 'sim', 'firmware', 'download', junk, '--activate', '--yes']));
      expect(doc['error']).toMatchObject({
        code: 'E_CHECK_CONDITION',
        details: { reason: 'activate-refused', deviceState: 'old-firmware', deferredImage: 'none' },
      });
      expect(deps.devices[0]!.target.identity.revision).toBe('0.1');
    },
  );

  it(
    'input errors exit 2 with nothing opened: missing image, bad mode, mode 7 without ' + '--activate, bad --chunk',
    async () => {
      for (const args of [
        [join(tmp, 'missing.bin'), '--yes'],
        [imagePath, '--mode', '6', '--yes'],
        [imagePath, '--mode', '7', '--yes'],
        [imagePath, '--chunk', 'lots', '--yes'],
      ]) {
        const deps = simWith(() => {});
        const r = await run(['--device', 'sim', 'firmware', 'download', ...args], { deps });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(ExitCode.USAGE);
        expect(deps.devices, args.join(' ')).toHaveLength(0);
      }
    },
  );

  it('a refused segment: the exit code of its sense key, the offset and the device state in the error', async () => {
    const deps = simWith((d) => {
      d.target.firmwareState!.refuseSegment = 2;
    });
    const r = await run(
      [
        '--json',
        '--device',
        'sim',
        'firmware',
        'download',
        imagePath,
        '--mode',
        '7',
        '--chunk',
        '16k',
        '--activate',
        '--yes',
      ],
      { deps },
    );
    expect(r.code).toBe(ExitCode.SENSE_HARDWARE_ERROR);
    expect(json(r)['error']).toMatchObject({
      code: 'E_CHECK_CONDITION',
      details: { offset: 16384, deviceState: 'old-firmware' },
    });
    expect(deps.devices[0]!.target.identity.revision).toBe('0.1');
  });

  it('Ctrl-C between chunks: exit 130 and the old firmware still runs', async () => {
    const stop = new AbortController();
    const deps = simWith((d) => {
      d.onCommand(0x3b, async (ctx) => {
        const r = await ctx.builtin();
        if (((ctx.cdb[4]! << 8) | ctx.cdb[5]!) === 8192) stop.abort();
        return { status: r.status, ...(r.sense ? { sense: r.sense } : {}) };
      });
    });
    const { runCli } = await import('../src/program.js');
    const out: string[] = [];
    const io = {
      stdout: { write: (s: string | Uint8Array) => out.push(String(s)) > 0 },
      stderr: { write: (s: string | Uint8Array) => out.push(String(s)) > 0 },
      env: {},
      signal: stop.signal,
    };
    const code = await runCli(
      ['--device', 'sim', 'firmware', 'download', imagePath, '--mode', '7', '--chunk', '8192', '--activate', '--yes'],
      io,
      deps,
    );
    expect(code, out.join('')).toBe(ExitCode.INTERRUPTED);
    expect(out.join('')).toMatch(/after 2 of 5 chunks.*old firmware/);
    expect(writeBuffers(deps)).toHaveLength(2);
    expect(deps.devices[0]!.target.identity.revision).toBe('0.1');
  });
});
