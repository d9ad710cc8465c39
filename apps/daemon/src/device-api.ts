import { ScsiDevice, type ScsiTransport } from '@usbscsi/core';
import type { OpenedDevice } from './provider.js';

/**
 * Core's device API over the slot's open device. Consent and the mount check are made by the
 * ScsiDevice in front (it refuses without consent) and again by the opened device behind.
 */
export function deviceOver(opened: OpenedDevice): ScsiDevice {
  const transport: ScsiTransport = {
    kind: 'remote',
    maxLun: 0,
    execute: async (r) => {
      // The opened device takes a data-in length and answers with its own buffer; the request's is filled from it.
      const into = r.direction === 'in' ? r.data : undefined;
      const result = await opened.execute(r.cdb, {
        direction: r.direction,
        ...(into ? { length: into.length } : r.data ? { data: r.data } : {}),
        ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}),
        ...(r.signal ? { signal: r.signal } : {}),
        allowMediumWrite: true,
      });
      if (!into || result.data.buffer === into.buffer) return result;
      const n = Math.min(result.data.length, into.length);
      into.set(result.data.subarray(0, n));
      return { ...result, data: into.subarray(0, n) };
    },
    reset: () => opened.reset(),
    close: async () => {},
  };
  return new ScsiDevice(transport);
}

/**
 * For whole-range reads and writes: the opened device itself when it is core's ScsiDevice, so its
 * pinned buffers and the engine's fast paths stay in use; else {@link deviceOver}.
 */
export function blockDeviceOf(opened: OpenedDevice): ScsiDevice {
  return opened instanceof ScsiDevice ? opened : deviceOver(opened);
}
