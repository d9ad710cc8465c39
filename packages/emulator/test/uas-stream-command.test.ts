/**
 * UasTransport with streams: a command's Command IU and data go out as one plan (the handle's
 * `streamCommand`), no Command IU waits for another to complete, and a command that times out
 * has that plan back (cancelled) before its ABORT TASK goes out.
 */
import { UasTransport, type StreamCommandRequest, type UsbDeviceHandle } from '@usbscsi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice, type SimulatedDeviceOptions } from '../src/index.js';

const read10 = (lba: number) => Uint8Array.of(0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 1, 0);

/** `handle` with its stream-command plans and command-pipe sends written to `log` in order. */
function logged(handle: UsbDeviceHandle, log: string[]): UsbDeviceHandle {
  return new Proxy(handle, {
    get(target, prop) {
      if (prop === 'streamCommand' && target.streamCommand) {
        return (request: StreamCommandRequest) => {
          log.push(`plan ${request.streamId}`);
          const plan = target.streamCommand!(request);
          plan.then(
            () => log.push(`plan ${request.streamId} back`),
            () => log.push(`plan ${request.streamId} back`),
          );
          return plan;
        };
      }
      if (prop === 'bulkOut') {
        return (endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal) => {
          log.push(`bulkOut IU ${data[0]}`);
          return target.bulkOut(endpoint, data, timeoutMs, signal);
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

async function open(sim: SimulatedDeviceOptions, log: string[]): Promise<UasTransport> {
  const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, interfaces: 'uas-only', speed: 'super', ...sim });
  backend = new EmulatorBackend({ devices: [device] });
  const [info] = await backend.list();
  transport = await UasTransport.open(logged(await backend.open(info!), log), { taskManagementTimeoutMs: 300 });
  expect(transport.streams).toBe(16);
  return transport;
}

describe('UAS with streams: one plan per command', () => {
  it('each command is one streamCommand plan; eight issued at once are all posted before any comes back', async () => {
    const log: string[] = [];
    const tr = await open({ uasCommandDelayMs: () => 20 }, log);
    log.length = 0;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, lba) =>
        tr.execute({ cdb: read10(lba), direction: 'in', data: new Uint8Array(512) }),
      ),
    );
    expect(results.map((r) => [r.status, r.transferred])).toEqual(Array.from({ length: 8 }, () => [0, 512]));
    // Command IUs go only inside the plans, not on their own.
    expect(log.filter((l) => l.startsWith('bulkOut'))).toEqual([]);
    const posted = log.filter((l) => /^plan \d+$/.test(l));
    expect(posted).toHaveLength(8);
    expect(log.findIndex((l) => l.endsWith('back'))).toBeGreaterThanOrEqual(8);
  });

  it('a command that times out: its plan is back (cancelled) before ABORT TASK goes out', async () => {
    const log: string[] = [];
    const tr = await open({ uasCommandDelayMs: () => 2_000 }, log);
    log.length = 0;
    await expect(
      tr.execute({ cdb: read10(1), direction: 'in', data: new Uint8Array(512), timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const back = log.findIndex((l) => /^plan \d+ back$/.test(l));
    const abort = log.indexOf('bulkOut IU 5');
    expect(back).toBeGreaterThanOrEqual(0);
    expect(abort).toBeGreaterThan(back);
  });
});
