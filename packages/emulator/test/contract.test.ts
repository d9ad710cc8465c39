import { describeBackendContract } from '@usbscsi/core/testing';
import { EmulatorBackend, SimulatedDevice, createSimulatedBackend } from '../src/index.js';

// The default simulated disk, high speed.
describeBackendContract('emulator', () => createSimulatedBackend(), {
  injectDataInStall: (backend) => {
    (backend as EmulatorBackend).devices[0]!.faults.inject({ kind: 'stall-data-in', opcode: 0x12 });
  },
});

// A super-speed UAS bridge with a bound kernel driver: the suite must detach it, use BOT alt 0, and re-attach.
describeBackendContract(
  'emulator (super-speed bridge, kernel driver bound)',
  () => new EmulatorBackend({ devices: [new SimulatedDevice({ speed: 'super', interfaces: 'bot+uas', kernelDriver: 'uas', vendorId: 0x174c, productId: 0x55aa })] }),
  {
    injectDataInStall: (backend) => {
      (backend as EmulatorBackend).devices[0]!.faults.inject({ kind: 'stall-data-in', opcode: 0x12 });
    },
  },
);
