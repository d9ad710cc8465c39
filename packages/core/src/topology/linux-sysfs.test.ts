import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeSysfs, type FakeUsbInterface } from '../testing/fake-sysfs.js';
import { linuxStorageBindings, readLinuxDeviceStorage, usbInterfaceId } from './linux-sysfs.js';
import { parseMountinfo, remountOptions, unescapeMountinfo } from './mountinfo.js';
import { asMassStorage, parseSelector, selectDevice } from '../select.js';
import { BOT_DEVICE } from '../../test/scripted-handle.js';

describe('mountinfo', () => {
  it('parses fields, optional fields and octal escapes', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '100 29 8:1 / /media/me/MY\\040STICK rw,nosuid,nodev,relatime shared:50 propagation_from:2 ' +
        '- vfat /dev/sda1 rw,fmask=0022,dmask=0022,codepage=437',
      '101 29 8:2 / /mnt/tab\\011and\\134back rw - ext4 /dev/sda2 rw',
      'garbage line without separator',
    ].join('\n');
    const entries = parseMountinfo(text);
    expect(entries).toHaveLength(3);
    expect(entries[0]).toEqual({
      mountId: 36,
      parentId: 35,
      majorMinor: '98:0',
      root: '/mnt1',
      mountPoint: '/mnt/parent',
      mountOptions: 'rw,noatime',
      optionalFields: ['master:1'],
      fsType: 'ext3',
      source: '/dev/root',
      superOptions: 'rw,errors=continue',
    });
    expect(entries[1]!.mountPoint).toBe('/media/me/MY STICK');
    expect(entries[1]!.optionalFields).toEqual(['shared:50', 'propagation_from:2']);
    expect(entries[1]!.fsType).toBe('vfat');
    expect(entries[2]!.mountPoint).toBe('/mnt/tab\tand\\back');
    expect(unescapeMountinfo('a\\012b')).toBe('a\nb');
  });

  it(
    'builds remount options: per-mount first, superblock options added once, rw/ro not ' + 'doubled, seclabel dropped',
    () => {
      expect(
        remountOptions({
          mountOptions: 'ro,nosuid,relatime',
          superOptions: 'rw,seclabel,fmask=0022,errors=remount-ro',
        }),
      ).toBe('ro,nosuid,relatime,fmask=0022,errors=remount-ro');
    },
  );
});

