import { describeContract, type ContractEnv } from '@usbscsi/core/testing';
import {
  DEFAULT_SIM_DEVICE,
  EmulatorBackend,
  SimulatedDevice,
  createSimulatedBackend,
  type FaultSpec,
} from '../src/index.js';

/** The in-process emulator as a contract env: faults programmed straight on the device. */
function emulatorEnv(name: string, backend: EmulatorBackend, extra: Partial<ContractEnv> = {}): ContractEnv {
  const device = backend.devices[0]!;
  return {
    ...extra,
    name,
    backend,
    idleIn: 'nak',
    invalidCbwOut: 'ok',
    followsBotCases: true,
    device: {
      inject: async (fault) => void device.faults.inject(fault as FaultSpec),
      counters: async () => ({
        commands: device.stats.commands,
        resets: device.stats.resets,
        uasCommands: device.uas.stats.commands,
        maxOutstanding: device.uas.stats.maxOutstanding,
      }),
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
    { transports: ['bot', 'uas'] },
  ),
);

const uasOnly = (speed: 'high' | 'super') =>
  new EmulatorBackend({
    devices: [
      new SimulatedDevice({
        ...DEFAULT_SIM_DEVICE,
        speed,
        interfaces: 'uas-only',
        vendorId: 0x46f4,
        productId: 0x0003,
      }),
    ],
  });

// UAS only, as QEMU's usb-uas: high speed (no streams: status first, data after Read/Write Ready) ...
describeContract('emulator (UAS only, high speed, no streams)', () =>
  emulatorEnv('emulator-uas-hs', uasOnly('high'), { transports: ['uas'] }),
);
// ... and SuperSpeed with 16 streams (tag = stream id).
describeContract('emulator (UAS only, SuperSpeed, 16 streams)', () =>
  emulatorEnv('emulator-uas-ss', uasOnly('super'), { transports: ['uas'] }),
);
