import type { BackendChoice, HandoffPlatform, TransportChoice } from '@usbscsi/core';
import type { Logger } from 'pino';
import type { DeviceProvider } from './provider.js';

export interface ProviderSetup {
  provider: DeviceProvider;
  /** Start-up recovery of leases left in the journal by a daemon that died. */
  recover?: (log: Logger) => Promise<unknown>;
}

export interface ProviderChoice {
  /** `sim[:opts]` specs; empty for real devices. */
  devices: string[];
  backend: BackendChoice;
  transport: TransportChoice;
  unmount: boolean;
  journal?: string;
  /** Simulated devices only: hand them off through this platform (see cli.ts RunHooks). */
  handoffPlatform?: HandoffPlatform;
  /** Where the journal's warnings go (JSON log lines rather than Node's stderr warnings). */
  log?: Logger;
}

/** Simulated devices when `--device sim…` is given, else real ones through core's backend. */
export async function createProvider(choice: ProviderChoice): Promise<ProviderSetup> {
  const { createCoreProvider } = await import('./core-provider.js');
  if (choice.devices.length) {
    const { createSimBackend } = await import('./sim.js');
    const backend = createSimBackend(choice.devices);
    const provider = await createCoreProvider({ backend, transport: 'bot' });
    if (!choice.handoffPlatform) return { provider };
    const { LeaseJournal } = await import('@usbscsi/core');
    const { withHandoff, recoverWith } = await import('./handoff.js');
    const platform = choice.handoffPlatform;
    const journal = new LeaseJournal({
      ...(choice.journal ? { path: choice.journal } : {}),
      processIdentity: (pid) => platform.processIdentity(pid),
      ...journalWarn(choice.log),
    });
    const handoff = { platform, journal, unmount: choice.unmount };
    return { provider: withHandoff(provider, handoff), recover: recoverWith(handoff) };
  }
  const { LeaseJournal } = await import('@usbscsi/core');
  const journal = choice.journal ? new LeaseJournal({ path: choice.journal, ...journalWarn(choice.log) }) : undefined;
  return {
    provider: await createCoreProvider({
      backend: choice.backend,
      transport: choice.transport,
      unmount: choice.unmount,
      ...(journal ? { journal } : {}),
    }),
    recover: async (log) => {
      const { recoverHostLeases } = await import('./recover.js');
      return recoverHostLeases(log, choice.journal);
    },
  };
}

const journalWarn = (log: Logger | undefined) => (log ? { warn: (message: string) => log.warn(message) } : {});
