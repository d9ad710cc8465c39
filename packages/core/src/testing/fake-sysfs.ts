/**
 * Builds a fake Linux sysfs tree (and mountinfo) in a directory, shaped like
 * the real one for a USB stick on `usb-storage`, so that sysfs walking and
 * the Linux platform are tested without a kernel. Test support only.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hex } from '../hex.js';
import { locationOf, sysfsDeviceName } from '../usb/location.js';

export interface FakeUsbDisk {
  /** `sda` */
  name: string;
  /** `8:0` */
  dev: string;
  /** e.g. [{ name: 'sda1', dev: '8:1' }] */
  partitions?: { name: string; dev: string }[];
  /** `sg0` */
  sg?: string;
}

export interface FakeUsbInterface {
  busNumber: number;
  portNumbers: number[];
  configurationValue?: number;
  interfaceNumber: number;
  interfaceClass?: number;
  vendorId: number;
  productId: number;
  serialNumber?: string;
  /** Bound driver, or null. */
  driver: string | null;
  /** SCSI host number (`host3`). */
  host?: number;
  disks?: FakeUsbDisk[];
  /** Tape drives on LUN 1: `st0` gives scsi_tape/{st0,st0l,st0m,st0a,nst0,…} as the st driver makes them. */
  tapes?: { name: string; sg?: string }[];
}

export class FakeSysfs {
  readonly sysfsRoot: string;
  readonly mountinfoPath: string;
  readonly devRoot: string;

  constructor(readonly root: string) {
    this.sysfsRoot = join(root, 'sys');
    this.mountinfoPath = join(root, 'mountinfo');
    this.devRoot = join(root, 'dev');
    mkdirSync(join(this.sysfsRoot, 'bus/usb/devices'), { recursive: true });
    mkdirSync(this.devRoot, { recursive: true });
    writeFileSync(this.mountinfoPath, '22 27 0:21 / /proc rw,relatime - proc proc rw\n');
    for (const driver of ['usb-storage', 'uas', 'usbfs']) {
      const dir = join(this.sysfsRoot, 'bus/usb/drivers', driver);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'bind'), '');
      writeFileSync(join(dir, 'unbind'), '');
    }
  }

  deviceDir(busNumber: number, portNumbers: number[]): string {
    return join(this.sysfsRoot, 'bus/usb/devices', sysfsDeviceName({ busNumber, portNumbers }));
  }

  interfaceDir(
    iface: Pick<FakeUsbInterface, 'busNumber' | 'portNumbers' | 'configurationValue' | 'interfaceNumber'>,
  ): string {
    return join(
      this.sysfsRoot,
      'bus/usb/devices',
      `${locationOf(iface)}:${iface.configurationValue ?? 1}.${iface.interfaceNumber}`,
    );
  }

  /** Adds (or replaces) a device with one interface, its SCSI host, disks, partitions and /dev nodes. */
  addInterface(iface: FakeUsbInterface): void {
    const device = this.deviceDir(iface.busNumber, iface.portNumbers);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, 'idVendor'), `${hex(iface.vendorId, 4)}\n`);
    writeFileSync(join(device, 'idProduct'), `${hex(iface.productId, 4)}\n`);
    if (iface.serialNumber !== undefined) writeFileSync(join(device, 'serial'), `${iface.serialNumber}\n`);
    const dir = this.interfaceDir(iface);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bInterfaceNumber'), `${hex(iface.interfaceNumber)}\n`);
    writeFileSync(join(dir, 'bInterfaceClass'), `${hex(iface.interfaceClass ?? 8)}\n`);
    this.setDriver(iface, iface.driver);
    if (iface.driver === null) return;
    if (iface.disks) this.addDisks(iface, iface.host ?? 0, iface.disks);
    if (iface.tapes) this.addTapes(iface, iface.host ?? 0, iface.tapes);
  }

  addTapes(iface: FakeUsbInterface, host: number, tapes: { name: string; sg?: string }[]): void {
    const lun = join(this.interfaceDir(iface), `host${host}`, `target${host}:0:0`, `${host}:0:0:1`);
    for (const tape of tapes) {
      for (const mode of ['', 'l', 'm', 'a']) {
        for (const name of [`${tape.name}${mode}`, `n${tape.name}${mode}`]) {
          mkdirSync(join(lun, 'scsi_tape', name), { recursive: true });
          writeFileSync(join(this.devRoot, name), '');
        }
      }
      if (tape.sg) {
        mkdirSync(join(lun, 'scsi_generic', tape.sg), { recursive: true });
        writeFileSync(join(this.devRoot, tape.sg), '');
      }
    }
  }

  addDisks(iface: FakeUsbInterface, host: number, disks: FakeUsbDisk[]): void {
    const lun = join(this.interfaceDir(iface), `host${host}`, `target${host}:0:0`, `${host}:0:0:0`);
    for (const disk of disks) {
      const diskDir = join(lun, 'block', disk.name);
      mkdirSync(diskDir, { recursive: true });
      writeFileSync(join(diskDir, 'dev'), `${disk.dev}\n`);
      writeFileSync(join(this.devRoot, disk.name), '');
      for (const part of disk.partitions ?? []) {
        mkdirSync(join(diskDir, part.name), { recursive: true });
        writeFileSync(join(diskDir, part.name, 'dev'), `${part.dev}\n`);
        writeFileSync(join(diskDir, part.name, 'partition'), '1\n');
        writeFileSync(join(this.devRoot, part.name), '');
      }
      if (disk.sg) {
        mkdirSync(join(lun, 'scsi_generic', disk.sg), { recursive: true });
        writeFileSync(join(this.devRoot, disk.sg), '');
      }
    }
  }

  /** What the kernel does on unbind: the driver link and the SCSI host go away. */
  removeStorage(iface: FakeUsbInterface): void {
    this.setDriver(iface, null);
    const dir = this.interfaceDir(iface);
    rmSync(join(dir, `host${iface.host ?? 0}`), { recursive: true, force: true });
    for (const disk of iface.disks ?? []) {
      rmSync(join(this.devRoot, disk.name), { force: true });
      for (const part of disk.partitions ?? []) rmSync(join(this.devRoot, part.name), { force: true });
      if (disk.sg) rmSync(join(this.devRoot, disk.sg), { force: true });
    }
  }

  setDriver(
    iface: Pick<FakeUsbInterface, 'busNumber' | 'portNumbers' | 'configurationValue' | 'interfaceNumber'>,
    driver: string | null,
  ): void {
    const link = join(this.interfaceDir(iface), 'driver');
    rmSync(link, { force: true });
    if (driver) symlinkSync(`../../../../../bus/usb/drivers/${driver}`, link);
  }

  writeMountinfo(lines: string[]): void {
    writeFileSync(this.mountinfoPath, ['22 27 0:21 / /proc rw,relatime - proc proc rw', ...lines].join('\n') + '\n');
  }
}
