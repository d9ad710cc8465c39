import type { SimulatedDevice } from './usb/simulated-device.js';

export interface OverlapProbe {
  /** Commands of `opcode` that entered any of the devices. */
  commands: number;
  /** Times a command entered while another device already had one inside. */
  overlaps: number;
}

/**
 * Shows that several devices run commands at the same time by overlap, not timing: each
 * device's command of `opcode` waits inside the emulator until another device's is inside too
 * (or `waitMs` passed), then runs. A host that serialised the devices never has two inside at
 * once, so `overlaps` stays 0; one that runs them together meets them in pairs.
 */
export function overlapProbe(devices: readonly SimulatedDevice[], opcode = 0x28, waitMs = 2000): OverlapProbe {
  let inside = 0;
  const probe: OverlapProbe = { overlaps: 0, commands: 0 };
  let arrived: (() => void) | undefined;
  for (const device of devices) {
    device.onCommand(opcode, async (ctx) => {
      inside++;
      probe.commands++;
      if (inside >= 2) {
        probe.overlaps++;
        arrived?.();
      } else {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          arrived = () => {
            clearTimeout(timer);
            arrived = undefined;
            resolve();
          };
        });
      }
      try {
        return await ctx.builtin();
      } finally {
        inside--;
      }
    });
  }
  return probe;
}
