import { ErrorCodes, UsbScsiError, badInput } from './errors.js';
import {
  USB_CLASS_MASS_STORAGE,
  MSC_PROTOCOL_BOT,
  MSC_PROTOCOL_UAS,
  locationOf,
  type UsbDeviceInfo,
} from './usb/backend.js';
import { usbIdsOf } from './hex.js';
import { parseLocation, sameLocation } from './usb/location.js';

/** What a user typed to name a device, parsed. */
export type DeviceSelector =
  | { kind: 'ids'; vendorId: number; productId: number; serialNumber?: string }
  | { kind: 'location'; busNumber: number; portNumbers: number[] }
  | { kind: 'path'; path: string }
  | { kind: 'any' };

const HEX4 = /^(?:0x)?([0-9a-f]{1,4})$/i;

/**
 * Only `undefined` means "any device": an empty string is a selector that went missing
 * (`--device "$UNSET"`), and quietly taking whatever is plugged in could be the wrong disk.
 */
export function parseSelector(text: string | undefined): DeviceSelector {
  if (text === undefined) return { kind: 'any' };
  const trimmed = text.trim();
  if (trimmed === '')
    throw badInput(
      'the device selector is empty: name a device (VID:PID, bus-port, /dev/…), or give ' +
        'none to use the only visible one',
    );
  if (trimmed.startsWith('/dev/')) {
    // Whole disks, optical drives (sr), tape drives (st rewinds on close, nst does not) and their sg nodes.
    if (!/^\/dev\/(sd[a-z]+|sg\d+|sr\d+|n?st\d+|disk\d+|rdisk\d+)$/.test(trimmed)) {
      throw badInput(
        `'${trimmed}' is not a whole-disk, optical, tape or sg node: use /dev/sdX, /dev/srN, ` +
          `/dev/stN, /dev/nstN, /dev/sgN (Linux) or /dev/diskN (macOS)`,
      );
    }
    return { kind: 'path', path: trimmed };
  }
  const loc = parseLocation(trimmed);
  if (loc) return { kind: 'location', ...loc };
  const parts = trimmed.split(':');
  if (parts.length >= 2) {
    const vid = HEX4.exec(parts[0]!);
    const pid = HEX4.exec(parts[1]!);
    if (vid && pid) {
      const serial = parts.slice(2).join(':');
      return {
        kind: 'ids',
        vendorId: parseInt(vid[1]!, 16),
        productId: parseInt(pid[1]!, 16),
        ...(serial ? { serialNumber: serial } : {}),
      };
    }
  }
  throw badInput(
    `cannot read device selector '${text}': use VID:PID[:SERIAL] in hex (46f4:0001), ` +
      `a bus-port path (1-2.3), /dev/sdX, /dev/srN, /dev/stN, /dev/nstN or /dev/sgN (Linux), ` +
      `or /dev/diskN (macOS)`,
  );
}

export type MscProtocol = 'bot' | 'uas' | 'other';

export interface MassStorageInterface {
  interfaceNumber: number;
  protocols: MscProtocol[];
}

export interface MassStorageDeviceInfo extends UsbDeviceInfo {
  /** Bus-port path, e.g. `1-2.3`. */
  location: string;
  interfaces: MassStorageInterface[];
}

/** The mass-storage view of a USB device, or null if it has no class-08 interface. */
export function asMassStorage(device: UsbDeviceInfo): MassStorageDeviceInfo | null {
  const config = device.configurations[0];
  if (!config) return null;
  const byNumber = new Map<number, Set<MscProtocol>>();
  for (const i of config.interfaces) {
    if (i.interfaceClass !== USB_CLASS_MASS_STORAGE) continue;
    const set = byNumber.get(i.interfaceNumber) ?? new Set<MscProtocol>();
    set.add(
      i.interfaceProtocol === MSC_PROTOCOL_BOT ? 'bot' : i.interfaceProtocol === MSC_PROTOCOL_UAS ? 'uas' : 'other',
    );
    byNumber.set(i.interfaceNumber, set);
  }
  if (byNumber.size === 0) return null;
  return {
    ...device,
    location: locationOf(device),
    interfaces: [...byNumber].map(([interfaceNumber, protocols]) => ({ interfaceNumber, protocols: [...protocols] })),
  };
}

export function describeCandidate(d: UsbDeviceInfo): string {
  const ids = usbIdsOf(d);
  return `${ids}${d.serialNumber ? `:${d.serialNumber}` : ''} at ${locationOf(d)}${d.product ? ` (${d.product})` : ''}`;
}

/**
 * Picks exactly one device. Two identical disks share a VID:PID: a selector
 * that matches both is refused with the candidates listed, never guessed.
 */
export function selectDevice(devices: MassStorageDeviceInfo[], selector: DeviceSelector): MassStorageDeviceInfo {
  const matches = devices.filter((d) => matchesSelector(d, selector));
  if (matches.length === 1) return matches[0]!;
  const candidates = (matches.length ? matches : devices).map(describeCandidate);
  if (matches.length === 0) {
    throw new UsbScsiError(
      ErrorCodes.NOT_FOUND,
      devices.length === 0
        ? 'no USB mass-storage device is visible (check the cable, and permissions: run as root or add a udev rule)'
        : `no mass-storage device matches; visible: ${candidates.join('; ')}`,
      { details: { candidates } },
    );
  }
  throw new UsbScsiError(
    ErrorCodes.AMBIGUOUS,
    `${matches.length} devices match; pick one by serial (VID:PID:SERIAL) or bus-port path: ${candidates.join('; ')}`,
    { details: { candidates } },
  );
}

function matchesSelector(d: MassStorageDeviceInfo, s: DeviceSelector): boolean {
  switch (s.kind) {
    case 'any':
      return true;
    case 'ids':
      return (
        d.vendorId === s.vendorId &&
        d.productId === s.productId &&
        (s.serialNumber === undefined || d.serialNumber === s.serialNumber)
      );
    case 'location':
      return sameLocation(d, s);
    case 'path': {
      const name = s.path.replace(/^\/dev\//, '');
      const named = (p: string) => p === s.path || p === name || p.endsWith(`/${name}`);
      return (d.storage ?? []).some(
        (b) => b.blockDevices.some(named) || b.sgDevices.some(named) || (b.tapeDevices ?? []).some(named),
      );
    }
  }
}
