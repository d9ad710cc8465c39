import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { FakeSysfs, type FakeUsbInterface } from '../testing/fake-sysfs.js';
import { LeaseJournal } from './journal.js';
import { acquireLease } from './lease.js';
import { createLinuxPlatform, findHolders, type CommandResult, type CommandRunner } from './linux.js';
import type { HandoffPlatform, LeaseDevice, StepOptions } from './platform.js';
import { LeaseRegistry } from './registry.js';

let root: string;
let sysfs: FakeSysfs;
let commands: string[];
let answers: Map<string, CommandResult>;
let platform: HandoffPlatform;

const stick: FakeUsbInterface = {
  busNumber: 1,
  portNumbers: [2],
  interfaceNumber: 0,
  vendorId: 0x46f4,
  productId: 0x0001,
  serialNumber: 'S1',
  driver: 'usb-storage',
  host: 0,
  disks: [{ name: 'sda', dev: '8:0', sg: 'sg0', partitions: [{ name: 'sda1', dev: '8:1' }] }],
};
const device: LeaseDevice = {
  vendorId: 0x46f4,
  productId: 0x0001,
  serialNumber: 'S1',
  busNumber: 1,
  portNumbers: [2],
  interfaceNumber: 0,
};
const MOUNT_LINE = '100 29 8:1 / /media/my\\040stick rw,nosuid,relatime shared:50 - vfat /dev/sda1 rw,fmask=0022';
const step = (): StepOptions => ({ signal: new AbortController().signal, timeoutMs: 1000 });

/** A runner that records commands and, unless told otherwise, does what umount/mount would to mountinfo. */
const runner: CommandRunner = async (command, args) => {
  const line = [command, ...args].join(' ');
  commands.push(line);
  const answer = answers.get(command);
  if (answer) return answer;
  if (command === 'umount') sysfs.writeMountinfo([]);
  if (command === 'mount') sysfs.writeMountinfo([MOUNT_LINE]);
  return { code: 0, stdout: '', stderr: '' };
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'usbscsi-linux-'));
  sysfs = new FakeSysfs(root);
  sysfs.addInterface({ ...stick, disks: stick.disks!.map((d) => ({ ...d, name: d.name })) });
  commands = [];
  answers = new Map();
  platform = createLinuxPlatform({
    sysfsRoot: sysfs.sysfsRoot,
    mountinfoPath: sysfs.mountinfoPath,
    devRoot: sysfs.devRoot,
    procRoot: join(root, 'proc'),
    run: runner,
    pollIntervalMs: 5,
  });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const dev = (name: string) => join(root, 'dev', name);

