import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSysfs, type FakeUsbInterface } from '../testing/fake-sysfs.js';
import { linuxMountsOfNode, linuxMountsOfUsbDevice } from './linux-node-mounts.js';
import { readLinuxUsbIdentity } from './linux-sysfs.js';

describe('mounts of the disk behind an SG_IO node', () => {
  let root: string;
  let sysfs: FakeSysfs;
  const stick: FakeUsbInterface = {
    busNumber: 1,
    portNumbers: [4],
    interfaceNumber: 0,
    vendorId: 0x46f4,
    productId: 0x0001,
    serialNumber: 'S1',
    driver: 'usb-storage',
    host: 3,
    disks: [{ name: 'sdb', dev: '8:16', sg: 'sg1', partitions: [{ name: 'sdb1', dev: '8:17' }] }],
  };
  let options: { sysfsRoot: string; mountinfoPath: string; devRoot: string };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'usbscsi-node-mounts-'));
    sysfs = new FakeSysfs(root);
    sysfs.addInterface(stick);
    // /sys/class/scsi_generic/sg1/device is the SCSI device, whose block/ names its disk.
    mkdirSync(join(sysfs.sysfsRoot, 'class/scsi_generic/sg1/device/block/sdb'), { recursive: true });
    options = { sysfsRoot: sysfs.sysfsRoot, mountinfoPath: sysfs.mountinfoPath, devRoot: sysfs.devRoot };
    sysfs.writeMountinfo([
      `100 29 8:17 / /media/stick rw,relatime - vfat ${sysfs.devRoot}/sdb1 rw`,
      `101 29 8:1 / / rw,relatime - ext4 ${sysfs.devRoot}/sda1 rw`,
      `102 29 8:161 / /mnt/other rw - ext4 ${sysfs.devRoot}/sdba1 rw`,
    ]);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("a whole-disk node: its own and its partitions' mounts, not a disk whose name starts the same", async () => {
    expect(await linuxMountsOfNode(`${sysfs.devRoot}/sdb`, options)).toEqual([
      { device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' },
    ]);
  });

  it('an sg node: the mounts of the disk its SCSI device carries', async () => {
    expect(await linuxMountsOfNode(`${sysfs.devRoot}/sg1`, options)).toEqual([
      { device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' },
    ]);
  });

  it('an sg node with no disk (a tape, a card reader with no card) has none', async () => {
    expect(await linuxMountsOfNode(`${sysfs.devRoot}/sg7`, options)).toEqual([]);
  });

  it('a USB device: the mounts of every disk of its mass-storage interfaces', async () => {
    expect(await linuxMountsOfUsbDevice(1, [4], options)).toEqual([
      { device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' },
    ]);
  });
});

describe('the USB device at a bus-port path', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'usbscsi-identity-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads VID:PID and serial, and null where nothing is plugged in', async () => {
    const sysfs = new FakeSysfs(root);
    sysfs.addInterface({
      busNumber: 2,
      portNumbers: [1, 3],
      interfaceNumber: 0,
      vendorId: 0x0781,
      productId: 0x5567,
      serialNumber: 'ABC',
      driver: null,
    });
    sysfs.addInterface({
      busNumber: 2,
      portNumbers: [2],
      interfaceNumber: 0,
      vendorId: 0x46f4,
      productId: 0x0001,
      driver: null,
    });
    expect(await readLinuxUsbIdentity(2, [1, 3], { sysfsRoot: sysfs.sysfsRoot })).toEqual({
      vendorId: 0x0781,
      productId: 0x5567,
      serialNumber: 'ABC',
    });
    expect(await readLinuxUsbIdentity(2, [2], { sysfsRoot: sysfs.sysfsRoot })).toEqual({
      vendorId: 0x46f4,
      productId: 0x0001,
    });
    expect(await readLinuxUsbIdentity(2, [9], { sysfsRoot: sysfs.sysfsRoot })).toBeNull();
  });
});
