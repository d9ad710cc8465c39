/** `--device sim[:options]`: the built-in emulator from @usbscsi/emulator. */
import type { UsbBackend } from '@usbscsi/core';
import { createSimulatedBackend, parseSimOptions } from '@usbscsi/emulator';
import type { CliDeps } from './context.js';

export function isSimSelector(spec: string): boolean {
  return spec === 'sim' || spec.startsWith('sim:');
}

export async function createSimBackend(spec: string, deps: CliDeps): Promise<UsbBackend> {
  if (deps.simBackend) return deps.simBackend(spec);
  // parseSimOptions raises E_BAD_INPUT naming the unknown option and the valid ones.
  return createSimulatedBackend(parseSimOptions(spec));
}