describe('Linux handoff platform on a fake sysfs', () => {
  it('describes the interface: driver, disks, partitions, mounts with remount options', async () => {
    sysfs.writeMountinfo([MOUNT_LINE]);
    expect(await platform.describe(device, step())).toEqual({
      driver: 'usb-storage',
      wholeDisks: [dev('sda')],
      partitions: [dev('sda1')],
      mounts: [
        {
          device: dev('sda1'),
          mountPoint: '/media/my stick',
          fsType: 'vfat',
          options: 'rw,nosuid,relatime,fmask=0022',
          wholeDisk: dev('sda'),
        },
      ],
      otherUsers: [],
    });
  });

  it(
    'says E_DEVICE_GONE when the port is empty or holds another device, E_NOT_FOUND for ' + 'a missing interface',
    async () => {
      const gone = await platform.describe({ ...device, portNumbers: [9] }, step()).catch((e: UsbScsiError) => e);
      expect((gone as UsbScsiError).code).toBe(ErrorCodes.DEVICE_GONE);
      const other = await platform.describe({ ...device, serialNumber: 'OTHER' }, step()).catch((e: UsbScsiError) => e);
      expect((other as UsbScsiError).code).toBe(ErrorCodes.DEVICE_GONE);
      expect((other as UsbScsiError).message).toContain('serial S1');
      const wrongVid = await platform.describe({ ...device, vendorId: 0x1234 }, step()).catch((e: UsbScsiError) => e);
      expect((wrongVid as UsbScsiError).code).toBe(ErrorCodes.DEVICE_GONE);
      const noIface = await platform.describe({ ...device, interfaceNumber: 3 }, step()).catch((e: UsbScsiError) => e);
      expect((noIface as UsbScsiError).code).toBe(ErrorCodes.NOT_FOUND);
    },
  );

  it(
    'detaches by writing the interface id to the driver unbind file, attaches through ' + 'bind (only when not bound)',
    async () => {
      const storage = await platform.describe(device, step());
      const detached = await platform.detachDriver(device, storage, step());
      expect(detached).toEqual({ driver: 'usb-storage', target: '1-2:1.0' });
      expect(readFileSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/unbind'), 'utf8')).toBe('1-2:1.0');

      // Still bound (the fake kernel did not act): attach writes nothing.
      await platform.attachDriver(device, detached, step());
      expect(readFileSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/bind'), 'utf8')).toBe('');
      sysfs.removeStorage(stick);
      await platform.attachDriver(device, detached, step());
      expect(readFileSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/bind'), 'utf8')).toBe('1-2:1.0');
    },
  );

  it('refuses to attach over a usbfs claim (E_BUSY) or to a replaced device (E_DEVICE_GONE)', async () => {
    sysfs.setDriver(stick, 'usbfs');
    const busy = await platform
      .attachDriver(device, { driver: 'usb-storage', target: '1-2:1.0' }, step())
      .catch((e: UsbScsiError) => e);
    expect((busy as UsbScsiError).code).toBe(ErrorCodes.BUSY);
    expect((busy as UsbScsiError).message).toContain('close the USB handle');
    sysfs.addInterface({ ...stick, productId: 0x0002 });
    const gone = await platform
      .attachDriver(device, { driver: 'usb-storage', target: '1-2:1.0' }, step())
      .catch((e: UsbScsiError) => e);
    expect((gone as UsbScsiError).code).toBe(ErrorCodes.DEVICE_GONE);
  });

  it('maps a failing sysfs write to a typed error that says what to do', async () => {
    rmSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/uas'), { recursive: true });
    sysfs.removeStorage(stick);
    const err = await platform
      .attachDriver(device, { driver: 'uas', target: '1-2:1.0' }, step())
      .catch((e: UsbScsiError) => e);
    expect((err as UsbScsiError).code).toBe(ErrorCodes.IO);
    expect((err as UsbScsiError).message).toContain('modprobe uas');
  });

  it(
    'unmounts with umount DIR and mounts back with mount -t TYPE -o OPTS DEV DIR (skipping ' +
      'what is mounted already)',
    async () => {
      sysfs.writeMountinfo([MOUNT_LINE]);
      const storage = await platform.describe(device, step());
      const target = { wholeDisk: dev('sda'), filesystems: storage.mounts };
      await platform.unmount(target, step());
      expect(commands).toEqual(['umount /media/my stick']);
      const mountPoint = join(root, 'media', 'gone-dir');
      const fs = { ...storage.mounts[0]!, mountPoint };
      sysfs.writeMountinfo([]);
      await platform.mount({ wholeDisk: dev('sda'), filesystems: [fs] }, step());
      expect(commands[1]).toBe(`mount -t vfat -o rw,nosuid,relatime,fmask=0022 ${dev('sda1')} ${mountPoint}`);
      expect(existsSync(mountPoint)).toBe(true); // the mount point udisks removed is made again
      sysfs.writeMountinfo([MOUNT_LINE.replace('/media/my\\040stick', mountPoint).replace('/dev/sda1', dev('sda1'))]);
      await platform.mount({ wholeDisk: dev('sda'), filesystems: [fs] }, step());
      expect(commands).toHaveLength(2);
    },
  );

  it('restores a bind mount of a subdirectory by binding it again from the filesystem root', async () => {
    const fs = {
      device: dev('sda1'),
      mountPoint: '/srv/photos',
      fsType: 'vfat',
      options: 'rw',
      wholeDisk: dev('sda'),
      root: '/photos',
    };
    sysfs.writeMountinfo([]);
    const err = (await platform
      .mount({ wholeDisk: dev('sda'), filesystems: [fs] }, step())
      .catch((e: unknown) => e)) as UsbScsiError;
    expect(err.code).toBe(ErrorCodes.IO);
    expect(commands).toEqual([]);
    sysfs.writeMountinfo([`100 29 8:1 / /media/stick rw - vfat ${dev('sda1')} rw`]);
    answers.set('mount', { code: 0, stdout: '', stderr: '' });
    await platform.mount({ wholeDisk: dev('sda'), filesystems: [fs] }, step());
    expect(commands).toEqual(['mount -o bind /media/stick/photos /srv/photos']);
  });

  it('reports a busy unmount as E_BUSY with the processes holding it, and a refused one as E_PERMISSION', async () => {
    sysfs.writeMountinfo([MOUNT_LINE]);
    const proc = join(root, 'proc');
    mkdirSync(join(proc, '321', 'fd'), { recursive: true });
    writeFileSync(join(proc, '321', 'comm'), 'bash\n');
    symlinkSync('/media/my stick/photos', join(proc, '321', 'cwd'));
    mkdirSync(join(proc, '322', 'fd'), { recursive: true });
    writeFileSync(join(proc, '322', 'comm'), 'vim\n');
    symlinkSync('/media/my stick/notes.txt', join(proc, '322', 'fd', '3'));
    mkdirSync(join(proc, '323', 'fd'), { recursive: true });
    symlinkSync('/media/my sticky', join(proc, '323', 'cwd'));
    const storage = await platform.describe(device, step());
    const target = { wholeDisk: dev('sda'), filesystems: storage.mounts };

    answers.set('umount', { code: 32, stdout: '', stderr: 'umount: /media/my stick: target is busy.\n' });
    const busy = (await platform.unmount(target, step()).catch((e: unknown) => e)) as UsbScsiError;
    expect(busy.code).toBe(ErrorCodes.BUSY);
    expect(busy.details.holders).toEqual([
      { pid: 321, command: 'bash' },
      { pid: 322, command: 'vim' },
    ]);
    expect(busy.message).toContain('bash (pid 321)');

    answers.set('umount', { code: 1, stdout: '', stderr: 'umount: /media/my stick: must be superuser to unmount.\n' });
    const denied = (await platform.unmount(target, step()).catch((e: unknown) => e)) as UsbScsiError;
    expect(denied.code).toBe(ErrorCodes.PERMISSION);
    expect(denied.message).toContain('sudo');

    answers.set('umount', { code: 32, stdout: '', stderr: 'umount: /media/my stick: not mounted.\n' });
    sysfs.writeMountinfo([]);
    await platform.unmount(target, step()); // already gone: fine
  });

  it('waits until the driver, disks, partitions and their /dev nodes are back', async () => {
    sysfs.removeStorage(stick);
    setTimeout(() => sysfs.setDriver(stick, 'usb-storage'), 20);
    setTimeout(() => sysfs.addDisks(stick, 0, stick.disks!), 40);
    const started = Date.now();
    const storage = await platform.waitForStorage(
      device,
      { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 1 },
      step(),
    );
    expect(storage.partitions).toEqual([dev('sda1')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
  });

  /** waitForStorage's error after 50 ms of waiting for usb-storage with one disk and one partition. */
  const waitingGivesUp = () =>
    platform
      .waitForStorage(
        device,
        { driver: 'usb-storage', wholeDiskCount: 1, partitionCount: 1 },
        { signal: AbortSignal.timeout(50), timeoutMs: 50 },
      )
      .then(
        () => {
          throw new Error('expected waitForStorage to give up');
        },
        (e: unknown) => e as UsbScsiError,
      );

  it('gives up waiting with E_TIMEOUT saying what it saw', async () => {
    sysfs.removeStorage(stick);
    const err = await waitingGivesUp();
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(err.message).toContain('saw no driver');
    expect(err.message).toContain('usb-storage is not bound to the interface');
  });

  it('gives up waiting on a bound driver without its disk, pointing at the kernel log', async () => {
    sysfs.removeStorage(stick);
    sysfs.setDriver(stick, 'usb-storage');
    const err = await waitingGivesUp();
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(err.message).toContain('saw usb-storage with no disks');
    expect(err.message).toContain('the kernel log (dmesg) says why');
  });

  it('syncs by fsyncing the disk node, and runs sync(8) too when something is mounted', async () => {
    const storage = await platform.describe(device, step());
    await platform.sync(device, storage, step());
    expect(commands).toEqual([]);
    await platform.sync(device, { ...storage, wholeDisks: [join(root, 'dev', 'missing')] }, step());
    expect(commands).toEqual(['sync']);
  });

  it(
    'runs a whole lease against the fake kernel: E_MOUNTED first, then unmount → unbind ' + '→ bind → remount',
    async () => {
      sysfs.writeMountinfo([MOUNT_LINE]);
      const journal = new LeaseJournal({ path: join(root, 'leases.json') });
      const registry = new LeaseRegistry({
        host: { pid: 1, on: () => undefined, removeListener: () => undefined, kill: () => undefined },
      });
      const refused = (await acquireLease(device, { platform, journal, registry }).catch(
        (e: unknown) => e,
      )) as UsbScsiError;
      expect(refused.code).toBe(ErrorCodes.MOUNTED);
      expect(refused.message).toContain('/media/my stick');

      const lease = await acquireLease(device, { platform, journal, registry, unmount: true, remount: true });
      expect(readFileSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/unbind'), 'utf8')).toBe('1-2:1.0');
      sysfs.removeStorage(stick); // what the kernel does on unbind
      // …and on bind: the driver comes back, then the disk.
      const bindFile = join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/bind');
      const kernel = (async () => {
        while (readFileSync(bindFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 5));
        sysfs.setDriver(stick, 'usb-storage');
        sysfs.addDisks(stick, 0, stick.disks!);
      })();
      const report = await lease.release();
      await kernel;
      expect(readFileSync(join(sysfs.sysfsRoot, 'bus/usb/drivers/usb-storage/bind'), 'utf8')).toBe('1-2:1.0');
      expect(commands).toEqual([
        'sync',
        'umount /media/my stick',
        `mount -t vfat -o rw,nosuid,relatime,fmask=0022 ${dev('sda1')} /media/my stick`,
      ]);
      expect(report.remounted.map((m) => m.mountPoint)).toEqual(['/media/my stick']);
      expect(await journal.list()).toEqual([]);
    },
  );
});

describe('findHolders', () => {
  it('does not count /media/a-b as under /media/a', async () => {
    const proc = join(root, 'proc2');
    mkdirSync(join(proc, '5', 'fd'), { recursive: true });
    symlinkSync('/media/a-b/x', join(proc, '5', 'cwd'));
    expect(await findHolders(proc, '/media/a')).toEqual([]);
  });
});
