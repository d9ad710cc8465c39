/**
 * --via / USBSCSI_VIA: the device is reached through usbscsid with core's
 * daemon client (packages/core/src/client). Every command then runs in the
 * daemon's queue, unchanged.
 */
import type { ScsiDevice } from '@usbscsi/core';
import { badInput, openRemoteDevice, parseVia } from '@usbscsi/core';
import { isSimSelector } from './sim.js';

export async function connectVia(
  via: string,
  options: { selector?: string; lun?: number; commandTimeoutMs?: number; env: Record<string, string | undefined> },
): Promise<ScsiDevice> {
  if (options.lun !== undefined && options.lun !== 0)
    throw badInput(`usbscsid serves LUN 0 only; drop --lun ${options.lun} or run without --via.`);
  if (options.selector !== undefined && isSimSelector(options.selector))
    throw badInput(
      '--device sim is the in-process emulator; through the daemon, name a device the daemon ' +
        'serves (or drop --device).',
    );
  const endpoint = parseVia(via, { env: options.env });
  return openRemoteDevice({
    via: endpoint,
    ...(options.selector !== undefined ? { selector: options.selector } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
  });
}
