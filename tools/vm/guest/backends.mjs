// Loads the backends under test from the BUILT packages (packages/*/dist), each with a reason
// when it cannot load, so that its cases are skipped loudly instead of silently missing.
import { existsSync, readFileSync } from 'node:fs';

const repo = process.cwd();

function selectedBackends() {
  try {
    return JSON.parse(readFileSync('/out/config.json', 'utf8')).backends ?? null;
  } catch {
    return null;
  }
}

export async function loadBackends() {
  const selected = selectedBackends();
  const all = await loadAll();
  return all.map((b) =>
    selected && !selected.includes(b.name)
      ? { name: b.name, backend: null, reason: `left out by VM_BACKENDS=${selected.join(',')}` }
      : b,
  );
}

async function loadAll() {
  const out = [];
  // node-usb: core's fallback over the `usb` npm package.
  const nodeUsbPath = `${repo}/packages/core/dist/backends/node-usb.js`;
  if (!existsSync(nodeUsbPath)) {
    out.push({
      name: 'node-usb',
      backend: null,
      reason: `${nodeUsbPath} missing: run \`pnpm build\` before \`pnpm test:vm\``,
    });
  } else {
    const { loadNodeUsbBackend } = await import(nodeUsbPath);
    const r = await loadNodeUsbBackend();
    out.push({ name: 'node-usb', backend: r.backend, reason: r.reason });
  }
  // native: the libusb addon, through core's loader when it exists.
  out.push(await loadNative());
  return out;
}

async function loadNative() {
  const candidates = [`${repo}/packages/core/dist/backends/native.js`];
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    try {
      const mod = await import(p);
      const load = mod.loadNativeBackend ?? mod.loadNative;
      if (typeof load !== 'function')
        return { name: 'native', backend: null, reason: `${p} exports no loadNativeBackend()` };
      const r = await load();
      if (r && typeof r === 'object' && 'backend' in r)
        return {
          name: 'native',
          backend: r.backend,
          reason: r.reason ?? (r.backend ? undefined : 'loader returned no backend'),
        };
      return { name: 'native', backend: r ?? null, reason: r ? undefined : 'loader returned null' };
    } catch (err) {
      return { name: 'native', backend: null, reason: `native backend failed to load: ${err?.message ?? err}` };
    }
  }
  return {
    name: 'native',
    backend: null,
    reason: 'NATIVE ADDON NOT BUILT: packages/core/dist/backends/native.js is absent (native/ addon not landed yet)',
  };
}
