/** `--device sim[:options]`: the built-in emulator from @usbscsi/emulator, loaded only when asked for. */
import type { UsbBackend } from '@usbscsi/core';
import type { CliDeps } from './context.js';

/**
 * Whether a `--device` value names the in-process emulator (`sim`, `sim:key=value,…`). The one
 * definition: opening, listing, `handoff`, `reset` and `--via` all ask it.
 */
export function isSimSelector(spec: string): boolean {
  return spec === 'sim' || spec.startsWith('sim:');
}

export async function createSimBackend(spec: string, deps: CliDeps): Promise<UsbBackend> {
  if (deps.simBackend) return deps.simBackend(spec);
  const { createSimulatedBackend, parseSimOptions } = await import('@usbscsi/emulator');
  // parseSimOptions raises E_BAD_INPUT naming the unknown option and the valid ones.
  return createSimulatedBackend(parseSimOptions(spec));
}
