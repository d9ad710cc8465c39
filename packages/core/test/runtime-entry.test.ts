// What loading `@usbscsi/core` (the built dist/index.js) pulls in: never the test doubles, and
// never the optional native code (the `usb` package, the addon and its macOS bindings), which
// load on first use. Runs on the build: `pnpm test` builds first.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../dist');

/** Every core module reachable from `entry` through static imports, re-exports and literal dynamic imports. */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map(
      (m) => m[1]!,
    );
    for (const specifier of specifiers) if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
  };
  visit(join(dist, entry));
  return new Set([...seen].map((f) => relative(dist, f)));
}

const isTestDouble = (file: string) => file.startsWith('testing/') || /(^|\/)fake[-.]|-fake[-.]/.test(file);

describe('the runtime entry (dist/index.js)', () => {
  it('is built', () => {
    expect(existsSync(join(dist, 'index.js')), 'packages/core/dist is missing: run `pnpm build` first').toBe(true);
  });

  it('does not reach the test doubles or the contract suite', () => {
    const graph = importGraph('index.js');
    // The walk does follow imports: the entry reaches open.ts, the topology and the lease.
    expect(graph).toContain('open.js');
    expect(graph).toContain('topology/index.js');
    expect(graph).toContain('handoff/lease.js');
    expect([...graph].filter(isTestDouble)).toEqual([]);
    // ... and the testing entry does reach them, so the check can see one.
    expect([...importGraph('testing/index.js')].filter(isTestDouble)).toEqual(
      expect.arrayContaining(['testing/fake-platform.js', 'testing/fake-sysfs.js', 'testing/fake-darwin-native.js']),
    );
  });

  it('loads no native code until a backend is asked for', () => {
    // The child records every native module opened and every CommonJS package required.
    const script = `
      import { createRequire } from 'node:module';
      const Module = createRequire(import.meta.url)('node:module');
      const loaded = [];
      const dlopen = process.dlopen;
      process.dlopen = function (module, filename, ...rest) {
        loaded.push('native:' + filename);
        return dlopen.call(this, module, filename, ...rest);
      };
      const load = Module._load;
      Module._load = function (request, ...rest) {
        const bare = !request.startsWith('node:') && !request.startsWith('.') && !request.startsWith('/');
        if (bare) loaded.push('require:' + request);
        return load.call(this, request, ...rest);
      };
      const core = await import(${JSON.stringify(join(dist, 'index.js'))});
      const atImport = [...loaded];
      await core.loadNodeUsbBackend();
      core.loadNativeAddon();
      console.log(JSON.stringify({ atImport, afterBackends: loaded }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const { atImport, afterBackends } = JSON.parse(child.stdout) as { atImport: string[]; afterBackends: string[] };
    expect(atImport).toEqual([]);
    // The recording works: asking for the backends loads the `usb` package's binding and the addon.
    expect(afterBackends.some((m) => m.startsWith('native:'))).toBe(true);
    expect(afterBackends).toContain('require:@usbscsi/native');
  });
});
