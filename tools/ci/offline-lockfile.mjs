// A pnpm lockfile for a directory that installs this repository's packed tarballs, made from
// the repository's own lockfile: the third-party packages keep exactly the versions (and
// integrity) the workspace installed, so `pnpm install --offline --frozen-lockfile` finds every
// one in the store and needs no registry metadata. pnpm-lock.yaml v9 is written by pnpm in a
// fixed layout (two-space indents, one key per line), which is all this reads.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Top-level sections of a lockfile: name → the lines under it. */
function sections(text) {
  const out = {};
  let current = null;
  for (const line of text.split('\n')) {
    const top = /^([A-Za-z]+):\s*$/.exec(line);
    if (top) {
      current = top[1];
      out[current] = [];
      continue;
    }
    if (/^\S/.test(line)) {
      current = null;
      continue;
    }
    if (current) out[current].push(line);
  }
  return out;
}

/** importers.<dir>.{dependencies,optionalDependencies}: name → resolved version. */
function importerDeps(importerLines, dir) {
  const deps = {};
  let inImporter = false;
  let kind = null;
  let name = null;
  for (const line of importerLines) {
    const imp = /^ {2}(\S.*):$/.exec(line);
    if (imp) {
      inImporter = imp[1].replace(/^'|'$/g, '') === dir;
      kind = null;
      continue;
    }
    if (!inImporter) continue;
    const k = /^ {4}(\w+):$/.exec(line);
    if (k) {
      kind = k[1];
      continue;
    }
    if (kind !== 'dependencies' && kind !== 'optionalDependencies') continue;
    const n = /^ {6}(\S.*):$/.exec(line);
    if (n) {
      name = n[1].replace(/^'|'$/g, '');
      continue;
    }
    const v = /^ {8}version: (.*)$/.exec(line);
    if (v && name) (deps[kind] ??= {})[name] = v[1].replace(/^'|'$/g, '');
  }
  return deps;
}

const q = (s) => `'${s}'`;

/**
 * packages: [{ name, dir (importer path in the workspace), file (absolute tarball), rel (as seen
 * from the install directory), manifest (its package.json) }]. Returns the lockfile text.
 */
export function offlineLockfile(workspaceLockText, packages) {
  const ws = sections(workspaceLockText);
  const byName = Object.fromEntries(packages.map((p) => [p.name, p]));
  const ref = (p) => `file:${p.rel}`;
  const lines = ["lockfileVersion: '9.0'", '', 'settings:', ...ws.settings.filter(Boolean), '', 'overrides:'];
  for (const p of packages) lines.push(`  ${q(p.name)}: file:${p.file}`);
  lines.push('', 'importers:', '', '  .:', '    dependencies:');
  for (const p of packages)
    lines.push(`      ${q(p.name)}:`, `        specifier: file:${p.file}`, `        version: ${ref(p)}`);
  lines.push('', 'packages:', '');
  for (const p of packages) {
    const integrity = `sha512-${createHash('sha512').update(readFileSync(p.file)).digest('base64')}`;
    lines.push(
      `  ${q(`${p.name}@${ref(p)}`)}:`,
      `    resolution: {integrity: ${integrity}, tarball: ${ref(p)}}`,
      `    version: ${p.manifest.version}`,
    );
    if (p.manifest.engines?.node) lines.push(`    engines: {node: ${q(p.manifest.engines.node)}}`);
    if (p.manifest.bin) lines.push('    hasBin: true');
    if (p.manifest.peerDependencies) {
      lines.push(
        '    peerDependencies:',
        ...Object.entries(p.manifest.peerDependencies).map(([n, v]) => `      ${n}: ${v}`),
      );
      const meta = Object.entries(p.manifest.peerDependenciesMeta ?? {});
      if (meta.length)
        lines.push(
          '    peerDependenciesMeta:',
          ...meta.flatMap(([n, m]) => [`      ${n}:`, `        optional: ${m.optional === true}`]),
        );
    }
    lines.push('');
  }
  lines.push(...ws.packages.filter((l, i) => !(i === 0 && l === '')), '', 'snapshots:', '');
  for (const p of packages) {
    const deps = importerDeps(ws.importers, p.dir);
    lines.push(`  ${q(`${p.name}@${ref(p)}`)}:`);
    let any = false;
    for (const kind of ['dependencies', 'optionalDependencies']) {
      const entries = Object.entries(deps[kind] ?? {});
      if (!entries.length) continue;
      any = true;
      lines.push(`    ${kind}:`);
      for (const [n, v] of entries) lines.push(`      ${q(n)}: ${v.startsWith('link:') ? ref(byName[n]) : v}`);
    }
    if (!any) lines[lines.length - 1] += ' {}';
    lines.push('');
  }
  lines.push(...ws.snapshots.filter((l, i) => !(i === 0 && l === '')));
  return (
    lines
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd() + '\n'
  );
}
