import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { program } from '../src/cli.js';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');

describe('deploy files', () => {
  const known = new Set(program.options.map((o) => o.long));

  it('the systemd unit starts the built daemon with options it has, and drains on SIGTERM', () => {
    const unit = read('../deploy/usbscsid.service');
    // The command line may go on over lines that end in a backslash.
    const exec = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit)![1]!.replace(/\\\n\s*/g, ' ');
    expect(exec).toContain('--log-level info');
    expect(exec).toMatch(/apps\/daemon\/dist\/main\.js/);
    for (const flag of exec.match(/--[a-z-]+/g)!) expect(known, flag).toContain(flag);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^Group=usbscsi$/m);
    expect(unit).not.toMatch(/^(PrivateTmp|ProtectSystem|ProtectHome)=/m);
  });

  it('the launchd plist starts the built daemon with options it has', () => {
    const plist = read('../deploy/com.usbscsi.usbscsid.plist');
    expect(plist).toContain('<string>com.usbscsi.usbscsid</string>');
    const args = [...plist.matchAll(/<string>(--[a-z-]+)<\/string>/g)].map((m) => m[1]!);
    expect(args.length).toBeGreaterThan(1);
    for (const flag of args) expect(known, flag).toContain(flag);
    expect(plist).toMatch(/apps\/daemon\/dist\/main\.js/);
  });
});
