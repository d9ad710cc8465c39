/**
 * The CLI in-process against the emulator: every command, human and --json
 * output, exit statuses per category, bad input. (spawned.test.ts runs the
 * built binary for real exit codes, the trace and the progress bar.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckConditionError } from '@usbscsi/core';
import { ExitCode, exitCodeFor, exitCodeForStatus } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { failingOpen, noDevices, simWith, twoIdentical } from './sim-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'usbscsi-cli-'));

describe('inquiry, info, capacity, tur, sense, list', () => {
  it('inquiry prints an aligned summary of the simulated disk', async () => {
    const r = await run(['--device', 'sim', 'inquiry']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Vendor:\s+USBSCSI$/m);
    expect(r.stdout).toMatch(/^Product:\s+SIMULATED DISK$/m);
    expect(r.stdout).toMatch(/^Type:\s+direct access block device \(0x00\)$/m);
    expect(r.stderr).toBe('');
  });

  it('inquiry --json is one document with the documented fields', async () => {
    const doc = json(await run(['--device', 'sim', '--json', 'inquiry']));
    expect(doc).toMatchObject({
      vendor: 'USBSCSI',
      product: 'SIMULATED DISK',
      peripheralType: 0,
      removable: expect.any(Boolean),
      flags: expect.any(Object),
    });
  });

  it('inquiry --vpd 0x80 gives the serial; --vpd 0 lists pages; a bad page number is exit 2', async () => {
    expect(json(await run(['--device', 'sim:serial=XYZ42', '--json', 'inquiry', '--vpd', '0x80']))).toMatchObject({
      page: 0x80,
      kind: 'unit-serial-number',
      serialNumber: 'XYZ42',
    });
    const pages = json(await run(['--device', 'sim', '--json', 'inquiry', '--vpd', '0']));
    expect(pages['supportedPages']).toContain(0x80);
    expect((await run(['--device', 'sim', 'inquiry', '--vpd', '0x80'])).stdout).toMatch(/^Serial:\s+SIM0001$/m);
    const bad = await run(['--device', 'sim', 'inquiry', '--vpd', '300']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain('--vpd must be between 0 and 255');
  });

  it('capacity reports the configured geometry (human and JSON)', async () => {
    const doc = json(await run(['--device', 'sim:blocks=2048,bs=4096', '--json', 'capacity']));
    expect(doc).toEqual({ lastLba: 2047, blocks: 2048, blockSize: 4096, bytes: 2048 * 4096 });
    const human = await run(['--device', 'sim:blocks=2048', 'capacity']);
    expect(human.stdout).toMatch(/^Blocks:\s+2048 \(last LBA 2047\)$/m);
    expect(human.stdout).toMatch(/^Block size:\s+512 bytes$/m);
  });

  it('info combines USB identity, INQUIRY and capacity', async () => {
    const doc = json(await run(['--device', 'sim', '--json', 'info']));
    expect(doc['device']).toMatchObject({
      transport: 'bot',
      backend: 'emulator',
      lun: 0,
      usb: { vendorId: '1d6b', productId: '0104', serialNumber: 'SIM0001' },
    });
    expect(doc['capacity']).toMatchObject({ blocks: 32768, blockSize: 512 });
    const human = await run(['--device', 'sim', 'info']);
    expect(human.stdout).toMatch(
      /^Device:\s+usbscsi Simulated Disk \(1d6b:0104 at 1-1, serial SIM0001\), LUN 0 via bot\/emulator$/m,
    );
  });

  it('tur: 0 when ready; NOT READY is exit 21 with the sense in the message', async () => {
    const ok = await run(['--device', 'sim', 'tur']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^Ready \(\d+ µs\)$/m);
    const deps = simWith((d) => d.faults.inject({ kind: 'not-ready', reason: 'medium-not-present', once: false }));
    const nr = await run(['--device', 'sim', 'tur'], { deps });
    expect(nr.code).toBe(ExitCode.SENSE_NOT_READY);
    expect(nr.stderr).toContain('MEDIUM NOT PRESENT');
    const nrJson = json(await run(['--device', 'sim', '--json', 'tur'], { deps }));
    expect(nrJson['error']).toMatchObject({ code: 'E_CHECK_CONDITION', details: { senseKey: 2, asc: 0x3a } });
  });

  it(
    'tur on a device that takes SET_INTERFACE as a reset (f_mass_storage): plainly ready, ' +
      'no UNIT ATTENTION of our own making',
    async () => {
      const deps = simWith(() => undefined, { setInterfaceResets: true });
      const r = await run(['--device', 'sim', 'tur'], { deps });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Ready \(\d+ µs\)\n$/);
      expect(deps.devices[0]!.interfaceRequests.setInterface).toBe(0);
    },
  );

  it('tur reports a UNIT ATTENTION it retried past (human and JSON), exit 0', async () => {
    const deps = simWith((d) => void (d.lun(0).unitAttention = { key: 6, asc: 0x29, ascq: 0 }));
    const r = await run(['--device', 'sim', 'tur'], { deps });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        /^Ready \(\d+ µs\), after a UNIT ATTENTION the device reported first: /.source +
          /UNIT ATTENTION: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED \(asc 0x29, ascq 0x00\)$/.source,
        'm',
      ),
    );
    const doc = json(
      await run(['--device', 'sim', '--json', 'tur'], {
        deps: simWith((d) => void (d.lun(0).unitAttention = { key: 6, asc: 0x29, ascq: 0 })),
      }),
    );
    expect(doc).toMatchObject({ ready: true, unitAttention: { senseKey: 6, asc: 0x29, ascq: 0 } });
    expect(json(await run(['--device', 'sim', '--json', 'tur']))).toMatchObject({ ready: true, unitAttention: null });
  });

  it('sense decodes pending sense; none is said plainly', async () => {
    const r = await run(['--device', 'sim', 'sense']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/No sense|NO SENSE/);
    expect(json(await run(['--device', 'sim', '--json', 'sense']))).toHaveProperty('sense');
  });

  it('list shows the simulated device as a table and as JSON', async () => {
    const r = await run(['--device', 'sim', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+LOCATION\s+SPEED/m);
    expect(r.stdout).toMatch(/^1d6b:0104\s+1-1\s+high\s+bot/m);
    const doc = json(await run(['--device', 'sim', '--json', 'list']));
    expect(doc['devices']).toHaveLength(1);
    expect(doc['devices'][0]).toMatchObject({
      vendorId: '1d6b',
      location: '1-1',
      interfaces: [{ interfaceNumber: 0, protocols: ['bot'] }],
    });
  });
});

describe('read and write', () => {
  it('write refuses without --yes (exit 2), stating file, bytes, LBA and device first', async () => {
    const file = join(tmp, 'two-blocks.bin');
    writeFileSync(file, Buffer.alloc(1024, 0x5a));
    const r = await run(['--device', 'sim', 'write', '--lba', '10', '-i', file]);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/Would write 1024 bytes of .*two-blocks\.bin from LBA 10 of --device sim/);
    expect(r.stderr).toContain('add --yes');
  });

  it('write --yes then read returns the same bytes (raw to a pipe, hexdump to a terminal, -o FILE)', async () => {
    const deps = simWith(() => {});
    // One emulator for both commands: keep the first device and hand it out again.
    let backend: unknown;
    const shared = { simBackend: async (spec: string) => (backend ??= await deps.simBackend!(spec)) as never };
    const file = join(tmp, 'pattern.bin');
    const pattern = Buffer.from(Array.from({ length: 1536 }, (_, i) => (i * 7) & 0xff));
    writeFileSync(file, pattern);
    const w = await run(['--device', 'sim', 'write', '--lba', '100', '-i', file, '--yes'], { deps: shared });
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/^Wrote 1\.50 KiB to LBA 100\.\.102/m);
    const piped = await run(['--device', 'sim', 'read', '--lba', '100', '--blocks', '3'], { deps: shared });
    expect(piped.code).toBe(0);
    expect(piped.stdoutBytes.equals(pattern)).toBe(true);
    const cut = await run(['--device', 'sim', 'read', '--lba', '100', '--bytes', '700'], { deps: shared });
    expect(cut.stdoutBytes.equals(pattern.subarray(0, 700))).toBe(true);
    const tty = await run(['--device', 'sim', 'read', '--lba', '100', '--blocks', '1'], {
      deps: shared,
      stdoutTTY: true,
    });
    expect(tty.stdout.split('\n')[0]).toBe(
      '00000000  00 07 0e 15 1c 23 2a 31  38 3f 46 4d 54 5b 62 69  |.....#*18?FMT[bi|',
    );
    const out = join(tmp, 'read-back.bin');
    const f = await run(['--device', 'sim', '--json', 'read', '--lba', '100', '--blocks', '3', '-o', out], {
      deps: shared,
    });
    expect(json(f)).toMatchObject({ lba: 100, blocks: 3, bytes: 1536, file: out });
    expect(readFileSync(out).equals(pattern)).toBe(true);
  });

  it('read refuses bad ranges and options with exit 2 and one line', async () => {
    const cases: [string[], string][] = [
      [['read', '--lba', '-1', '--blocks', '1'], '--lba needs a non-negative integer'],
      [['read', '--lba', '0'], 'exactly one of --blocks N or --bytes N'],
      [['read', '--lba', '0', '--blocks', '1', '--bytes', '512'], 'exactly one of'],
      [['read', '--lba', '0', '--blocks', '0'], '--blocks must be between 1'],
      [['read', '--lba', '32767', '--blocks', '2'], 'runs past the end of the medium'],
      [['read', '--lba', '0', '--blocks', '99999999999999'], '--blocks must be between 1'],
      [['read', '--lba', 'abc', '--blocks', '1'], '--lba needs a non-negative integer'],
      [['read', '--lba', '0', '--blocks', '1', '-o', '/nonexistent/dir/x'], 'cannot write /nonexistent/dir/x'],
      [['read', '--blocks', '1'], "required option '--lba <n>' not specified"],
    ];
    for (const [args, message] of cases) {
      const r = await run(['--device', 'sim', ...args]);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('write refuses unreadable files and partial blocks', async () => {
    const missing = await run(['--device', 'sim', 'write', '--lba', '0', '-i', join(tmp, 'nope.bin'), '--yes']);
    expect(missing.code).toBe(ExitCode.USAGE);
    expect(missing.stderr).toMatch(/cannot read .*nope\.bin/);
    const odd = join(tmp, 'odd.bin');
    writeFileSync(odd, Buffer.alloc(100));
    const r = await run(['--device', 'sim', 'write', '--lba', '0', '-i', odd, '--yes']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain('not a whole number of 512-byte blocks');
  });

  it('write to a read-only medium is DATA PROTECT (exit 26)', async () => {
    const file = join(tmp, 'one.bin');
    writeFileSync(file, Buffer.alloc(512));
    const r = await run(['--device', 'sim:ro', 'write', '--lba', '0', '-i', file, '--yes']);
    expect(r.code).toBe(ExitCode.SENSE_DATA_PROTECT);
    expect(r.stderr).toContain('DATA PROTECT');
  });
});

describe('raw', () => {
  it('INQUIRY with --in: status, data moved, residue and a hexdump', async () => {
    const r = await run(['--device', 'sim', 'raw', '12', '00', '00', '00', '24', '00', '--in', '36']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CDB:\s+12 00 00 00 24 00 {2}\(INQUIRY\)$/m);
    expect(r.stdout).toMatch(/^Status:\s+GOOD \(0x00\)$/m);
    expect(r.stdout).toMatch(/^Data:\s+36 of 36 bytes in, residue 0$/m);
    expect(r.stdout).toMatch(/^00000000 {2}00 00 .* \|.*$/m);
    expect(r.stdout).toContain('|SIMULATED DISK  |');
    const doc = json(await run(['--device', 'sim', '--json', 'raw', '120000002400', '--in', '36']));
    expect(doc).toMatchObject({
      cdb: '12 00 00 00 24 00',
      command: 'INQUIRY',
      status: 0,
      statusName: 'GOOD',
      sense: null,
      transferred: 36,
      residue: 0,
    });
    expect(Buffer.from(doc['data'], 'hex').subarray(8, 15).toString()).toBe('USBSCSI');
  });

  it('an unknown opcode is ILLEGAL REQUEST: decoded sense, exit 24', async () => {
    // FFh is vendor-specific, so it needs --yes (only the vendor knows what it changes).
    const r = await run(['--device', 'sim', 'raw', 'ff', '00', '00', '00', '00', '00', '--yes']);
    expect(r.code).toBe(ExitCode.SENSE_ILLEGAL_REQUEST);
    expect(r.stdout).toMatch(/^Status:\s+CHECK CONDITION \(0x02\)$/m);
    expect(r.stdout).toMatch(/^Sense:\s+ILLEGAL REQUEST: INVALID COMMAND OPERATION CODE \(asc 0x20, ascq 0x00/m);
    const doc = json(await run(['--device', 'sim', '--json', 'raw', 'ff 00 00 00 00 00', '--yes']));
    expect(doc['sense']).toMatchObject({ senseKey: 5, senseKeyName: 'ILLEGAL REQUEST', asc: 0x20, ascq: 0 });
  });

  it('each sense key has its exit status (vendor handler returning that sense)', async () => {
    const table: [number, number][] = [
      [0x2, ExitCode.SENSE_NOT_READY],
      [0x3, ExitCode.SENSE_MEDIUM_ERROR],
      [0x4, ExitCode.SENSE_HARDWARE_ERROR],
      [0x5, ExitCode.SENSE_ILLEGAL_REQUEST],
      [0x6, ExitCode.SENSE_UNIT_ATTENTION],
      [0x7, ExitCode.SENSE_DATA_PROTECT],
      [0xb, ExitCode.SENSE_ABORTED_COMMAND],
      [0xe, ExitCode.SENSE_OTHER],
      [0x1, ExitCode.SENSE_OTHER],
    ];
    for (const [key, code] of table) {
      const deps = simWith((d) => d.onCommand(0xc0, () => ({ sense: { key, asc: 0x44, ascq: 0x00 } })));
      const r = await run(['--device', 'sim', 'raw', 'c0', '00', '00', '00', '00', '00', '--yes'], { deps });
      expect(r.code, `sense key ${key}`).toBe(code);
    }
    // BOT's CSW carries only passed/failed/phase error, so a BUSY status reaches the host as a
    // failed command; a non-GOOD status without CHECK CONDITION only exists over SG_IO.
    expect(exitCodeForStatus(0x08, undefined)).toBe(ExitCode.SCSI_STATUS);
    expect(exitCodeForStatus(0x18, undefined)).toBe(ExitCode.SCSI_STATUS);
    expect(exitCodeForStatus(0x04, undefined)).toBe(ExitCode.OK);
    expect(
      exitCodeFor(
        new CheckConditionError(
          { status: 0x08, data: new Uint8Array(0), transferred: 0, residue: 0, durationNs: 0 },
          undefined,
          Uint8Array.of(0, 0, 0, 0, 0, 0),
        ),
      ),
    ).toBe(ExitCode.SCSI_STATUS);
  });

  it('vendor data-out from a file reaches the device; data-in saved with -o', async () => {
    let received: Buffer | undefined;
    const deps = simWith((d) => {
      d.onCommand(0xc1, (ctx) => void (received = Buffer.from(ctx.dataOut)));
      d.onCommand(0xc2, () => Uint8Array.from([1, 2, 3, 4, 5]));
    });
    const payload = join(tmp, 'payload.bin');
    writeFileSync(payload, Buffer.from('vendor payload'));
    // A vendor opcode that sends data may change the medium or firmware: core wants consent.
    const refused = await run(['--device', 'sim', 'raw', 'c1 00 00 00 0e 00', '--out', payload], { deps });
    expect(refused.code).toBe(ExitCode.USAGE);
    expect(refused.stderr).toContain('--yes');
    expect(received).toBeUndefined();
    const out = await run(['--device', 'sim', 'raw', 'c1 00 00 00 0e 00', '--out', payload, '--yes'], { deps });
    expect(out.code).toBe(0);
    expect(received?.toString()).toBe('vendor payload');
    const saved = join(tmp, 'in.bin');
    // Vendor opcodes need consent whatever their direction: a "read" may change anything.
    const unconsented = await run(['--device', 'sim', 'raw', 'c2 00 00 00 10 00', '--in', '16'], { deps });
    expect(unconsented.code).toBe(ExitCode.USAGE);
    expect(unconsented.stderr).toContain('vendor-specific');
    expect(deps.devices).toHaveLength(1); // only the --yes run above opened it: the refusal comes first
    const inn = await run(['--device', 'sim', 'raw', 'c2 00 00 00 10 00', '--in', '16', '-o', saved, '--yes'], {
      deps,
    });
    expect(inn.code).toBe(0);
    expect(inn.stdout).toMatch(/^Data:\s+5 of 16 bytes in, residue 11$/m);
    expect([...readFileSync(saved)]).toEqual([1, 2, 3, 4, 5]);
  });

  it('bad CDBs and lengths: exit 2, one line saying what to do, no stack', async () => {
    const cases: [string[], string][] = [
      [['raw', 'zz', '00'], 'is not hexadecimal'],
      [['raw', '120'], 'odd number of hex digits'],
      [['raw', '12', '00', '00'], 'a CDB is 6, 10, 12 or 16 bytes; got 3'],
      [['raw', '12 00 00 00 24 00', '--in', '-5'], '--in needs a size'],
      [['raw', '12 00 00 00 24 00', '--in', '99999999999'], '--in must be between 0 and'],
      [['raw', '12 00 00 00 24 00', '--out', '/nonexistent/file'], 'cannot read /nonexistent/file'],
      [['raw', '12 00 00 00 24 00', '--in', '36', '--out', '/etc/hostname'], 'not both'],
      [['raw', '2a 00 00 00 00 00 00 00 01 00', '--out', '/etc/hostname'], '--yes'],
    ];
    for (const [args, message] of cases) {
      const r = await run(['--device', 'sim', ...args]);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const any = await run(['--device', 'sim', 'raw', '00 00 00', '--any-length']);
    expect(any.code).not.toBe(ExitCode.USAGE);
  });
});

describe('smart, reset, bench, handoff', () => {
  it('smart prints IDENTIFY and the attribute table; --json has the attributes', async () => {
    const r = await run(['--device', 'sim', 'smart']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Model:\s+\S/m);
    expect(r.stdout).toMatch(/^\s*ID\s+ATTRIBUTE\s+FLAGS\s+VALUE\s+WORST\s+THRESH\s+TYPE\s+RAW$/m);
    const doc = json(await run(['--device', 'sim', '--json', 'smart']));
    expect(doc['health']).toMatch(/passed|failing|unknown/);
    expect(doc['attributes'].length).toBeGreaterThan(0);
    expect(doc['attributes'][0]).toMatchObject({
      id: expect.any(Number),
      name: expect.any(String),
      raw: expect.any(String),
    });
  });

  it('smart --bridge sat on a device without SAT says so and exits 24 (ILLEGAL REQUEST)', async () => {
    const r = await run(['--device', 'sim', 'smart', '--bridge', 'sat'], { deps: simWith(() => {}, { ata: false }) });
    expect(r.code).toBe(ExitCode.SENSE_ILLEGAL_REQUEST);
    expect(r.stderr).toContain('does not pass ATA commands through');
  });

  it('smart (auto) on a device with neither SAT nor an NVMe bridge lists what it tried and exits 10', async () => {
    const r = await run(['--device', 'sim', 'smart'], { deps: simWith(() => {}, { ata: false }) });
    expect(r.code).toBe(ExitCode.UNSUPPORTED);
    expect(r.stderr).toMatch(
      /SAT ATA IDENTIFY DEVICE: .*Realtek E4h Identify: .*JMicron A1h Identify: .*ASMedia E6h Identify: /,
    );
  });

  it('reset runs BOT reset recovery; --port resets the port', async () => {
    const deps = simWith(() => {});
    let backend: unknown;
    const shared = { simBackend: async (spec: string) => (backend ??= await deps.simBackend!(spec)) as never };
    const bot = await run(['--device', 'sim', '--json', 'reset'], { deps: shared });
    expect(bot.code).toBe(0);
    expect(json(bot)).toMatchObject({ reset: 'bot' });
    const device = deps.devices[0]!;
    const before = device.generation;
    const port = await run(['--device', 'sim', 'reset', '--port'], { deps: shared });
    expect(port.code).toBe(0);
    expect(port.stdout).toContain('Port reset done');
    expect(device.generation).toBeGreaterThan(before);
  });

  it('bench reports MB/s and TUR p50/p99', async () => {
    const doc = json(await run(['--device', 'sim', '--json', 'bench', '--size', '1M', '--tur', '20']));
    expect(doc['read']).toMatchObject({ bytes: 1024 * 1024 });
    expect(doc['read'].mbPerSec).toBeGreaterThan(0);
    expect(doc['tur']).toMatchObject({ count: 20 });
    expect(doc['tur'].p99Us).toBeGreaterThanOrEqual(doc['tur'].p50Us);
    const human = await run(['--device', 'sim', 'bench', '--size', '256k', '--tur', '5']);
    expect(human.stdout).toMatch(/^Sequential read:\s+[\d.]+ MB\/s/m);
    expect(human.stdout).toMatch(/^TUR latency:\s+p50 \d+ µs, p99 \d+ µs/m);
  });

  it('handoff status on an empty journal; release needs --device; unknown device is exit 3', async () => {
    const env = { USBSCSI_LEASE_JOURNAL: join(tmp, 'leases.json') };
    const status = await run(['handoff', 'status'], { env });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('No leases');
    expect(json(await run(['--json', 'handoff', 'status'], { env }))).toMatchObject({ leases: [] });
    expect((await run(['handoff', 'release'], { env })).code).toBe(ExitCode.USAGE);
    const none = await run(['--device', '1234:5678', 'handoff', 'release'], { env });
    expect(none.code).toBe(ExitCode.NOT_FOUND);
    const recover = await run(['--json', 'handoff', 'recover'], { env });
    expect(recover.code).toBe(0);
    expect(json(recover)).toMatchObject({ recovered: [], held: [], failed: [] });
  });
});

describe('exit statuses for failures', () => {
  it('transport faults: timeout 8, device gone 7, phase error 9', async () => {
    const timeout = await run(['--device', 'sim', '--timeout', '300', 'raw', '00 00 00 00 00 00'], {
      deps: simWith((d) => d.faults.inject({ kind: 'no-response', phase: 'csw', opcode: 0x00 })),
    });
    expect(timeout.code).toBe(ExitCode.TIMEOUT);
    const readTimeout = await run(['--device', 'sim', '--timeout', '300', 'read', '--lba', '0', '--blocks', '1'], {
      deps: simWith((d) => d.faults.inject({ kind: 'no-response', phase: 'data', opcode: 0x28 })),
    });
    expect(readTimeout.code).toBe(ExitCode.TIMEOUT);
    const gone = await run(['--device', 'sim', 'tur'], {
      deps: simWith((d) => d.faults.inject({ kind: 'disconnect', opcode: 0x00 })),
    });
    expect(gone.code).toBe(ExitCode.DEVICE_GONE);
    const phase = await run(['--device', 'sim', 'tur'], {
      deps: simWith((d) => d.faults.inject({ kind: 'phase-error', opcode: 0x00 })),
    });
    expect(phase.code).toBe(ExitCode.TRANSPORT);
  });

  it('busy 5, permission 4, mounted 6 (as the OS reports them at open)', async () => {
    expect(
      (await run(['--device', 'sim', 'tur'], { deps: failingOpen('E_BUSY', 'interface claimed by pid 42') })).code,
    ).toBe(ExitCode.BUSY);
    expect((await run(['--device', 'sim', 'tur'], { deps: failingOpen('E_PERMISSION', 'add a udev rule') })).code).toBe(
      ExitCode.PERMISSION,
    );
    const mounted = await run(['--device', 'sim', '--json', 'tur'], {
      deps: failingOpen('E_MOUNTED', 'unmount /media/x first'),
    });
    expect(mounted.code).toBe(ExitCode.MOUNTED);
    expect(json(mounted)).toEqual({ error: { code: 'E_MOUNTED', message: 'unmount /media/x first', details: {} } });
  });

  it('not found and ambiguous are exit 3; ambiguous lists the candidates', async () => {
    const none = await run(['--device', 'sim', 'inquiry'], { deps: noDevices });
    expect(none.code).toBe(ExitCode.NOT_FOUND);
    const two = await run(['--device', 'sim', 'inquiry'], { deps: twoIdentical });
    expect(two.code).toBe(ExitCode.NOT_FOUND);
    expect(two.stderr).toMatch(/candidate: .*A1/);
    expect(two.stderr).toMatch(/candidate: .*B2/);
  });

  it('usage: unknown command/option, bad selector, unknown sim option, bad --lun/--timeout are exit 2', async () => {
    const cases: [string[], string][] = [
      [['--device', 'sim', 'frobnicate'], "unknown command 'frobnicate'"],
      [['--device', 'sim', '--bogus', 'tur'], "unknown option '--bogus'"],
      [['--device', 'zz:yy', 'tur'], 'cannot read device selector'],
      [['--device', 'sim:bogus=1', 'tur'], 'unknown sim option "bogus"'],
      [['--device', 'sim', '--lun', 'x', 'tur'], '--lun needs a non-negative integer'],
      [['--device', 'sim', '--lun', '3', 'tur'], 'LUN 3 does not exist'],
      [['--device', 'sim', '--timeout', '0', 'tur'], '--timeout must be between 1'],
      [['--device', 'sim', '--backend', 'sg', 'tur'], 'does not apply to the simulated device'],
      [['--device', 'sim', '--backend', 'pigeon', 'tur'], "argument 'pigeon' is invalid"],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const j = await run(['--json', '--device', 'sim', 'frobnicate']);
    expect(json(j)['error']).toMatchObject({ code: 'E_USAGE' });
  });

  it('--via with no daemon listening says how to start it; a bad --via is exit 2', async () => {
    const r = await run(['--via', 'unix:/tmp/usbscsi-no-daemon.sock', 'tur']);
    expect(r.code).toBe(ExitCode.TRANSPORT);
    expect(r.stderr).toContain('no usbscsid listens at unix:/tmp/usbscsi-no-daemon.sock');
    const env = await run(['tur'], { env: { USBSCSI_VIA: 'unix:/tmp/usbscsi-no-daemon.sock' } });
    expect(env.code).toBe(ExitCode.TRANSPORT);
    const bad = await run(['--via', 'carrier-pigeon', 'tur']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain('cannot read --via');
    const traced = await run(['--via', 'unix:/tmp/x.sock', '--trace', '/tmp/x.pcapng', 'tur']);
    expect(traced.code).toBe(ExitCode.UNSUPPORTED);
  });

  it('--version prints the package version, exit 0, and --help lists it', async () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${manifest.version}\n`);
      expect(r.stderr).toBe('');
    }
    expect((await run(['--help'])).stdout).toMatch(/^ {2}-V, --version +print the version of usbscsi$/m);
  });

  it('--help lists the commands and the exit status table', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of [
      'list',
      'info',
      'inquiry',
      'tur',
      'sense',
      'capacity',
      'read',
      'write',
      'raw',
      'smart',
      'nvme',
      'reset',
      'handoff',
      'bench',
    ])
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(r.stdout).toMatch(/^\s+21 {2}CHECK CONDITION: NOT READY$/m);
    expect(r.stdout).toMatch(/^\s+8 {2}command timed out$/m);
  });

  it('--verbose adds a stack trace only for unexpected failures; --quiet silences human output', async () => {
    const deps = {
      simBackend: () => {
        throw new TypeError('backend exploded');
      },
    };
    const plain = await run(['--device', 'sim', 'tur'], { deps });
    expect(plain.code).toBe(ExitCode.FAILURE);
    expect(plain.stderr).toBe(
      'usbscsi: unexpected failure: backend exploded (run with --verbose for the stack trace)\n',
    );
    const verbose = await run(['--device', 'sim', '--verbose', 'tur'], { deps });
    expect(verbose.stderr).toMatch(/TypeError: backend exploded\n\s+at /);
    const q = await run(['--device', 'sim', '--quiet', 'capacity']);
    expect(q.code).toBe(0);
    expect(q.stdout).toBe('');
  });

  it(
    '--verbose prints one stderr line per BOT event (the reset recovery at open); without ' + 'it there are none',
    async () => {
      const verbose = await run(['--device', 'sim', '--verbose', '--json', 'tur']);
      expect(verbose.code).toBe(0);
      expect(verbose.stderr).toMatch(/^usbscsi: bot: reset recovery \(open: .*\)$/m);
      expect(() => JSON.parse(verbose.stdout)).not.toThrow(); // stdout stays one document
      const plain = await run(['--device', 'sim', 'tur']);
      expect(plain.stderr).not.toMatch(/usbscsi: bot:/);
    },
  );
});
