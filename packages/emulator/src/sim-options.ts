import { badInput } from '@usbscsi/core';
import { NVME_BRIDGE_PRESETS, nvmeBridgePreset } from './nvme/presets.js';
import type { LunOptions } from './scsi/lun.js';
import { EmulatorBackend } from './usb/emulator-backend.js';
import { SimulatedDevice, type SimulatedDeviceOptions } from './usb/simulated-device.js';

/** The default simulated disk (what `usbscsi --device sim` talks to). */
export const DEFAULT_SIM_DEVICE: Readonly<SimulatedDeviceOptions> = Object.freeze({
  vendorId: 0x1d6b,
  productId: 0x0104,
  vendor: 'USBSCSI',
  product: 'SIMULATED DISK',
  revision: '0.1',
  serial: 'SIM0001',
  serialNumber: 'SIM0001',
  manufacturerString: 'usbscsi',
  productString: 'Simulated Disk',
  speed: 'high',
  luns: [{ blockSize: 512, blockCount: 32768 }], // 16 MiB
  // Firmware download end to end: segments on 512-byte boundaries into a 1 MiB buffer; activation re-enumerates.
  firmware: { activation: 'reenumerate' as const, activationMs: 300 },
});

/** Builds an {@link EmulatorBackend} holding the default simulated disk, with `options` layered over it. */
export function createSimulatedBackend(options: SimulatedDeviceOptions = {}): EmulatorBackend {
  return new EmulatorBackend({ devices: [new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, ...options })] });
}

const SIM_KEYS = [
  'blocks',
  'bs',
  'luns',
  'file',
  'vid',
  'pid',
  'serial',
  'speed',
  'ro',
  'removable',
  'bridge',
  'passthrough',
  'uas',
] as const;

/**
 * Parses the CLI's `sim[:key=value,...]` device string:
 * `blocks` (per LUN), `bs` (block size), `luns` (1-16), `file` (backing file
 * for LUN 0), `vid` / `pid` (hex), `serial`, `speed` (high|super), `ro`,
 * `removable`; `bridge` (a USB-NVMe bridge model: jms583, asm2362, rtl9210, rtl9220 with a
 * SATA drive, ex400u), `passthrough` (full: both of the bridge's protocols, default; basic:
 * ASMedia E6h / Realtek E4h only), `uas` (a UAS alternate setting too; `uas=only`: UAS and no BOT). Unknown keys are
 * refused with E_BAD_INPUT.
 */
export function parseSimOptions(spec: string): SimulatedDeviceOptions {
  const trimmed = spec.trim();
  if (trimmed !== 'sim' && !trimmed.startsWith('sim:'))
    throw badInput(
      `"${spec}" is not a simulated device; write sim or sim:key=value,... (keys: ${SIM_KEYS.join(', ')})`,
    );
  const body = trimmed.slice(4);
  const values = new Map<string, string>();
  for (const part of body ? body.split(',') : []) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? 'true' : part.slice(eq + 1).trim();
    if (!(SIM_KEYS as readonly string[]).includes(key))
      throw badInput(`unknown sim option "${key}" in "${spec}"; known: ${SIM_KEYS.join(', ')}`);
    if (values.has(key)) throw badInput(`sim option "${key}" given twice in "${spec}"`);
    values.set(key, value);
  }
  const int = (key: string, min: number, max: number): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const n = /^0x[0-9a-f]+$/i.test(raw) ? Number.parseInt(raw, 16) : /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw badInput(`sim option ${key}=${raw} must be an integer from ${min} to ${max}`);
    return n;
  };
  const hex16 = (key: string): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const n = Number.parseInt(raw.replace(/^0x/i, ''), 16);
    if (!/^(0x)?[0-9a-f]{1,4}$/i.test(raw) || Number.isNaN(n))
      throw badInput(`sim option ${key}=${raw} must be a 16-bit hex number like 1d6b`);
    return n;
  };
  const flag = (key: string): boolean | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    if (raw === 'true' || raw === '1' || raw === 'yes') return true;
    if (raw === 'false' || raw === '0' || raw === 'no') return false;
    throw badInput(`sim option ${key}=${raw} must be true or false`);
  };
  const blockSize = int('bs', 512, 65536) ?? 512;
  if ((blockSize & (blockSize - 1)) !== 0)
    throw badInput(`sim option bs=${blockSize} must be a power of two from 512 to 65536`);
  const blocks = int('blocks', 1, Number.MAX_SAFE_INTEGER);
  const lunCount = int('luns', 1, 16) ?? 1;
  const file = values.get('file');
  if (file === '') throw badInput('sim option file= needs a path');
  const readOnly = flag('ro');
  const removable = flag('removable');
  const speed = values.get('speed');
  if (speed !== undefined && speed !== 'high' && speed !== 'super')
    throw badInput(`sim option speed=${speed} must be high or super`);
  const lun = (i: number): LunOptions => ({
    blockSize,
    ...(i === 0 && file ? { file } : {}),
    ...(blocks !== undefined
      ? { blockCount: blocks }
      : i === 0 && file
        ? {}
        : { blockCount: Math.floor((16 * 1024 * 1024) / blockSize) }),
    ...(readOnly !== undefined ? { readOnly } : {}),
    ...(removable !== undefined ? { removable } : {}),
  });
  const bridgeName = values.get('bridge');
  const preset = bridgeName === undefined ? {} : nvmeBridgePreset(bridgeName);
  if (!preset)
    throw badInput(
      `sim option bridge=${bridgeName} is not a bridge model; known: ${Object.keys(NVME_BRIDGE_PRESETS).join(', ')}`,
    );
  const passthrough = values.get('passthrough');
  if (passthrough !== undefined && passthrough !== 'full' && passthrough !== 'basic')
    throw badInput(`sim option passthrough=${passthrough} must be full or basic`);
  if (passthrough !== undefined && !preset.nvmeBridge) throw badInput('sim option passthrough= needs bridge=');
  const options: SimulatedDeviceOptions = { ...preset, luns: Array.from({ length: lunCount }, (_, i) => lun(i)) };
  if (passthrough === 'basic' && options.nvmeBridge) options.nvmeBridge = { ...options.nvmeBridge, secondMode: false };
  // uas=only: a UAS-only device (QEMU's usb-uas); a flag: a UAS alternate setting beside BOT.
  const uas = values.get('uas') === 'only' ? 'only' : flag('uas');
  if (uas !== undefined) options.interfaces = uas === 'only' ? 'uas-only' : uas ? 'bot+uas' : 'bot';
  const vid = hex16('vid');
  const pid = hex16('pid');
  if (vid !== undefined) options.vendorId = vid;
  if (pid !== undefined) options.productId = pid;
  const serial = values.get('serial');
  if (serial !== undefined) {
    options.serial = serial;
    options.serialNumber = serial;
  }
  if (speed !== undefined) options.speed = speed;
  return options;
}
