/**
 * Empty or contradictory paths are usage errors (exit 2, nothing sent), and the
 * messages for expected failures carry no internal names or stack traces.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { failingOpen } from './sim-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'usbscsi-paths-'));

describe('empty and contradictory paths', () => {
  // A backend whose open fails with E_BUSY: exit 2 instead of 5 shows the check came first.
  const busy = failingOpen('E_BUSY', 'held by pid 42');
  const cases: [string, string[], string][] = [
    ["--trace ''", ['--device', 'sim', '--trace', '', 'tur'], '--trace needs a file to record to'],
    ["--via ''", ['--via', '', 'tur'], '--via needs the daemon endpoint'],
    ["raw -o ''", ['--device', 'sim', 'raw', '12 00 00 00 24 00', '--in', '36', '-o', ''], '-o needs a file to write'],
    ["read -o ''", ['--device', 'sim', 'read', '--lba', '0', '--blocks', '1', '-o', ''], '-o needs a file to write'],
    [
      "raw --out ''",
      ['--device', 'sim', 'raw', '2a 00 00 00 00 00 00 00 01 00', '--out', '', '--yes'],
      '--out needs a file to send',
    ],
    ["write -i ''", ['--device', 'sim', 'write', '--lba', '0', '-i', '', '--yes'], '-i needs the file to write'],
    [
      '--json raw -o -',
      ['--device', 'sim', '--json', 'raw', '12 00 00 00 24 00', '--in', '36', '-o', '-'],
      '--json prints a JSON document on stdout',
    ],
  ];
  it.each(cases)('%s is exit 2 before the device is opened', async (_name, args, message) => {
    const r = await run(args, { deps: busy });
    expect(r.code).toBe(ExitCode.USAGE);
    const text = args.includes('--json') ? String(json(r)['error']?.message) : r.stderr;
    expect(text).toContain(message);
  });

  it('--json read without -o FILE is refused before the device is opened', async () => {
    const r = await run(['--device', 'sim', '--json', 'read', '--lba', '0', '--blocks', '1'], {
      deps: failingOpen('E_BUSY', 'held by pid 42'),
    });
    expect(r.code).toBe(ExitCode.USAGE);
  });
});

describe('messages of expected failures', () => {
  it('a bad raw CDB names no internal function', async () => {
    const r = await run(['--device', 'sim', 'raw', 'zz']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/^usbscsi: "zz" is not hexadecimal/);
    expect(r.stderr).not.toContain('rawCdb');
  });

  it(
    'the selector error lists the tape and optical nodes the selector takes, and not ' + 'sim where sim is refused',
    async () => {
      const r = await run(['--device', 'zz:yy', 'tur']);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(/\/dev\/srN, \/dev\/stN, \/dev\/nstN/);
      const env = { USBSCSI_LEASE_JOURNAL: join(tmp, 'leases.json') };
      const release = await run(['--device', 'sim', 'handoff', 'release'], { env });
      expect(release.code).toBe(ExitCode.USAGE);
      expect(release.stderr).toContain('--device sim is the built-in emulator: it takes no lease');
      const bad = await run(['--device', 'zz:yy', 'handoff', 'release'], { env });
      expect(bad.code).toBe(ExitCode.USAGE);
      expect(bad.stderr).not.toMatch(/\bor sim\b/);
    },
  );

  it('-v prints no stack trace for an expected error (only for unexpected ones)', async () => {
    const r = await run(['-v', '--device', 'sim', 'inquiry', '--vpd', '300']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain('--vpd must be between 0 and 255');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('sim:file=<directory> is a usage error (exit 2), not a transport failure', async () => {
    const r = await run(['--device', `sim:file=${tmp}`, 'tur']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain(`backing file ${tmp}`);
    const ro = await run(['--device', `sim:file=${tmp},ro`, 'tur']);
    expect(ro.code).toBe(ExitCode.USAGE);
  });
});
