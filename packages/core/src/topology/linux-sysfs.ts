/**
 * Maps a USB mass-storage interface to what the Linux storage stack made of
 * it, by walking sysfs:
 *
 *   /sys/bus/usb/devices/1-2:1.0/driver            → ../../../../bus/usb/drivers/usb-storage
 *   /sys/bus/usb/devices/1-2:1.0/host3/target3:0:0/3:0:0:0/block/sda[/sda1]
 *   /sys/bus/usb/devices/1-2:1.0/host3/target3:0:0/3:0:0:0/scsi_generic/sg0
 *   /sys/bus/usb/devices/1-2:1.0/host3/target3:0:0/3:0:0:0/scsi_tape/st0, nst0
 *
 * and /proc/self/mountinfo for what is mounted (matched by device number,
 * `major:minor`, or by source path). Roots are injectable so that tests run
 * on a fake tree.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { StorageBinding } from '../usb/backend.js';
import { parseMountinfo, parseSwaps, remountOptions } from './mountinfo.js';
import type { DiskUser, MountedFilesystem } from './types.js';
import { locationOf, sysfsDeviceName } from '../usb/location.js';

export interface LinuxSysfsOptions {
  /** Default `/sys`. */
  sysfsRoot?: string;
  /** Default `/proc/self/mountinfo`. */
  mountinfoPath?: string;
  /** Where device nodes live; default `/dev`. */
  devRoot?: string;
  /** Active swap areas; default `/proc/swaps`. */
  swapsPath?: string;
}

/** Everything known about one interface: what the backends list and the handoff works on. */
export interface LinuxInterfaceStorage {
  /** `1-2:1.0` */
  interfaceId: string;
  interfaceNumber: number;
  interfaceClass: number;
  driver: string | null;
  scsiHost?: string;
  /** `/dev/sda` */
  wholeDisks: string[];
  /** `/dev/sda1` */
  partitions: string[];
  /** `/dev/sg0` */
  sgDevices: string[];
  /** `/dev/st0`, `/dev/nst0` (tape drives only). */
  tapeDevices?: string[];
  mounts: MountedFilesystem[];
  /** Device-mapper / md holders (sysfs `holders/`) and active swap on the disks. */
  otherUsers: DiskUser[];
}

const USB_CLASS_MASS_STORAGE = 0x08;

/** Linux USB device name for a bus-port path: `1-2.3` (root hub ports: `usb1`'s children). */
export function usbDeviceName(busNumber: number, portNumbers: number[]): string {
  return sysfsDeviceName({ busNumber, portNumbers });
}

/** Linux USB interface id: `1-2.3:1.0`. */
export function usbInterfaceId(
  busNumber: number,
  portNumbers: number[],
  configurationValue: number,
  interfaceNumber: number,
): string {
  return `${locationOf({ busNumber, portNumbers })}:${configurationValue}.${interfaceNumber}`;
}

/**
 * VID:PID (and serial, where the device has one) of the USB device at a bus-port path, from
 * sysfs `idVendor`, `idProduct`, `serial`; null when nothing is plugged in there.
 */
export async function readLinuxUsbIdentity(
  busNumber: number,
  portNumbers: number[],
  options: LinuxSysfsOptions = {},
): Promise<{ vendorId: number; productId: number; serialNumber?: string } | null> {
  const dir = join(options.sysfsRoot ?? '/sys', 'bus/usb/devices', usbDeviceName(busNumber, portNumbers));
  const [vendor, product, serial] = await Promise.all([
    readText(join(dir, 'idVendor')),
    readText(join(dir, 'idProduct')),
    readText(join(dir, 'serial')),
  ]);
  if (vendor === null || product === null) return null;
  return {
    vendorId: parseInt(vendor, 16),
    productId: parseInt(product, 16),
    ...(serial !== null ? { serialNumber: serial } : {}),
  };
}

/**
 * One {@link StorageBinding} per mass-storage interface (class 08) of the USB
 * device at `busNumber` / `portNumbers`, in interface order. Empty when the
 * device has none or is not there. Never throws for a missing or odd sysfs
 * entry: what cannot be read is left out.
 */
export async function linuxStorageBindings(
  busNumber: number,
  portNumbers: number[],
  options: LinuxSysfsOptions = {},
): Promise<StorageBinding[]> {
  const interfaces = await readLinuxDeviceStorage(busNumber, portNumbers, options);
  return interfaces
    .filter((iface) => iface.interfaceClass === USB_CLASS_MASS_STORAGE)
    .map((iface) => ({
      interfaceNumber: iface.interfaceNumber,
      driver: iface.driver,
      ...(iface.scsiHost ? { scsiHost: iface.scsiHost } : {}),
      blockDevices: iface.wholeDisks,
      sgDevices: iface.sgDevices,
      ...(iface.tapeDevices ? { tapeDevices: iface.tapeDevices } : {}),
      mounts: iface.mounts,
    }));
}

/** Every interface of the active configuration of a device, with its storage. */
export async function readLinuxDeviceStorage(
  busNumber: number,
  portNumbers: number[],
  options: LinuxSysfsOptions = {},
): Promise<LinuxInterfaceStorage[]> {
  const devicesDir = join(options.sysfsRoot ?? '/sys', 'bus/usb/devices');
  const prefix = `${locationOf({ busNumber, portNumbers })}:`;
  const names = (await listDir(devicesDir)).filter(
    (name) => name.startsWith(prefix) && /^\d+\.\d+$/.test(name.slice(prefix.length)),
  );
  const mountinfo = await readText(options.mountinfoPath ?? '/proc/self/mountinfo');
  const result: LinuxInterfaceStorage[] = [];
  for (const name of names) {
    const storage = await readInterface(join(devicesDir, name), name, mountinfo ?? '', options);
    if (storage) result.push(storage);
  }
  return result.sort((a, b) => a.interfaceNumber - b.interfaceNumber);
}

