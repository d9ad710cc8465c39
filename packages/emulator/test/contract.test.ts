import { describeContract, type ContractEnv } from '@usbscsi/core/testing';
import { EmulatorBackend, SimulatedDevice, createSimulatedBackend, type FaultSpec } from '../src/index.js';

/** The in-process emulator as a contract env: faults programmed straight on the device. */
function emulatorEnv(name: string, backend: EmulatorBackend): ContractEnv {
  const device = backend.devices[0]!;
  return {
    name,
    backend,
    idleIn: 'nak',
    invalidCbwOut: 'ok',
    followsBotCases: true,
    device: {
      inject: async (fault) => void device.faults.inject(fault as FaultSpec),
      counters: async () => ({ commands: device.stats.commands, resets: device.stats.resets }),
    },
  };
}

// The default simulated disk, high speed.
describeContract('emulator', () => emulatorEnv('emulator', createSimulatedBackend()));

// A super-speed UAS bridge with a bound kernel driver: the suite must detach it, use BOT alt 0, and re-attach.
describeContract('emulator (super-speed bridge, kernel driver bound)', () =>
  emulatorEnv(
    'emulator-bridge',
    new EmulatorBackend({
      devices: [
        new SimulatedDevice({
          speed: 'super',
          interfaces: 'bot+uas',
          kernelDriver: 'uas',
          vendorId: 0x174c,
          productId: 0x55aa,
        }),
      ],
    }),
  ),
);
