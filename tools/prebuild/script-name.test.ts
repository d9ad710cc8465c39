// `pnpm prebuild` is named like the pre-hook of `pnpm build`: with the workspace's settings,
// pnpm must not run it before every build.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const workspaceYaml = fileURLToPath(new URL('../../pnpm-workspace.yaml', import.meta.url));
const hasPnpm = spawnSync('pnpm', ['--version'], { stdio: 'ignore' }).status === 0;

it.runIf(hasPnpm)("with the workspace's pnpm settings, `pnpm build` does not run a script named prebuild first", () => {
  const dir = mkdtempSync(join(tmpdir(), 'usbscsi-prehook-'));
  try {
    // The same settings, for a one-package workspace.
    const settings = readFileSync(workspaceYaml, 'utf8').replace(/^packages:\n(?: {2}- .*\n)+/m, '');
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), settings);
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'prehook-check',
        private: true,
        scripts: { build: 'echo BUILD', prebuild: 'echo PREBUILD' },
      }),
    );
    const r = spawnSync('pnpm', ['-s', 'build'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['BUILD']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
