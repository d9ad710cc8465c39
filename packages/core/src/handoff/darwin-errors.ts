/**
 * Native macOS failures (IOReturn / DAReturn, already mapped to core's codes
 * by native/src/darwin/darwin_status.cc) → UsbScsiError with a message that
 * says what to do. Messages live here, not in C++, so they are unit-tested.
 */
import { ErrorCodes, UsbScsiError, type ErrorCode } from '../errors.js';
import type { DarwinNativeErrorFields } from '../topology/darwin-native.js';

/** How to get the privilege macOS wants for capture (and for unmounting someone else's volume). */
export const DARWIN_PERMISSION_FIX =
  'Run it as root (`sudo usbscsi …`, or the usbscsid daemon as a root LaunchDaemon), ' +
  'or, without root, sign the executable that loads the addon with the `com.apple.vm.device-access` entitlement: ' +
  ('Apple grants it per developer team on request; add it to an App ID, create a provisioning ' +
    'profile that includes it, ') +
  'embed the profile (Contents/embedded.provisionprofile of an app bundle), and ' +
  ('`codesign --force --options runtime --entitlements usbscsi.entitlements --sign "Developer ' +
    'ID Application: <team>" <app>` ') +
  ('with `<key>com.apple.vm.device-access</key><true/>` in usbscsi.entitlements. macOS ' +
    'then asks the user once to allow access to the device. ') +
  'See docs/macos.md.';

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

function codeOf(fields: Partial<DarwinNativeErrorFields>): ErrorCode {
  return fields.code && KNOWN_CODES.has(fields.code) ? (fields.code as ErrorCode) : ErrorCodes.IO;
}

export interface DarwinErrorContext {
  /** `05e3:0749 at 20-3 interface 0`. */
  device: string;
  /** Mount points of the disk an unmount/mount was about. */
  mountPoints?: string[];
}

/** One entry of `details.holders` for a DiskArbitration refusal. */
export interface DarwinDissenterHolder {
  bsdName?: string;
  status: number;
  statusName: string;
  statusString?: string;
  /** DiskArbitration's public API does not name the dissenting process. */
  pid: null;
}

function statusText(fields: Partial<DarwinNativeErrorFields>): string {
  const name = fields.osStatusName ?? 'unknown status';
  return fields.osStatus !== undefined ? `${name}, 0x${fields.osStatus.toString(16)}` : name;
}

/** `disk4 of 05e3:0749 at …`, or just `disk4` when the context is the disk itself. */
function diskText(fields: Partial<DarwinNativeErrorFields>, context: DarwinErrorContext): string {
  const disk = fields.bsdName ?? 'the disk';
  return fields.bsdName && fields.bsdName === context.device ? disk : `${disk} of ${context.device}`;
}

function busyUnmountMessage(fields: Partial<DarwinNativeErrorFields>, context: DarwinErrorContext): string {
  const where = context.mountPoints?.length
    ? context.mountPoints.join(', ')
    : `the volumes of ${fields.bsdName ?? 'the disk'}`;
  const said = fields.dissenter?.statusString ? ` It said: "${fields.dissenter.statusString}".` : '';
  const lsofTarget = context.mountPoints?.[0] ? `'${context.mountPoints[0]}'` : '/Volumes/<name>';
  return (
    `macOS refused to unmount ${diskText(fields, context)} (${statusText(fields)}): something ` +
    `is using ${where}.${said} ` +
    (`Nothing was unmounted. DiskArbitration does not name the process; find it with \`sudo ` +
      `lsof +f -- ${lsofTarget}\`. `) +
    ('Usual holders: Spotlight indexing (mds, mds_stores; `sudo mdutil -i off <mount point>` ' +
      'stops it), Time Machine (backupd; stop the backup), ') +
    'a Finder or Quick Look window, a terminal whose current directory is on the volume. Close it and try again.'
  );
}

/** Converts a rejection of a `DarwinNative` call. Errors that are already typed pass through. */
export function darwinError(err: unknown, context: DarwinErrorContext): UsbScsiError {
  if (err instanceof UsbScsiError) return err;
  const fields = (typeof err === 'object' && err !== null ? err : {}) as Partial<DarwinNativeErrorFields> & {
    message?: string;
  };
  const code = codeOf(fields);
  const native = fields.message ?? String(err);
  const details: Record<string, unknown> = {
    operation: fields.operation,
    osStatus: fields.osStatus,
    osStatusName: fields.osStatusName,
    bsdName: fields.bsdName,
    locationId: fields.locationId,
  };
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- drops the fields the helper left out
  for (const key of Object.keys(details)) if (details[key] === undefined) delete details[key];
  if (fields.dissenter) {
    const holder: DarwinDissenterHolder = {
      bsdName: fields.bsdName,
      status: fields.dissenter.status,
      statusName: fields.dissenter.statusName,
      pid: null,
    };
    if (fields.dissenter.statusString) holder.statusString = fields.dissenter.statusString;
    details.holders = [holder];
  }
  const options = { cause: err, details };
  const operation = fields.operation ?? 'macOS step';

  if (code === ErrorCodes.PERMISSION) {
    const what =
      operation === 'capture' || operation === 'release'
        ? `${operation === 'capture' ? 'Capturing' : 'Giving back'} ${context.device} needs root ` +
          `or the com.apple.vm.device-access entitlement (${statusText(fields)}).`
        : `DiskArbitration refused to ${operation} ${diskText(fields, context)} (${statusText(fields)}).`;
    return new UsbScsiError(code, `${what} ${DARWIN_PERMISSION_FIX}`, options);
  }
  if (code === ErrorCodes.BUSY && fields.dissenter && operation === 'unmount') {
    return new UsbScsiError(code, busyUnmountMessage(fields, context), options);
  }
  if (code === ErrorCodes.BUSY && operation === 'capture') {
    return new UsbScsiError(
      code,
      `macOS kept its driver on ${context.device} after the capture (${native}). Make sure ` +
        `no volume of the device is mounted (\`diskutil list\`), that no other program has ` +
        `the device open, and try again; if it persists, this macOS version does not let ` +
        `mass-storage drivers go on capture.`,
      options,
    );
  }
  if (code === ErrorCodes.BUSY) {
    return new UsbScsiError(
      code,
      `${context.device} is busy: ${native} (${statusText(fields)}). Another program holds it; close it and try again.`,
      options,
    );
  }
  if (code === ErrorCodes.DEVICE_GONE) {
    return new UsbScsiError(code, `${context.device} is gone: ${native}. Replug it and list devices again.`, options);
  }
  if (code === ErrorCodes.TIMEOUT) {
    return new UsbScsiError(code, `${context.device}: ${native}.`, options);
  }
  return new UsbScsiError(code, `${context.device}: ${native} (${statusText(fields)}).`, options);
}
