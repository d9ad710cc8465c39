import { describe, expect, it } from 'vitest';
import { json, run } from './helpers.js';

// --transport: commander choices, checked before any device is opened; auto and uas on the emulator.
describe('usbscsi --transport', () => {
  it('a value outside auto|bot|uas|sg is exit 2 before any device is opened', async () => {
    const r = await run(['--device', 'sim:uas=only', '--transport', 'usb', 'inquiry']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are auto, bot, uas, sg/);
  });

  it('--backend sg with --transport uas is exit 2 (SG_IO cannot carry UAS), nothing opened', async () => {
    const r = await run(['--backend', 'sg', '--transport', 'uas', 'inquiry']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--backend sg .* cannot carry --transport uas/);
  });

  it('--transport sg with --trace is refused before opening (no USB transfers to record)', async () => {
    const r = await run(['--transport', 'sg', '--trace', '/tmp/never.pcapng', 'inquiry']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--trace records USB transfers/);
  });

  it('a UAS-only device: --transport uas and auto read it (--verbose says which); bot is refused', async () => {
    const uas = await run(['--device', 'sim:uas=only,speed=super', '--transport', 'uas', '--verbose', 'inquiry']);
    expect(uas.code).toBe(0);
    expect(uas.stdout).toMatch(/SIMULATED DISK/);
    expect(uas.stderr).toMatch(/usbscsi: uas: 16 bulk streams/);
    expect(uas.stderr).toMatch(/usbscsi: transport: uas \(backend emulator\)/);
    const auto = await run(['--device', 'sim:uas=only', '--json', 'info']);
    expect(auto.code).toBe(0);
    expect(json(auto)['device']['transport']).toBe('uas');
    const bot = await run(['--device', 'sim:uas=only', '--transport', 'bot', 'inquiry']);
    expect(bot.code).toBe(10);
    expect(bot.stderr).toMatch(/--transport uas/);
  });

  it('a bridge with BOT and UAS: auto takes UAS, --transport bot keeps BOT; the data read is the same', async () => {
    const viaUas = await run(['--device', 'sim:uas=1', '--json', 'info']);
    expect(json(viaUas)['device']['transport']).toBe('uas');
    const viaBot = await run(['--device', 'sim:uas=1', '--transport', 'bot', '--json', 'info']);
    expect(json(viaBot)['device']['transport']).toBe('bot');
    const a = await run(['--device', 'sim:uas=1', 'read', '--lba', '0', '--blocks', '4', '-o', '-']);
    const b = await run([
      '--device',
      'sim:uas=1',
      '--transport',
      'bot',
      'read',
      '--lba',
      '0',
      '--blocks',
      '4',
      '-o',
      '-',
    ]);
    expect(a.code).toBe(0);
    expect(a.stdoutBytes.length).toBe(2048);
    expect(a.stdoutBytes.equals(b.stdoutBytes)).toBe(true);
  });
});
