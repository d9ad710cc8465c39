import { describe, expect, it } from 'vitest';
import { openDevice, type ScsiDevice } from '@usbscsi/core';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, SimulatedDevice, overlapProbe } from '@usbscsi/emulator';

function twoSimulatedDisks(): [SimulatedDevice, SimulatedDevice] {
  const disk = (n: number) =>
    new SimulatedDevice({
      ...DEFAULT_SIM_DEVICE,
      busNumber: 1,
      portNumbers: [n],
      serial: `SIM000${n}`,
      serialNumber: `SIM000${n}`,
    });
  return [disk(1), disk(2)];
}

/**
 * Two devices in one process run their commands at the same time: nothing in core (a lock, a
 * shared queue, a single transfer in flight per backend) makes one device wait for the other.
 */
describe('two devices in one process', () => {
  it('their READs overlap: each device runs while the other has a command in flight', async () => {
    const disks = twoSimulatedDisks();
    const backend = new EmulatorBackend({ devices: disks });
    const probe = overlapProbe(disks);
    const devices: ScsiDevice[] = [];
    try {
      for (const serial of ['SIM0001', 'SIM0002'])
        devices.push(await openDevice({ selector: `1d6b:0104:${serial}`, backend, transport: 'bot' }));
      await Promise.all(
        devices.map(async (d) => {
          for (let i = 0; i < 4; i++) await d.read(i * 8, 8);
        }),
      );
    } finally {
      for (const d of devices) await d.close();
    }
    expect(probe.commands).toBe(8);
    // Every pair of READs met inside the emulators: one overlap per pair.
    expect(probe.overlaps).toBe(4);
  });
});
