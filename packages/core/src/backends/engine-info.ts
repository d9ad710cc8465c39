/**
 * Which USB engine `auto` resolves to here, where it was loaded from, the libusb inside, and why
 * each earlier choice was not taken: the facts `usbscsi doctor` prints. The order is the native
 * package's (USBSCSI_NATIVE_BINARY, else the prebuild for this platform, then a source build),
 * then node-usb — the same order `resolveBackend('auto')` follows.
 */
import { loadNativeAddon, type NativeBinaryAttempt } from './native-addon.js';

export interface EngineChoice {
  choice: NativeBinaryAttempt['kind'] | 'node-usb';
  status: NativeBinaryAttempt['status'];
  path?: string;
  target?: string;
  reason?: string;
}

export interface EngineInfo {
  /** What `auto` uses: the native engine, node-usb, or nothing (every choice failed). */
  engine: 'native' | 'node-usb' | 'none';
  /** For the native engine: which of its binaries loaded. */
  from?: NativeBinaryAttempt['kind'];
  /** The file the engine was loaded from. */
  path?: string;
  /** libusb compiled into (or linked by) the native engine; node-usb v3 has no libusb. */
  libusbVersion?: string;
  platform: string;
  arch: string;
  node: string;
  /** Every choice in order, with what happened to it. */
  choices: EngineChoice[];
  /** Why the native package changed its usual order (a source build newer than the prebuild). */
  note?: string;
}

/** Loads what `auto` would load (never throws) and says what happened on the way. */
export async function describeEngine(
  loadNodeUsb: () => Promise<{ ok: boolean; path?: string; reason?: string }> = probeNodeUsb,
): Promise<EngineInfo> {
  const base = { platform: process.platform, arch: process.arch, node: process.version };
  const native = loadNativeAddon();
  const choices: EngineChoice[] = (native.tried ?? []).map((t) => ({
    choice: t.kind,
    status: t.status,
    path: t.path,
    target: t.target,
    reason: t.reason,
  }));
  if (native.ok) {
    let libusbVersion: string | undefined;
    try {
      libusbVersion = native.addon.libusbVersion().text;
    } catch {
      libusbVersion = undefined;
    }
    choices.push({ choice: 'node-usb', status: 'not-tried', reason: 'the native engine loaded first' });
    return {
      ...base,
      engine: 'native',
      from: native.from?.kind,
      path: native.from?.path,
      libusbVersion,
      choices,
      ...(native.note ? { note: native.note } : {}),
    };
  }
  if (!choices.length) choices.push({ choice: 'prebuild', status: 'unavailable', reason: native.reason });
  const nodeUsb = await loadNodeUsb();
  choices.push({
    choice: 'node-usb',
    status: nodeUsb.ok ? 'loaded' : 'failed',
    path: nodeUsb.path,
    reason: nodeUsb.reason,
  });
  return {
    ...base,
    engine: nodeUsb.ok ? 'node-usb' : 'none',
    path: nodeUsb.path,
    choices,
    ...(native.note ? { note: native.note } : {}),
  };
}

async function probeNodeUsb(): Promise<{ ok: boolean; path?: string; reason?: string }> {
  const { loadNodeUsbBackend } = await import('./node-usb.js');
  const loaded = await loadNodeUsbBackend();
  if (!loaded.backend) return { ok: false, reason: loaded.reason };
  let path: string | undefined;
  try {
    path = (await import('node:module')).createRequire(import.meta.url).resolve('usb');
  } catch {
    path = undefined;
  }
  return { ok: true, path };
}
