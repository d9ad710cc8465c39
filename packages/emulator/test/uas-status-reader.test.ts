/**
 * The USB 2 protocol's one status-pipe reader (no streams), against a handle that behaves like
 * the native backend where the emulator is more lenient. On QEMU's EHCI usb-uas the reader asked
 * for "no timeout" (0), which native refuses at once; the reader restarted itself from the
 * rejection in a loop of promise reactions, so the guest's event loop never turned again (no
 * timer, not even a case timeout, fired).
 */
import { ErrorCodes, TransferStatus, UasTransport, UsbScsiError, type UsbDeviceHandle } from '@usbscsi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice } from '../src/index.js';

const INQUIRY = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
/** Past this many status reads the handle stops answering (until cancelled): a spinning reader lets the test end. */
const SPIN_CAP = 200;

interface StatusReads {
  timeouts: number[];
  /** The status IN endpoint, once the transport found it. */
  endpoint?: number;
}

/** `handle` with its status-pipe reads recorded, and refused (E_BAD_INPUT at once) when `refuse` says so. */
function watchedStatusReads(handle: UsbDeviceHandle, reads: StatusReads, refuse: (timeoutMs: number) => boolean) {
  return new Proxy(handle, {
    get(target, prop) {
      if (prop === 'bulkIn') {
        return (endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal) => {
          if (endpoint !== reads.endpoint) return target.bulkIn(endpoint, buffer, timeoutMs, signal);
          reads.timeouts.push(timeoutMs);
          if (reads.timeouts.length > SPIN_CAP) {
            return new Promise((resolve) =>
              signal?.addEventListener('abort', () => resolve({ status: TransferStatus.CANCELLED, actualLength: 0 })),
            );
          }
          if (refuse(timeoutMs))
            return Promise.reject(new UsbScsiError(ErrorCodes.BAD_INPUT, `timeoutMs ${timeoutMs} refused`));
          return target.bulkIn(endpoint, buffer, timeoutMs, signal);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

let backend: EmulatorBackend | undefined;
let transport: UasTransport | undefined;
afterEach(async () => {
  await transport?.close().catch(() => undefined);
  await backend?.dispose();
  transport = undefined;
  backend = undefined;
});

async function openWatched(refuse: (timeoutMs: number) => boolean): Promise<StatusReads> {
  const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, interfaces: 'uas-only', speed: 'high' });
  backend = new EmulatorBackend({ devices: [device] });
  const [info] = await backend.list();
  const reads: StatusReads = { timeouts: [] };
  transport = await UasTransport.open(watchedStatusReads(await backend.open(info!), reads, refuse), {
    taskManagementTimeoutMs: 200,
  });
  expect(transport.streams).toBe(0);
  reads.endpoint = transport.pipes.statusIn;
  return reads;
}

describe('UAS without streams: the status-pipe reader', () => {
  it('asks for a timeout every backend takes (1 to 2^31-1 ms; native and node-usb refuse 0)', async () => {
    const reads = await openWatched(() => false);
    const r = await transport!.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36) });
    expect(r.status).toBe(0);
    expect(reads.timeouts.length).toBeGreaterThan(0);
    for (const t of reads.timeouts) expect(t >= 1 && t <= 0x7fff_ffff, `status read timeout ${t}`).toBe(true);
  });

  it('a read the backend refuses fails the command with a typed error, and the reader does not spin', async () => {
    const reads = await openWatched(() => true);
    const err = await transport!
      .execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36), timeoutMs: 300 })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(UsbScsiError);
    // One reader for the command, one per task management function of its recovery, no more.
    expect(reads.timeouts.length).toBeLessThanOrEqual(4);
  });
});
