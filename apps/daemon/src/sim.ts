import { DEFAULT_SIM_DEVICE, EmulatorBackend, parseSimOptions, type SimulatedDeviceOptions } from '@usbscsi/emulator';

/**
 * One emulator backend holding a simulated disk per `--device sim[:opts]`,
 * each on its own port (`1-1`, `1-2`, …) with its own serial number unless
 * the spec names one.
 */
export function createSimBackend(specs: string[]): EmulatorBackend {
  return new EmulatorBackend({
    devices: specs.map((spec, i) => ({ ...DEFAULT_SIM_DEVICE, ...place(i), ...parseSimOptions(spec) })),
  });
}

function place(index: number): SimulatedDeviceOptions {
  const serial = `SIM${String(index + 1).padStart(4, '0')}`;
  return { busNumber: 1, portNumbers: [index + 1], serial, serialNumber: serial };
}
