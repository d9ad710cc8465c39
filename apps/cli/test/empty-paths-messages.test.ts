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
    ["raw --out ''", ['--device', 'sim', 'raw', '2a 00 00 00 00 00 00 00 01 00', '--out', '', '--yes'], '--out needs a file to send'],
    ["write -i ''", ['--device', 'sim', 'write', '--lba', '0', '-i', '', '--yes'], '-i needs the file to write'],
    ['--json raw -o -', ['--device', 'sim', '--json', 'raw', '12 00 00 00 24 00', '--in', '36', '-o', '-'], '--json prints a JSON document on stdout'],
  ];
  it.each(cases)('%s is exit 2 before the device is opened', async (_name, args, message) => {
    const r = await run(args, { deps: busy });
    expect(r.code).toBe(ExitCode.USAGE);
    const text = args.includes('--json') ? String(json(r)['error']?.message) : r.stderr;
    expect(text).toContain(message);
  });

  it('--json read without -o FILE is refused before the device is opened', async () => {
    const r = await run(['--device', 'sim', '--json', 'read', '--lba', '0', '--blocks', '1'], { deps: failingOpen('E_BUSY', 'held by pid 42') });
    expect(r.code).toBe(ExitCode.USAGE);
  });
});
