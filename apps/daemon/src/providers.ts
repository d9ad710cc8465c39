import type { BackendChoice, TransportChoice } from '@usbscsi/core';
import type { DeviceProvider } from './provider.js';

export interface ProviderSetup {
  provider: DeviceProvider;
  /** Start-up recovery of leases left in the journal by a daemon that died. */
  recover?: () => Promise<unknown>;
}

export interface ProviderChoice {
  /** `sim[:opts]` specs; empty for real devices. */
  devices: string[];
  backend: BackendChoice;
  transport: TransportChoice;
  unmount: boolean;
  journal?: string;
}

/** Simulated devices when `--device sim…` is given, else real ones through core's backend. */
export async function createProvider(choice: ProviderChoice): Promise<ProviderSetup> {
  const { createCoreProvider } = await import('./core-provider.js');
  if (choice.devices.length) {
    const { createSimBackend } = await import('./sim.js');
    const backend = await createSimBackend(choice.devices);
    return { provider: await createCoreProvider({ backend, transport: 'bot' }) };
  }
  return {
    provider: await createCoreProvider({ backend: choice.backend, transport: choice.transport, unmount: choice.unmount }),
    recover: async () => {
      const { recoverHostLeases } = await import('./recover.js');
      return recoverHostLeases(choice.journal);
    },
  };
}
