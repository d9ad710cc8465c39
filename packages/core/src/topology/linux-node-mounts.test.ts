import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSysfs, type FakeUsbInterface } from '../testing/fake-sysfs.js';
import {
  linuxMountsOfNode,
  linuxMountsOfUsbDevice,
  linuxWriteMountCheck,
  probeDiskClaim,
  type DiskClaim,
} from './linux-node-mounts.js';
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

describe('the mount check before each SG_IO write (linuxWriteMountCheck)', () => {
  let root: string;
  let sysfs: FakeSysfs;
  let claims: string[];
  let claimAnswer: DiskClaim;
  let options: { sysfsRoot: string; mountinfoPath: string; devRoot: string; claim: (node: string) => DiskClaim };
  const stickMounted = () => `100 29 8:17 / /media/stick rw,relatime - vfat ${sysfs.devRoot}/sdb1 rw`;
  const rootfs = () => `101 29 8:1 / / rw,relatime - ext4 ${sysfs.devRoot}/sda1 rw`;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'usbscsi-write-check-'));
    sysfs = new FakeSysfs(root);
    sysfs.addInterface({
      busNumber: 1,
      portNumbers: [4],
      interfaceNumber: 0,
      vendorId: 0x46f4,
      productId: 0x0001,
      driver: 'usb-storage',
      host: 3,
      disks: [{ name: 'sdb', dev: '8:16', sg: 'sg1', partitions: [{ name: 'sdb1', dev: '8:17' }] }],
    });
    mkdirSync(join(sysfs.sysfsRoot, 'class/scsi_generic/sg1/device/block/sdb'), { recursive: true });
    claims = [];
    claimAnswer = 'free';
    options = {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
      devRoot: sysfs.devRoot,
      claim: (node) => {
        claims.push(node);
        return claimAnswer;
      },
    };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('runs the full check first, then answers from the claim and mountinfo while the disk is free', async () => {
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    const check = linuxWriteMountCheck({ path: `${sysfs.devRoot}/sg1` }, options);
    expect(await check()).toEqual([{ device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' }]);
    expect(claims).toEqual([]); // nothing known yet: the full check
    sysfs.writeMountinfo([rootfs()]); // unmounted
    expect(await check()).toEqual([]);
    expect(claims).toEqual([`${sysfs.devRoot}/sdb`]);
    // Mounted again by a filesystem that did not claim the disk (FUSE): mountinfo names it.
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    expect(await check()).toEqual([{ device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' }]);
  });

  it('skips sysfs only while the kernel grants the claim: busy or unknown runs the full check', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const check = linuxWriteMountCheck({ busNumber: 1, portNumbers: [4] }, options);
    expect(await check()).toEqual([]);
    // A mount the full check finds by device number only (mounted by another name): the quick
    // check cannot see it, and does not need to, since such a mount holds the claim.
    sysfs.writeMountinfo([`100 29 8:17 / /media/x rw - vfat /dev/disk/by-label/X rw`, rootfs()]);
    expect(await check()).toEqual([]);
    claimAnswer = 'busy';
    expect(await check()).toEqual([{ device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/x', fsType: 'vfat' }]);
    claimAnswer = 'unknown';
    expect(await check()).toEqual([{ device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/x', fsType: 'vfat' }]);
    expect(claims).toEqual([`${sysfs.devRoot}/sdb`, `${sysfs.devRoot}/sdb`, `${sysfs.devRoot}/sdb`]);
  });

  it('with no disk found (an sg node with no medium yet) the full check runs every time', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const check = linuxWriteMountCheck({ path: `${sysfs.devRoot}/sg7` }, options);
    expect(await check()).toEqual([]);
    // The card goes in and is mounted: found, since nothing was taken for granted.
    mkdirSync(join(sysfs.sysfsRoot, 'class/scsi_generic/sg7/device/block/sdc'), { recursive: true });
    sysfs.writeMountinfo([`102 29 8:33 / /media/card rw - vfat ${sysfs.devRoot}/sdc1 rw`, rootfs()]);
    expect(await check()).toEqual([{ device: `${sysfs.devRoot}/sdc1`, mountPoint: '/media/card', fsType: 'vfat' }]);
    expect(claims).toEqual([]);
  });

  it('probeDiskClaim: a node that cannot be opened is unknown, one that can is free', () => {
    const file = join(root, 'plain');
    writeFileSync(file, '');
    expect(probeDiskClaim(join(root, 'absent'))).toBe('unknown');
    expect(probeDiskClaim(file)).toBe('free');
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
