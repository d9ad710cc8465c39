// The loader's order (loader.js): USBSCSI_NATIVE_BINARY alone; else the prebuild for this
// platform, then the source build, the newer first when both exist; every pass-over has a reason.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const loader = require('../loader.js') as typeof import('../loader.js');
const built = fileURLToPath(new URL('../build/Release/usbscsi_native.node', import.meta.url));
const glibc = { name: 'glibc', version: '2.36' };
const target = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-glibc' : ''}`;

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function pkg(files: {
  prebuild?: string | Buffer;
  manifest?: object;
  source?: string | Buffer;
  skipReason?: string;
}): string {
  root = mkdtempSync(join(tmpdir(), 'usbscsi-loader-'));
  const put = (rel: string, data: string | Buffer) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  };
  if (files.prebuild !== undefined) put(`prebuilds/${target}/usbscsi_native.node`, files.prebuild);
  if (files.manifest) put(`prebuilds/${target}/manifest.json`, JSON.stringify(files.manifest));
  if (files.source !== undefined) put('build/Release/usbscsi_native.node', files.source);
  if (files.skipReason) put('build/skip-reason.txt', files.skipReason);
  return root;
}

const age = (file: string, secondsAgo: number) => {
  const t = Date.now() / 1000 - secondsAgo;
  utimesSync(file, t, t);
};

