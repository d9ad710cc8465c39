/**
 * `usbscsi doctor`, run as the built binary (the engine is chosen once per process): which
 * engine is in use, where from, the libusb inside, and why each earlier choice was passed over.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cliMain = fileURLToPath(new URL('../dist/main.js', import.meta.url));

function doctor(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [cliMain, 'doctor', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Doc {
  engine: string;
  from?: string;
  path?: string;
  libusbVersion?: string;
  note?: string;
  choices: { choice: string; status: string; path?: string; reason?: string }[];
}

describe('usbscsi doctor', () => {
  it(
    '--json: the engine in use, loaded from an existing file, and every choice in order ' +
      'with a reason for each one passed over',
    () => {
      const r = doctor(['--json'], { USBSCSI_NATIVE_BINARY: undefined });
      const doc = JSON.parse(r.stdout) as Doc;
      expect(['native', 'node-usb', 'none']).toContain(doc.engine);
      // Every field present, null when unknown (the --json contract).
      expect(Object.keys(doc).sort()).toEqual([
        'arch',
        'choices',
        'engine',
        'from',
        'libusbVersion',
        'node',
        'note',
        'path',
        'platform',
      ]);
      for (const c of doc.choices)
        expect(Object.keys(c).sort()).toEqual(['choice', 'path', 'reason', 'status', 'target']);
      expect(r.code).toBe(doc.engine === 'none' ? 10 : 0);
      // A source build newer than the prebuild goes first, and the note says so (a development checkout).
      expect(doc.choices.map((c) => c.choice)).toEqual(
        doc.note ? ['source', 'prebuild', 'node-usb'] : ['prebuild', 'source', 'node-usb'],
      );
      expect(doc.choices.at(-1)?.choice).toBe('node-usb');
      const loaded = doc.choices.filter((c) => c.status === 'loaded');
      expect(loaded).toHaveLength(doc.engine === 'none' ? 0 : 1);
      for (const c of doc.choices.slice(0, doc.choices.indexOf(loaded[0]!)))
        expect(c.reason, `${c.choice} passed over without a reason`).toBeTruthy();
      if (doc.engine === 'native') {
        expect(['prebuild', 'source']).toContain(doc.from);
        expect(existsSync(doc.path!)).toBe(true);
        expect(doc.libusbVersion).toMatch(/^1\.\d+\.\d+/);
      }
    },
  );

  it(
    'names the override when USBSCSI_NATIVE_BINARY points nowhere, falls to node-usb, ' +
      'and exits 10: the explicit choice failed',
    () => {
      const r = doctor(['--json'], { USBSCSI_NATIVE_BINARY: '/nonexistent/usbscsi_native.node' });
      const doc = JSON.parse(r.stdout) as Doc;
      expect(doc.choices[0]).toMatchObject({
        choice: 'override',
        status: 'unavailable',
        reason: expect.stringContaining('/nonexistent/usbscsi_native.node, which does not exist'),
      });
      expect(doc.engine).not.toBe('native');
      expect(doc.choices.at(-1)).toMatchObject({
        choice: 'node-usb',
        status: doc.engine === 'node-usb' ? 'loaded' : 'failed',
      });
      expect(r.code).toBe(10);
    },
  );

  it('says first that USBSCSI_NATIVE_BINARY failed and why, for a script as for a missing file, and exits 10', () => {
    const r = doctor([], { USBSCSI_NATIVE_BINARY: '/nonexistent/engine.js' });
    expect(r.stdout).toMatch(
      new RegExp(
        /^USBSCSI_NATIVE_BINARY failed: /.source +
          /USBSCSI_NATIVE_BINARY names \/nonexistent\/engine\.js, which is not a \.node file/.source,
      ),
    );
    expect(r.stdout).toMatch(/^ {2}1\. USBSCSI_NATIVE_BINARY: unavailable /m);
    expect(r.code).toBe(10);
  });

  it('human output: the engine line, where from, and the numbered choices', () => {
    const r = doctor([], { USBSCSI_NATIVE_BINARY: undefined });
    expect(r.stdout).toMatch(
      /^engine: (native \((prebuilt native engine|native engine built from source)\)|node-usb|none)/,
    );
    expect(r.stdout).toMatch(/^choices, in order:\n {2}1\. /m);
    expect(r.stdout).toMatch(/node-usb \(the `usb` package\): /);
  });
});
