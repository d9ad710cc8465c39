/**
 * Usage errors and refusals that promise "nothing was sent" (exit 2): each is checked against the
 * simulated device, which records every command it receives (and is not even created when the
 * device is never opened). Also --unmount / --remount reaching the handoff lease.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeaseJournal } from '@usbscsi/core';
import { FakeHandoffPlatform, defaultFakeOsState } from '../../../packages/core/src/testing/fake-platform.js';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { simWith } from './sim-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'usbscsi-cli-usage-'));
const HINT = '(run usbscsi --help for usage)';

function commandsSeen(deps: ReturnType<typeof simWith>): number {
  return deps.devices.reduce((n, d) => n + d.stats.commands, 0);
}

describe('usage errors', () => {
  it('an unknown option or command prints the usage hint once', async () => {
    for (const args of [
      ['--device', 'sim', '--bogus', 'tur'],
      ['--device', 'sim', 'frobnicate'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr.split(HINT).length - 1, r.stderr).toBe(1);
    }
  });

  it("--device '' is a usage error (2), not 'not found', and opens nothing", async () => {
    for (const empty of ['', '   ']) {
      const deps = simWith(() => {});
      const r = await run(['--device', empty, 'tur'], { deps });
      expect(r.code, JSON.stringify(empty)).toBe(ExitCode.USAGE);
      expect(r.stderr).toContain('--device needs a selector');
      expect(deps.devices).toHaveLength(0);
    }
    const doc = json(await run(['--json', '--device', '', 'inquiry']));
    expect(doc['error']).toMatchObject({ code: 'E_USAGE' });
  });

  it('no command at all is a usage error (exit 2) that shows the usage', async () => {
    for (const args of [[], ['--device', 'sim'], ['--quiet']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr, args.join(' ')).toMatch(/^Usage: usbscsi \[options\] \[command\]/m);
    }
    const j = await run(['--json']);
    expect(j.code).toBe(ExitCode.USAGE);
    expect(json(j)['error']).toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('no command to run') });
    // Asking for help is not an error.
    expect((await run(['help'])).code).toBe(ExitCode.OK);
    expect((await run(['--help'])).code).toBe(ExitCode.OK);
  });
});

describe('refusals before the device is opened', () => {
  it('write without --yes states file, bytes, LBA and selector, exits 2 and never opens the device', async () => {
    const file = join(tmp, 'two-blocks.bin');
    writeFileSync(file, Buffer.alloc(1024, 0x5a));
    const deps = simWith(() => {});
    const r = await run(['--device', 'sim', 'write', '--lba', '10', '-i', file], { deps });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain(`Would write 1024 bytes of ${file} from LBA 10 of --device sim`);
    expect(r.stderr).toContain('add --yes');
    expect(deps.devices).toHaveLength(0);
    expect(commandsSeen(deps)).toBe(0);

    const j = await run(['--device', 'sim', '--json', 'write', '--lba', '0x10', '-i', file], { deps });
    expect(j.code).toBe(ExitCode.USAGE);
    expect(json(j)['error']).toMatchObject({
      code: 'E_BAD_INPUT',
      details: { file, lba: 16, bytes: 1024, device: 'sim' },
    });
    expect(deps.devices).toHaveLength(0);

    // A bad --lba is found before the device too.
    const bad = await run(['--device', 'sim', 'write', '--lba', 'ten', '-i', file, '--yes'], { deps });
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(deps.devices).toHaveLength(0);
  });

  it('write with --yes still states the exact range from the device, then writes', async () => {
    const file = join(tmp, 'one-block.bin');
    writeFileSync(file, Buffer.alloc(512, 0xa5));
    const deps = simWith(() => {});
    const r = await run(['--device', 'sim', 'write', '--lba', '3', '-i', file, '--yes'], { deps });
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stderr).toMatch(/About to write 512 bytes \(1 blocks of 512\) to LBA 3\.\.3 of .*1d6b:0104/);
    expect(deps.devices[0]!.stats.history.some((c) => c.cdb[0] === 0x2a)).toBe(true);
  });

  it('raw -o to a path that cannot be written is exit 2 before the CDB is sent', async () => {
    const deps = simWith(() => {});
    const r = await run(
      ['--device', 'sim', 'raw', '12 00 00 00 24 00', '--in', '36', '-o', join(tmp, 'no-such-dir', 'x.bin')],
      { deps },
    );
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain('cannot write');
    expect(commandsSeen(deps)).toBe(0);

    const saved = join(tmp, 'inquiry.bin');
    const ok = await run(['--device', 'sim', 'raw', '12 00 00 00 24 00', '--in', '36', '-o', saved], { deps });
    expect(ok.code).toBe(ExitCode.OK);
    expect(ok.stdout).toMatch(/^Saved to:\s+.*inquiry\.bin$/m);
  });
});

describe('raw consent, asked before the device is opened', () => {
  it(
    'a CDB not known to leave the medium alone (here MODE SELECT, and a vendor read) ' +
      'is exit 2 without --yes; nothing is opened',
    async () => {
      for (const [cdb, why] of [
        ['15 10 00 00 0c 00', 'MODE SELECT(6) is not known to leave the medium alone'],
        ['c2 00 00 00 10 00', 'vendor-specific'],
      ] as const) {
        const deps = simWith((d) => d.onCommand(0xc2, () => Uint8Array.of(1)));
        const args = ['--device', 'sim', 'raw', cdb, ...(cdb.startsWith('c2') ? ['--in', '16'] : [])];
        const r = await run(args, { deps });
        expect(r.code, cdb).toBe(ExitCode.USAGE);
        expect(r.stderr, cdb).toContain(why);
        expect(r.stderr, cdb).toContain('add --yes');
        expect(deps.devices, cdb).toHaveLength(0);
        const yes = await run([...args, '--yes'], { deps });
        expect(yes.code, cdb).not.toBe(ExitCode.USAGE);
        expect(commandsSeen(deps), cdb).toBeGreaterThan(0);
      }
    },
  );

  it('commands on the allowlist need no --yes (INQUIRY, ATA IDENTIFY through SAT)', async () => {
    const deps = simWith(() => {});
    expect((await run(['--device', 'sim', 'raw', '12 00 00 00 24 00', '--in', '36'], { deps })).code).toBe(ExitCode.OK);
    expect(
      (
        await run(['--device', 'sim', 'raw', '85 08 0e 00 00 00 01 00 00 00 00 00 00 00 ec 00', '--in', '512'], {
          deps,
        })
      ).code,
    ).toBe(ExitCode.OK);
  });
});

describe('--unmount / --remount', () => {
  // The OS driver holds the interface and two filesystems are mounted (core's fake OS); the
  // simulated device lists no sg/block node, so BOT (and with it the lease) is the only way in.
  function mountedFixture() {
    const dir = mkdtempSync(join(tmp, 'lease-'));
    const platform = new FakeHandoffPlatform({ stateFile: join(dir, 'os.json'), initial: defaultFakeOsState() });
    const journal = new LeaseJournal({ path: join(dir, 'leases.json') });
    const deps = {
      ...simWith(() => {}, {
        kernelDriver: 'usb-storage',
        storage: { mounts: [{ device: '/dev/sda1', mountPoint: '/media/stick' }] },
      }),
      handoff: async () => ({ platform, journal, registry: null }),
    };
    return { platform, journal, deps };
  }

  it(
    'without them a mounted device is refused (exit 6) with advice naming both flags, ' + 'and nothing is sent',
    async () => {
      const { platform, deps } = mountedFixture();
      const r = await run(['--device', 'sim', 'tur'], { deps });
      expect(r.code).toBe(ExitCode.MOUNTED);
      expect(r.stderr).toContain('--unmount');
      expect(r.stderr).toContain('--remount');
      expect(commandsSeen(deps)).toBe(0);
      expect(platform.read().mounts).toHaveLength(2);
    },
  );

  it('--unmount unmounts, runs the command and gives the device back unmounted', async () => {
    const { platform, journal, deps } = mountedFixture();
    const r = await run(['--device', 'sim', '--unmount', 'tur'], { deps });
    expect(r.code).toBe(ExitCode.OK);
    expect(commandsSeen(deps)).toBeGreaterThan(0);
    expect(platform.read().driver).toBe('usb-storage');
    expect(platform.read().mounts).toEqual([]);
    expect(await journal.list()).toEqual([]);
  });

  it('--unmount --remount mounts them again on release', async () => {
    const { platform, deps } = mountedFixture();
    const r = await run(['--device', 'sim', '--unmount', '--remount', 'tur'], { deps });
    expect(r.code).toBe(ExitCode.OK);
    expect(platform.read().driver).toBe('usb-storage');
    expect(
      platform
        .read()
        .mounts.map((m) => m.mountPoint)
        .sort(),
    ).toEqual(['/media/stick', '/media/stick/data']);
  });

  it('--remount alone, or either flag through the daemon, is a usage error before anything happens', async () => {
    const { platform, deps } = mountedFixture();
    const alone = await run(['--device', 'sim', '--remount', 'tur'], { deps });
    expect(alone.code).toBe(ExitCode.USAGE);
    expect(alone.stderr).toContain('add --unmount');
    expect(deps.devices).toHaveLength(0);
    expect(platform.read().log).toEqual([]);
    const via = await run(['--via', 'unix:/tmp/usbscsi-no-daemon.sock', '--unmount', 'tur']);
    expect(via.code).toBe(ExitCode.USAGE);
    expect(via.stderr).toContain('usbscsid');
  });

  it('--help documents both', async () => {
    const r = await run(['--help']);
    expect(r.stdout).toMatch(/^\s+--unmount\s/m);
    expect(r.stdout).toMatch(/^\s+--remount\s/m);
  });
});