describe('native loader order', () => {
  it('no prebuilds at all: the prebuild is unavailable with the reason, the source build is next', () => {
    const { order } = loader.candidates(pkg({ source: 'x' }), {}, glibc);
    expect(order.map((c) => c.kind)).toEqual(['prebuild', 'source']);
    expect(order[0].skip).toMatch(/no prebuilds in this package/);
    expect(order[1].skip).toBeUndefined();
  });

  it('a prebuild for another platform only: says which targets the package has', () => {
    const r = pkg({});
    mkdirSync(join(r, 'prebuilds', 'os2-sparc'), { recursive: true });
    expect(loader.candidates(r, {}, glibc).order[0].skip).toBe(
      `no prebuild for ${target} (this package has: os2-sparc)`,
    );
  });

  it('the prebuild goes first when both exist and the source build is older', () => {
    const r = pkg({ prebuild: 'p', source: 's' });
    age(join(r, 'build/Release/usbscsi_native.node'), 60);
    const c = loader.candidates(r, {}, glibc);
    expect(c.order.map((x) => x.kind)).toEqual(['prebuild', 'source']);
    expect(c.note).toBeUndefined();
  });

  it('a source build newer than the prebuild goes first, and says so', () => {
    const r = pkg({ prebuild: 'p', source: 's' });
    age(join(r, `prebuilds/${target}/usbscsi_native.node`), 60);
    const c = loader.candidates(r, {}, glibc);
    expect(c.order.map((x) => x.kind)).toEqual(['source', 'prebuild']);
    expect(c.note).toMatch(/newer than the prebuild/);
  });

  it.runIf(process.platform === 'linux')(
    'a prebuild needing a newer glibc than this system has is passed over before loading',
    () => {
      const r = pkg({ prebuild: 'p', manifest: { glibcNeeded: '2.99' } });
      expect(loader.candidates(r, {}, glibc).order[0].skip).toBe('the prebuild needs glibc 2.99; this system has 2.36');
      expect(loader.candidates(r, {}, { name: 'glibc', version: '2.100' }).order[0].skip).toBeUndefined();
    },
  );

  it('USBSCSI_NATIVE_BINARY names the one binary tried', () => {
    const r = pkg({ prebuild: 'p', source: 's' });
    const { order } = loader.candidates(r, { USBSCSI_NATIVE_BINARY: join(r, 'nope.node') }, glibc);
    expect(order).toHaveLength(1);
    expect(order[0]).toMatchObject({ kind: 'override', skip: expect.stringMatching(/does not exist/) });
  });

  it('USBSCSI_NATIVE_BINARY loads only a compiled addon: a script, or a .node link to one, is never run', () => {
    const r = pkg({});
    const ran = join(r, 'ran');
    const script = join(r, 'evil.js');
    writeFileSync(
      script,
      `require('node:fs').writeFileSync(${JSON.stringify(ran)}, 'x'); module.exports = { platform: 'evil' };`,
    );
    const asScript = loader.loadFirst(r, { USBSCSI_NATIVE_BINARY: script });
    expect(asScript).toMatchObject({ ok: false, tried: [{ kind: 'override', status: 'unavailable' }] });
    expect(asScript.reason).toMatch(/USBSCSI_NATIVE_BINARY names .*evil\.js, which is not a \.node file/);
    symlinkSync(script, join(r, 'evil.node'));
    const linked = loader.loadFirst(r, { USBSCSI_NATIVE_BINARY: join(r, 'evil.node') });
    expect(linked).toMatchObject({ ok: false, tried: [{ kind: 'override', status: 'failed' }] });
    expect(linked.reason).toMatch(/USBSCSI_NATIVE_BINARY names .*evil\.node, which failed to load: /);
    expect(existsSync(ran)).toBe(false);
  });

  it.runIf(existsSync(built))(
    'a USBSCSI_NATIVE_BINARY that is missing or broken leaves the native engine unavailable, though ' +
      'a source build would load',
    () => {
      const r = pkg({});
      mkdirSync(join(r, 'build/Release'), { recursive: true });
      copyFileSync(built, join(r, 'build/Release/usbscsi_native.node'));
      writeFileSync(join(r, 'broken.node'), 'not an ELF or Mach-O file');
      for (const [file, status, why] of [
        ['missing.node', 'unavailable', /which does not exist/],
        ['broken.node', 'failed', /which failed to load: /],
      ] as const) {
        const loaded = loader.loadFirst(r, { USBSCSI_NATIVE_BINARY: join(r, file) });
        expect(loaded.ok).toBe(false);
        expect(loaded.tried).toEqual([
          { kind: 'override', path: join(r, file), status, reason: expect.stringMatching(why) },
        ]);
        expect(loaded.reason).toMatch(/^override: USBSCSI_NATIVE_BINARY names /);
      }
      // the same binary named by the variable loads
      expect(
        loader.loadFirst(r, { USBSCSI_NATIVE_BINARY: join(r, 'build/Release/usbscsi_native.node') }),
      ).toMatchObject({ ok: true, from: { kind: 'override' } });
    },
  );

  it("the install script's skip reason is the source build's reason", () => {
    const { order } = loader.candidates(pkg({ skipReason: 'cmake is not installed' }), {}, glibc);
    expect(order[1].skip).toBe('the source build was skipped: cmake is not installed');
  });

  it.runIf(existsSync(built))('a prebuild that fails to load is reported and the source build is used', () => {
    const r = pkg({ prebuild: Buffer.from('not an ELF or Mach-O file') });
    mkdirSync(join(r, 'build/Release'), { recursive: true });
    copyFileSync(built, join(r, 'build/Release/usbscsi_native.node'));
    age(join(r, 'build/Release/usbscsi_native.node'), 60);
    const loaded = loader.loadFirst(r, {});
    expect(loaded.ok).toBe(true);
    expect(loaded.tried.map((t: { kind: string; status: string }) => `${t.kind}:${t.status}`)).toEqual([
      'prebuild:failed',
      'source:loaded',
    ]);
    expect(loaded.tried[0].reason).toMatch(/^failed to load: /);
  });

  it('nothing loads: ok false, with every reason in one line', () => {
    const loaded = loader.loadFirst(pkg({}), {});
    expect(loaded.ok).toBe(false);
    expect(loaded.reason).toMatch(/^prebuild: no prebuilds in this package .*; source: not built/);
  });
});