/** One interface by its id (`1-2:1.0`); null when sysfs has no such interface. */
export async function readLinuxInterfaceStorage(
  interfaceId: string,
  options: LinuxSysfsOptions = {},
): Promise<LinuxInterfaceStorage | null> {
  const dir = join(options.sysfsRoot ?? '/sys', 'bus/usb/devices', interfaceId);
  const mountinfo = await readText(options.mountinfoPath ?? '/proc/self/mountinfo');
  return readInterface(dir, interfaceId, mountinfo ?? '', options);
}

async function readInterface(
  dir: string,
  interfaceId: string,
  mountinfo: string,
  options: LinuxSysfsOptions,
): Promise<LinuxInterfaceStorage | null> {
  const devRoot = options.devRoot ?? '/dev';
  const interfaceNumber = parseInt((await readText(join(dir, 'bInterfaceNumber'))) ?? '', 16);
  if (Number.isNaN(interfaceNumber)) return null;
  const interfaceClass = parseInt((await readText(join(dir, 'bInterfaceClass'))) ?? '', 16);
  const driverLink = await readlink(join(dir, 'driver')).catch(() => null);
  const driver = driverLink ? basename(driverLink) : null;

  const hosts = (await listDir(dir)).filter((name) => /^host\d+$/.test(name));
  const disks: { name: string; dir: string }[] = [];
  const sg: string[] = [];
  const tapes: string[] = [];
  for (const host of hosts) await collectScsiNodes(join(dir, host), { disks, sg, tapes }, 0);

  const wholeDisks: string[] = [];
  const partitions: string[] = [];
  const byDeviceNumber = new Map<string, { node: string; wholeDisk: string }>();
  const byNode = new Map<string, string>();
  const otherUsers: DiskUser[] = [];
  const addHolders = async (sysDir: string, node: string) => {
    for (const holder of await listDir(join(sysDir, 'holders'))) otherUsers.push({ device: node, user: holder });
  };
  for (const disk of disks.sort((a, b) => compareNames(a.name, b.name))) {
    const node = join(devRoot, disk.name);
    wholeDisks.push(node);
    await addHolders(disk.dir, node);
    byNode.set(node, node);
    const diskDev = await readText(join(disk.dir, 'dev'));
    if (diskDev) byDeviceNumber.set(diskDev, { node, wholeDisk: node });
    const parts = [];
    for (const entry of await listDir(disk.dir)) {
      if (entry.startsWith(disk.name) && (await exists(join(disk.dir, entry, 'partition')))) parts.push(entry);
    }
    for (const part of parts.sort(compareNames)) {
      const partNode = join(devRoot, part);
      partitions.push(partNode);
      byNode.set(partNode, node);
      await addHolders(join(disk.dir, part), partNode);
      const partDev = await readText(join(disk.dir, part, 'dev'));
      if (partDev) byDeviceNumber.set(partDev, { node: partNode, wholeDisk: node });
    }
  }

  const mounts: MountedFilesystem[] = [];
  for (const entry of parseMountinfo(mountinfo)) {
    const match =
      byDeviceNumber.get(entry.majorMinor) ??
      (byNode.has(entry.source) ? { node: entry.source, wholeDisk: byNode.get(entry.source)! } : undefined);
    if (!match) continue;
    mounts.push({
      device: match.node,
      mountPoint: entry.mountPoint,
      fsType: entry.fsType,
      options: remountOptions(entry),
      wholeDisk: match.wholeDisk,
      ...(entry.root !== '/' ? { root: entry.root } : {}),
    });
  }

  for (const file of parseSwaps((await readText(options.swapsPath ?? '/proc/swaps')) ?? '')) {
    if (byNode.has(file)) otherUsers.push({ device: file, user: 'swap' });
  }

  return {
    interfaceId,
    interfaceNumber,
    interfaceClass,
    driver,
    ...(hosts[0] ? { scsiHost: hosts.sort(compareNames)[0] } : {}),
    wholeDisks,
    partitions,
    sgDevices: sg.sort(compareNames).map((name) => join(devRoot, name)),
    ...(tapes.length ? { tapeDevices: tapes.sort(compareNames).map((name) => join(devRoot, name)) } : {}),
    mounts,
    otherUsers,
  };
}

interface ScsiNodes {
  disks: { name: string; dir: string }[];
  sg: string[];
  tapes: string[];
}

/**
 * hostN → targetH:C:T → H:C:T:L → block/sdX (or srN), scsi_generic/sgN and scsi_tape/stN, nstN
 * (depth-bounded). Of a tape's nodes only the default mode is kept: st0l/st0m/st0a are the same
 * drive with other mode settings.
 */
async function collectScsiNodes(dir: string, found: ScsiNodes, depth: number): Promise<void> {
  if (depth > 4) return;
  for (const entry of await listDir(dir)) {
    if (entry === 'block') {
      for (const disk of await listDir(join(dir, entry))) found.disks.push({ name: disk, dir: join(dir, entry, disk) });
    } else if (entry === 'scsi_generic') {
      found.sg.push(...(await listDir(join(dir, entry))));
    } else if (entry === 'scsi_tape') {
      found.tapes.push(...(await listDir(join(dir, entry))).filter((name) => /^n?st\d+$/.test(name)));
    } else if (/^target\d+:\d+:\d+$/.test(entry) || /^\d+:\d+:\d+:\d+$/.test(entry)) {
      await collectScsiNodes(join(dir, entry), found, depth + 1);
    }
  }
}

/** `sdb` < `sdaa`, `sg2` < `sg10`. */
function compareNames(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

async function readText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').then(
    (text) => text.trim(),
    () => null,
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
