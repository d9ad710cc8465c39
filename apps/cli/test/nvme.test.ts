/**
 * `smart` and `nvme` on the emulated USB-NVMe bridges: the right protocol found without being
 * told, smartctl-style JSON, consent for self-tests and raw writes, bad input before any device.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '@usbscsi/core';
import { EXIT_CODE_HELP, ExitCode, exitCodeFor } from '../src/exit-codes.js';
import { json, run } from './helpers.js';
import { simWith } from './sim-fixtures.js';

describe('usbscsi smart on each emulated bridge: NVMe health through the right protocol, untold', () => {
  it.each([
    ['jms583', 'JMicron A1h', 'jmicron', [0xa1]],
    ['asm2362', 'ASMedia E6h + EAh/EBh', 'asmedia', [0xe6]],
    ['rtl9210', 'Realtek E4h + E4h/E5h', 'realtek', [0xe4]],
  ] as const)('%s: %s', async (bridge, protocol, kind, opcodes) => {
    const deps = simWith(() => {});
    const r = await run(['--device', `sim:bridge=${bridge}`, 'smart'], { deps });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^Path:\\s+NVMe through ${protocol.replace(/[+/]/g, '\\$&')} \\(VID:PID table`, 'm'),
    );
    expect(r.stdout).toMatch(/^Model Number:\s+USBSCSI SIMULATED NVMe SSD 1TB$/m);
    expect(r.stdout).toMatch(/^Temperature:\s+38 Celsius$/m);
    expect(r.stdout).toMatch(/^Power On Hours:\s+1873$/m);
    expect(r.stdout).toMatch(/^Health:\s+PASSED$/m);
    const vendor = deps.devices[0]!.stats.history.map((h) => h.opcode).filter((o) => o >= 0xc0 || o === 0xa1);
    expect(new Set(vendor)).toEqual(new Set(opcodes));
    const doc = json(await run(['--device', `sim:bridge=${bridge}`, '--json', 'smart']));
    expect(doc).toMatchObject({
      path: 'nvme',
      detection: { path: 'nvme', via: 'table', bridge: kind, protocol },
      model_name: 'USBSCSI SIMULATED NVMe SSD 1TB',
      smart_status: { passed: true, nvme: { value: 0 } },
      temperature: { current: 38 },
      power_on_time: { hours: 1873 },
      nvme_smart_health_information_log: {
        critical_warning: 0,
        temperature: 38,
        available_spare: 100,
        available_spare_threshold: 10,
        percentage_used: 3,
        data_units_read: 23456789,
        data_units_written: 19876543,
        host_reads: 345678901,
        host_writes: 298765432,
        controller_busy_time: 1234,
        power_cycles: 412,
        power_on_hours: 1873,
        unsafe_shutdowns: 37,
        media_errors: 0,
        num_err_log_entries: 2,
      },
    });
  });

  it('rtl9220 with a SATA drive: SAT, and it says so', async () => {
    const r = await run(['--device', 'sim:bridge=rtl9220', 'smart']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Path:\s+SAT \(ATA PASS-THROUGH\), VID:PID table/m);
    expect(r.stdout).toMatch(/^\s*ID\s+ATTRIBUTE/m);
    const doc = json(await run(['--device', 'sim:bridge=rtl9220', '--json', 'smart']));
    expect(doc).toMatchObject({ path: 'sat', detection: { path: 'sat' }, health: 'passed' });
    expect(doc['detection'].steps.join('\n')).toMatch(/came back empty/);
  });

  it('ex400u: auto refuses to send E6h to the UAS-capable device and says how to force it (exit 10)', async () => {
    const r = await run(['--device', 'sim:bridge=ex400u', 'smart']);
    expect(r.code).toBe(ExitCode.UNSUPPORTED);
    expect(r.stderr).toMatch(/smartmontools #490.*--bridge asmedia/);
  });

  it('--bridge forces a protocol; an unknown one is refused before opening the device', async () => {
    const forced = json(
      await run(['--device', 'sim:bridge=rtl9210,vid=1234,pid=5678', '--json', 'smart', '--bridge', 'realtek']),
    );
    expect(forced['detection']).toMatchObject({ via: 'forced', bridge: 'realtek' });
    const deps = simWith(() => {});
    const bad = await run(['--device', 'sim:bridge=rtl9210', 'smart', '--bridge', 'sandisk'], { deps });
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(deps.devices).toHaveLength(0);
  });
});

describe('usbscsi nvme', () => {
  it('identify (with a namespace) and smart-log, human and --json', async () => {
    const id = await run(['--device', 'sim:bridge=asm2362', 'nvme', 'identify', '--namespace', '1']);
    expect(id.code).toBe(0);
    expect(id.stdout).toMatch(/^Serial Number:\s+SIMNVME0000000000001$/m);
    expect(id.stdout).toMatch(/^Namespace 1:\s+1953525168 blocks of 512 bytes/m);
    const doc = json(await run(['--device', 'sim:bridge=asm2362', '--json', 'nvme', 'identify', '--namespace', '1']));
    expect(doc).toMatchObject({
      firmware_version: '2B2QGXA7',
      nvme_version: { string: '1.4' },
      nvme_pci_vendor: { id: 0x1e4b },
      nvme_namespaces: [{ id: 1, formatted_lba_size: 512 }],
    });
    const log = json(await run(['--device', 'sim:bridge=rtl9210', '--json', 'nvme', 'smart-log']));
    expect(log['nvme_smart_health_information_log']).toMatchObject({ unsafe_shutdowns: 37 });
  });

  it(
    'error-log and the self-test log; on the JMS583 the self-test log read is capped ' + 'and the device stays',
    async () => {
      const deps = simWith(() => {});
      const err = json(await run(['--device', 'sim:bridge=jms583', '--json', 'nvme', 'error-log'], { deps }));
      expect(err['nvme_error_information_log']).toMatchObject({
        read: 8,
        capped: true,
        table: [{ error_count: 2, status_field: { status_code: 2 } }, { error_count: 1 }],
      });
      const st = await run(['--device', 'sim:bridge=jms583', 'nvme', 'self-test'], { deps });
      expect(st.code).toBe(0);
      expect(st.stdout).toMatch(/19 of 20 results read: a longer reply resets the JMS583 USB port/);
      expect(st.stdout).toMatch(/Short\s+Completed without error/);
      expect(deps.devices.every((d) => d.connected && d.nvme!.hazards.length === 0)).toBe(true);
    },
  );

  it(
    'self-test short needs --yes (exit 2, device never opened); with it the test starts ' + 'and shows in the log',
    async () => {
      const deps = simWith(() => {});
      const no = await run(['--device', 'sim:bridge=rtl9210', 'nvme', 'self-test', 'short'], { deps });
      expect(no.code).toBe(ExitCode.USAGE);
      expect(deps.devices).toHaveLength(0);
      let device: unknown;
      const shared = { simBackend: async (spec: string) => (device ??= await deps.simBackend!(spec)) as never };
      const yes = await run(['--device', 'sim:bridge=rtl9210', 'nvme', 'self-test', 'short', '--yes'], {
        deps: shared,
      });
      expect(yes.code).toBe(0);
      const log = json(await run(['--device', 'sim:bridge=rtl9210', '--json', 'nvme', 'self-test'], { deps: shared }));
      expect(log['nvme_self_test_log']).toMatchObject({
        current_self_test_operation: { value: 1 },
        current_self_test_completion_percent: 50,
      });
    },
  );

  it('log --page N reads any page raw; admin sends read-only commands without --yes and refuses others', async () => {
    const page = json(
      await run(['--device', 'sim:bridge=asm2362', '--json', 'nvme', 'log', '--page', '0x02', '--length', '512']),
    );
    expect(page).toMatchObject({ page: 2, read: 512, capped: false });
    expect(page['data'].slice(2, 6)).toBe('3701'); // composite temperature 311 K, little-endian at bytes 1-2
    const admin = json(
      await run(['--device', 'sim:bridge=asm2362', '--json', 'nvme', 'admin', '0x0a', '--cdw10', '0x04']),
    );
    expect(admin).toMatchObject({ command: 'Get Features', completion: { status: 0, dw0: 343 } });
    const deps = simWith(() => {});
    const refused = await run(
      ['--device', 'sim:bridge=asm2362', 'nvme', 'admin', '0x09', '--cdw10', '0x06', '--cdw11', '0'],
      { deps },
    );
    expect(refused.code).toBe(ExitCode.USAGE);
    expect(refused.stderr).toMatch(/Set Features.*--yes/);
    expect(deps.devices).toHaveLength(0);
    const vendor = await run(['--device', 'sim:bridge=asm2362', 'nvme', 'admin', '0xc5'], { deps });
    expect(vendor.code).toBe(ExitCode.USAGE);
    const failed = await run(['--device', 'sim:bridge=jms583', 'nvme', 'admin', '0x0a', '--cdw10', '0x7f']);
    expect(failed.code).toBe(ExitCode.NVME_STATUS);
    expect(failed.stdout).toMatch(/Invalid Field in Command/);
  });

  it.each([
    ['NUMDL in CDW10', ['--cdw10', '0x03ff0002']],
    ['NUMDU in CDW11', ['--cdw10', '0x2', '--cdw11', '0x1']],
  ])(
    'JMS583: a raw Get Log Page whose %s asks for more than 0x230 bytes is refused before ' +
      'anything is sent (exit 10), whatever --in says',
    async (_label, dwords) => {
      const deps = simWith(() => {});
      const r = await run(['--device', 'sim:bridge=jms583', 'nvme', 'admin', '0x02', ...dwords, '--in', '512'], {
        deps,
      });
      expect(r.code).toBe(ExitCode.UNSUPPORTED);
      expect(r.stderr).toMatch(
        new RegExp(
          /(reads at most 0x230 bytes of a log page|moves at most 65536 bytes)/.source +
            /.*asks the drive for \d+ bytes.*nothing was sent/.source,
        ),
      );
      const [device] = deps.devices;
      expect(device!.connected).toBe(true);
      expect(device!.nvme!.hazards).toEqual([]);
      // Only detection's Identify Controller went out (one A1h command block): not the log read.
      expect(device!.stats.history.filter((h) => h.opcode === 0xa1 && h.cdb[1] === 0x80)).toHaveLength(1);
      const within = json(
        await run([
          '--device',
          'sim:bridge=jms583',
          '--json',
          'nvme',
          'admin',
          '0x02',
          '--cdw10',
          '0x007f0002',
          '--in',
          '512',
        ]),
      );
      expect(within).toMatchObject({ command: 'Get Log Page', completion: { status: 0 }, transferred: 512 });
    },
  );

  it(
    'an ASMedia bridge in the table with a UAS interface is not sent E6h unasked (exit ' +
      '10); --bridge asmedia still reaches it',
    async () => {
      const deps = simWith(() => {});
      const r = await run(['--device', 'sim:bridge=asm2362,uas', '--json', 'smart'], { deps });
      expect(r.code).toBe(ExitCode.UNSUPPORTED);
      expect(json(r)['error'].details.steps.join('\n')).toMatch(
        /not probing ASMedia E6h: the device has a UAS interface/,
      );
      expect(deps.devices[0]!.stats.history.map((h) => h.opcode)).not.toContain(0xe6);
      const nvme = await run(['--device', 'sim:bridge=asm2362,uas', 'nvme', 'smart-log'], { deps });
      expect(nvme.code).toBe(ExitCode.UNSUPPORTED);
      expect(deps.devices[1]!.stats.history.map((h) => h.opcode)).not.toContain(0xe6);
      const forced = json(await run(['--device', 'sim:bridge=asm2362,uas', '--json', 'smart', '--bridge', 'asmedia']));
      expect(forced).toMatchObject({
        path: 'nvme',
        detection: { via: 'forced', bridge: 'asmedia' },
        smart_status: { passed: true },
      });
    },
  );

  it('self-test --json has every documented key, null where the log gives no value', async () => {
    const doc = json(await run(['--device', 'sim:bridge=rtl9210', '--json', 'nvme', 'self-test']));
    const log = doc['nvme_self_test_log'];
    expect(log).toHaveProperty('current_self_test_completion_percent', null);
    expect(log.table.length).toBeGreaterThan(0);
    for (const row of log.table) {
      for (const key of [
        'self_test_code',
        'self_test_result',
        'power_on_hours',
        'segment',
        'nsid',
        'lba',
        'status_code_type',
        'status_code',
      ])
        expect(row).toHaveProperty(key);
      for (const value of Object.values(row)) expect(value).not.toBeUndefined();
    }
  });

  it('E_NVME_STATUS has its own exit status (29), listed in --help', () => {
    expect(ExitCode.NVME_STATUS).toBe(29);
    expect(exitCodeFor(new UsbScsiError(ErrorCodes.NVME_STATUS, 'NVMe Get Features failed'))).toBe(
      ExitCode.NVME_STATUS,
    );
    expect(EXIT_CODE_HELP.find(([code]) => code === 29)?.[1]).toMatch(/NVMe/);
  });

  it('on a SATA drive, nvme says to use smart', async () => {
    const r = await run(['--device', 'sim:bridge=rtl9220', 'nvme', 'smart-log']);
    expect(r.code).toBe(ExitCode.UNSUPPORTED);
    expect(r.stderr).toMatch(/usbscsi smart/);
  });
});
