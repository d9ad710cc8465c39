import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSysfs, type FakeUsbInterface } from '../testing/fake-sysfs.js';
import {
  linuxMountsOfNode,
  linuxMountsOfUsbDevice,
  claimDisk,
  linuxMediumWriteClaim,
  probeDiskClaim,
  type DiskClaim,
  type WriteClaimOptions,
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

describe('the claim taken before an SG_IO write (linuxMediumWriteClaim)', () => {
  let root: string;
  let sysfs: FakeSysfs;
  let claims: string[];
  let released: string[];
  let claimAnswer: DiskClaim;
  let options: WriteClaimOptions & { sysfsRoot: string; mountinfoPath: string; devRoot: string; swapsPath: string };
  const stickMounted = () => `100 29 8:17 / /media/stick rw,relatime - vfat ${sysfs.devRoot}/sdb1 rw`;
  const rootfs = () => `101 29 8:1 / / rw,relatime - ext4 ${sysfs.devRoot}/sda1 rw`;
  const stickMount = () => ({ device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/stick', fsType: 'vfat' });

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
    released = [];
    claimAnswer = 'free';
    const swapsPath = join(root, 'swaps');
    writeFileSync(swapsPath, 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n');
    options = {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
      devRoot: sysfs.devRoot,
      swapsPath,
      claim: (node) => {
        claims.push(node);
        const state = claimAnswer;
        return { state, release: () => (state === 'free' ? released.push(node) : undefined) };
      },
    };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('runs the full check first, then answers from the claim and mountinfo while the disk is free', async () => {
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    const take = linuxMediumWriteClaim({ path: `${sysfs.devRoot}/sg1` }, options);
    expect((await take()).mounts).toEqual([stickMount()]);
    expect(claims).toEqual([]); // nothing known yet: the full check
    sysfs.writeMountinfo([rootfs()]); // unmounted
    const claim = await take();
    expect([claim.mounts, claim.heldBy]).toEqual([[], []]);
    expect(claims).toEqual([`${sysfs.devRoot}/sdb`]);
    claim.release();
    // Mounted again by a filesystem that did not claim the disk (FUSE): mountinfo names it.
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    expect((await take()).mounts).toEqual([stickMount()]);
  });

  it('keeps the disk claimed until release(); lets it go at once when the write is refused', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const take = linuxMediumWriteClaim({ path: `${sysfs.devRoot}/sdb` }, options);
    const first = await take(); // the full check, then the claim
    expect(claims).toEqual([`${sysfs.devRoot}/sdb`]);
    expect(released).toEqual([]);
    first.release();
    first.release();
    expect(released).toEqual([`${sysfs.devRoot}/sdb`]);
    // Claimed, then mountinfo names the disk (FUSE): the claim is given back with the refusal.
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    const refused = await take();
    expect(refused.mounts).toEqual([stickMount()]);
    expect(released).toEqual([`${sysfs.devRoot}/sdb`, `${sysfs.devRoot}/sdb`]);
  });

  it('skips sysfs only while the kernel grants the claim: busy or unknown runs the full check', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const take = linuxMediumWriteClaim({ busNumber: 1, portNumbers: [4] }, options);
    expect((await take()).mounts).toEqual([]);
    // A mount the full check finds by device number only (mounted by another name): the quick
    // check cannot see it, and does not need to, since such a mount holds the claim.
    sysfs.writeMountinfo([`100 29 8:17 / /media/x rw - vfat /dev/disk/by-label/X rw`, rootfs()]);
    expect((await take()).mounts).toEqual([]);
    claimAnswer = 'busy';
    const mountX = { device: `${sysfs.devRoot}/sdb1`, mountPoint: '/media/x', fsType: 'vfat' };
    expect(await take()).toMatchObject({ mounts: [mountX], heldBy: [] });
    claimAnswer = 'unknown';
    expect((await take()).mounts).toEqual([mountX]);
    expect(claims).toEqual(Array(4).fill(`${sysfs.devRoot}/sdb`));
  });

  it('claim refused, nothing mounted: who holds the disk (md, dm, swap, or an exclusive open)', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const take = linuxMediumWriteClaim({ path: `${sysfs.devRoot}/sdb` }, options);
    (await take()).release();
    claimAnswer = 'busy';
    const unnamed = await take();
    expect(unnamed).toMatchObject({ mounts: [], heldBy: [{ device: `${sysfs.devRoot}/sdb` }] });
    expect(unnamed.heldBy[0]!.user).toMatch(/exclusive open/);
    const block = join(sysfs.sysfsRoot, 'class/block/sdb');
    mkdirSync(join(block, 'holders/md127'), { recursive: true });
    mkdirSync(join(block, 'sdb1/holders/dm-0'), { recursive: true });
    writeFileSync(
      options.swapsPath,
      'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' +
        `${sysfs.devRoot}/sdb1                               partition\t1048572\t\t0\t\t-2\n` +
        `${sysfs.devRoot}/sdba                               partition\t1048572\t\t0\t\t-3\n`,
    );
    expect((await take()).heldBy).toEqual([
      { device: `${sysfs.devRoot}/sdb`, user: 'md127' },
      { device: `${sysfs.devRoot}/sdb1`, user: 'dm-0' },
      { device: `${sysfs.devRoot}/sdb1`, user: 'swap' },
    ]);
    expect(released).toEqual([`${sysfs.devRoot}/sdb`]);
  });

  it('with no disk found (an sg node with no medium yet) the full check runs every time', async () => {
    sysfs.writeMountinfo([rootfs()]);
    const take = linuxMediumWriteClaim({ path: `${sysfs.devRoot}/sg7` }, options);
    expect((await take()).mounts).toEqual([]);
    // The card goes in and is mounted: found, since nothing was taken for granted.
    mkdirSync(join(sysfs.sysfsRoot, 'class/scsi_generic/sg7/device/block/sdc'), { recursive: true });
    sysfs.writeMountinfo([`102 29 8:33 / /media/card rw - vfat ${sysfs.devRoot}/sdc1 rw`, rootfs()]);
    expect((await take()).mounts).toEqual([
      { device: `${sysfs.devRoot}/sdc1`, mountPoint: '/media/card', fsType: 'vfat' },
    ]);
    expect(claims).toEqual([]);
  });

  it('with mountTableChanged, mountinfo is kept open and read again only when the kernel says it changed', async () => {
    const { fstatSync } = await import('node:fs');
    sysfs.writeMountinfo([rootfs()]);
    let changed = false;
    const polled: number[] = [];
    const take = linuxMediumWriteClaim(
      { path: `${sysfs.devRoot}/sdb` },
      {
        ...options,
        mountTableChanged: (fd) => {
          polled.push(fd);
          return changed;
        },
      },
    );
    (await take()).release(); // the full check, then the table opened and read
    expect(polled).toEqual([]);
    // A filesystem that names the disk without claiming it (FUSE), with no change reported: the
    // table read at open stands, so nothing is seen. This is what trusting the poll means.
    sysfs.writeMountinfo([stickMounted(), rootfs()]);
    expect((await take()).mounts).toEqual([]);
    expect(polled.length).toBe(1);
    changed = true; // what the kernel reports after a mount
    expect((await take()).mounts).toEqual([stickMount()]);
    expect(polled.length).toBe(2);
    const fd = polled[0]!;
    expect(fstatSync(fd).isFile()).toBe(true);
    take.close();
    take.close();
    expect(() => fstatSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    // Closed, it opens the table again at the next claim.
    changed = false;
    sysfs.writeMountinfo([rootfs()]);
    expect((await take()).mounts).toEqual([]);
    expect(polled.length).toBe(2);
    take.close();
  });

  it('probeDiskClaim: a node that cannot be opened is unknown, one that can is free', () => {
    const file = join(root, 'plain');
    writeFileSync(file, '');
    expect(probeDiskClaim(join(root, 'absent'))).toBe('unknown');
    expect(probeDiskClaim(file)).toBe('free');
    const held = claimDisk(file);
    expect(held.state).toBe('free');
    held.release();
    held.release();
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