describe('linuxStorageBindings on a fake sysfs tree', () => {
  let root: string;
  let sysfs: FakeSysfs;
  const stick: FakeUsbInterface = {
    busNumber: 1,
    portNumbers: [2, 3],
    interfaceNumber: 0,
    vendorId: 0x46f4,
    productId: 0x0001,
    serialNumber: 'S1',
    driver: 'usb-storage',
    host: 3,
    disks: [
      {
        name: 'sda',
        dev: '8:0',
        sg: 'sg0',
        partitions: [
          { name: 'sda1', dev: '8:1' },
          { name: 'sda2', dev: '8:2' },
        ],
      },
    ],
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'usbscsi-sysfs-'));
    sysfs = new FakeSysfs(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds driver, host, disk, partitions, sg node and the mounts (by device number and by source)', async () => {
    sysfs.addInterface(stick);
    sysfs.writeMountinfo([
      '100 29 8:1 / /media/me/MY\\040STICK rw,nosuid,relatime shared:50 - vfat /dev/sda1 rw,fmask=0022',
      // a bind mount of sda2 elsewhere, found by its device number even though the source reads differently
      '101 29 8:2 /sub /srv/data rw,relatime - ext4 /dev/disk/by-label/DATA rw',
      '102 29 8:17 / /mnt/other rw - ext4 /dev/sdb1 rw',
    ]);
    const bindings = await linuxStorageBindings(1, [2, 3], {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
    });
    expect(bindings).toEqual([
      {
        interfaceNumber: 0,
        driver: 'usb-storage',
        scsiHost: 'host3',
        blockDevices: ['/dev/sda'],
        sgDevices: ['/dev/sg0'],
        mounts: [
          {
            device: '/dev/sda1',
            mountPoint: '/media/me/MY STICK',
            fsType: 'vfat',
            options: 'rw,nosuid,relatime,fmask=0022',
            wholeDisk: '/dev/sda',
          },
          {
            device: '/dev/sda2',
            mountPoint: '/srv/data',
            fsType: 'ext4',
            options: 'rw,relatime',
            wholeDisk: '/dev/sda',
            root: '/sub',
          },
        ],
      },
    ]);
    const [detail] = await readLinuxDeviceStorage(1, [2, 3], {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
    });
    expect(detail!.partitions).toEqual(['/dev/sda1', '/dev/sda2']);
    expect(detail!.interfaceId).toBe('1-2.3:1.0');
  });

  it(
    'finds an optical drive (srN, a block device) and a tape drive (stN / nstN, default ' +
      'mode only) with their sg nodes',
    async () => {
      sysfs.addInterface({
        busNumber: 2,
        portNumbers: [1],
        interfaceNumber: 0,
        vendorId: 0x46f4,
        productId: 0x0001,
        driver: 'usb-storage',
        host: 4,
        disks: [{ name: 'sr0', dev: '11:0', sg: 'sg1' }],
        tapes: [{ name: 'st0', sg: 'sg2' }],
      });
      sysfs.writeMountinfo(['110 29 11:0 / /media/cdrom ro,relatime - iso9660 /dev/sr0 ro']);
      const [binding] = await linuxStorageBindings(2, [1], {
        sysfsRoot: sysfs.sysfsRoot,
        mountinfoPath: sysfs.mountinfoPath,
      });
      expect(binding).toMatchObject({
        blockDevices: ['/dev/sr0'],
        sgDevices: ['/dev/sg1', '/dev/sg2'],
        tapeDevices: ['/dev/st0', '/dev/nst0'],
      });
      expect(binding!.mounts).toEqual([
        {
          device: '/dev/sr0',
          mountPoint: '/media/cdrom',
          fsType: 'iso9660',
          options: 'ro,relatime',
          wholeDisk: '/dev/sr0',
        },
      ]);
      // Each node found there selects the device; the same nodes under another device do not.
      const usb = asMassStorage({
        ...structuredClone(BOT_DEVICE),
        busNumber: 2,
        portNumbers: [1],
        storage: [binding!],
      })!;
      const other = asMassStorage({
        ...structuredClone(BOT_DEVICE),
        id: 'other',
        busNumber: 3,
        portNumbers: [1],
        storage: [],
      })!;
      for (const node of ['/dev/sr0', '/dev/st0', '/dev/nst0', '/dev/sg2'])
        expect(selectDevice([other, usb], parseSelector(node)), node).toBe(usb);
      expect(() => selectDevice([other, usb], parseSelector('/dev/nst1'))).toThrow(/no mass-storage device matches/);
    },
  );

  it('reports a detached interface as driver null with no disks, and skips non-storage interfaces', async () => {
    sysfs.addInterface({ ...stick, driver: null });
    sysfs.addInterface({ ...stick, interfaceNumber: 1, interfaceClass: 0x03, driver: 'usbhid', disks: [] });
    const bindings = await linuxStorageBindings(1, [2, 3], {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
    });
    expect(bindings).toEqual([{ interfaceNumber: 0, driver: null, blockDevices: [], sgDevices: [], mounts: [] }]);
  });

  it('does not confuse 1-2 with 1-2.3, and returns [] for an absent device or unreadable roots', async () => {
    sysfs.addInterface(stick);
    expect(
      await linuxStorageBindings(1, [2], { sysfsRoot: sysfs.sysfsRoot, mountinfoPath: sysfs.mountinfoPath }),
    ).toEqual([]);
    expect(
      await linuxStorageBindings(2, [2, 3], { sysfsRoot: sysfs.sysfsRoot, mountinfoPath: sysfs.mountinfoPath }),
    ).toEqual([]);
    expect(
      await linuxStorageBindings(1, [2, 3], { sysfsRoot: join(root, 'nope'), mountinfoPath: join(root, 'nope') }),
    ).toEqual([]);
  });

  it('finds users other than mounts: device-mapper / md holders and active swap', async () => {
    sysfs.addInterface(stick);
    const lun = join(sysfs.interfaceDir(stick), 'host3/target3:0:0/3:0:0:0/block/sda');
    mkdirSync(join(lun, 'sda1', 'holders', 'dm-0'), { recursive: true });
    mkdirSync(join(lun, 'holders', 'md127'), { recursive: true });
    const swaps = join(root, 'swaps');
    writeFileSync(
      swaps,
      'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda2                     ' +
        '          partition\t1048572\t\t0\t\t-2\n/dev/sdb1 partition 1 0 -3\n',
    );
    const [detail] = await readLinuxDeviceStorage(1, [2, 3], {
      sysfsRoot: sysfs.sysfsRoot,
      mountinfoPath: sysfs.mountinfoPath,
      swapsPath: swaps,
    });
    expect(detail!.otherUsers).toEqual([
      { device: '/dev/sda', user: 'md127' },
      { device: '/dev/sda1', user: 'dm-0' },
      { device: '/dev/sda2', user: 'swap' },
    ]);
  });

  it('names interfaces like the kernel', () => {
    expect(usbInterfaceId(1, [2], 1, 0)).toBe('1-2:1.0');
    expect(usbInterfaceId(3, [1, 4, 2], 2, 1)).toBe('3-1.4.2:2.1');
  });
});
