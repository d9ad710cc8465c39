/**
 * The daemon client (--via), which core provides in packages/core/src/client/.
 * Kept in one file so the rest of the CLI does not care where it comes from.
 */
import type { ScsiDevice } from '@usbscsi/core';
import { ErrorCodes, UsbScsiError } from '@usbscsi/core';

export async function connectVia(via: string, _options: { selector?: string; lun?: number }): Promise<ScsiDevice> {
  throw new UsbScsiError(ErrorCodes.UNSUPPORTED, `--via ${via}: this build has no daemon client yet; run without --via (or unset USBSCSI_VIA) to talk to the device directly.`);
}
