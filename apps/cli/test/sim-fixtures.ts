/** Prepared simulated devices for the CLI tests (vendor handlers, faults, failing backends). */
import { ErrorCodes, UsbScsiError, type UsbBackend } from '@usbscsi/core';
import {
  DEFAULT_SIM_DEVICE,
  EmulatorBackend,
  SimulatedDevice,
  parseSimOptions,
  type SimulatedDeviceOptions,
} from '@usbscsi/emulator';
import type { CliDeps } from '../src/context.js';

/** `--device sim[:…]` builds a device as the CLI would, then `prepare` adds handlers or faults. */
export function simWith(
  prepare: (device: SimulatedDevice) => void,
  extra: SimulatedDeviceOptions = {},
): CliDeps & { devices: SimulatedDevice[] } {
  const devices: SimulatedDevice[] = [];
  return {
    devices,
    simBackend: (spec) => {
      const device = new SimulatedDevice({ ...DEFAULT_SIM_DEVICE, ...parseSimOptions(spec), ...extra });
      prepare(device);
      devices.push(device);
      return new EmulatorBackend({ devices: [device] });
    },
  };
}

/** A backend whose open fails with `code` (what a real OS reports for busy/permission/mounted). */
export function failingOpen(code: (typeof ErrorCodes)[keyof typeof ErrorCodes], message: string): CliDeps {
  return {
    simBackend: (spec) => {
      const inner = new EmulatorBackend({ devices: [{ ...DEFAULT_SIM_DEVICE, ...parseSimOptions(spec) }] });
      const backend: UsbBackend = {
        name: 'failing',
        list: () => inner.list(),
        open: async () => {
          throw new UsbScsiError(code, message);
        },
      };
      return backend;
    },
  };
}

export const noDevices: CliDeps = { simBackend: () => new EmulatorBackend({ devices: [] }) };

export const twoIdentical: CliDeps = {
  simBackend: () =>
    new EmulatorBackend({
      devices: [
        { ...DEFAULT_SIM_DEVICE, serialNumber: 'A1', portNumbers: [1] },
        { ...DEFAULT_SIM_DEVICE, serialNumber: 'B2', portNumbers: [2] },
      ],
    }),
};
