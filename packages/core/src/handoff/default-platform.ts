/**
 * The handoff platform of the running OS: `linux.ts`, or `darwin.ts`
 * (`createDarwinPlatform()`). darwin.ts is imported when asked for because it
 * imports lease.ts, which imports this module; the addon it needs loads on its
 * first call either way (topology/darwin-native.ts).
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { createLinuxPlatform } from './linux.js';
import type { HandoffPlatform } from './platform.js';

export async function defaultHandoffPlatform(platform: NodeJS.Platform = process.platform): Promise<HandoffPlatform> {
  if (platform === 'linux') return createLinuxPlatform();
  if (platform === 'darwin') {
    const path = './darwin.js';
    let mod: { createDarwinPlatform?: () => HandoffPlatform | Promise<HandoffPlatform> };
    try {
      mod = (await import(/* @vite-ignore */ path)) as typeof mod;
    } catch (err) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `The macOS handoff is not available in this build (${(err as Error).message}).`,
        { cause: err },
      );
    }
    if (typeof mod.createDarwinPlatform !== 'function') {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        'The macOS handoff module does not export createDarwinPlatform().',
      );
    }
    return mod.createDarwinPlatform();
  }
  throw new UsbScsiError(
    ErrorCodes.UNSUPPORTED,
    `No handoff on ${platform}: the OS keeps the disk. On Windows use SCSI pass-through (no handoff needed).`,
    { details: { platform } },
  );
}
