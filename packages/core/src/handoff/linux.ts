/**
 * The Linux {@link HandoffPlatform}.
 *
 * - Storage: sysfs + mountinfo (`topology/linux-sysfs.ts`).
 * - Sync: fsync of each whole-disk block device (flushes its page cache and
 *   sends the disk a cache flush); falls back to sync(1) when the node cannot
 *   be opened.
 * - Unmount / mount: umount(8) / mount(8) with flags busybox shares
 *   (`umount DIR`, `mount -t TYPE -o OPTS DEV DIR`): they keep /etc/mtab,
 *   helpers (mount.ntfs…) and udisks in step, which a raw mount(2) would not.
 * - Detach / attach: sysfs `drivers/<driver>/unbind` and `bind` with the
 *   interface id (`1-2:1.0`), not usbfs' USBDEVFS_DISCONNECT (libusb's
 *   detachKernelDriver), because (1) recovery re-attaches from another process
 *   that holds no USB handle, after the holder died; (2) `bind` names the
 *   driver to restore (usb-storage or uas) instead of whatever probes first;
 *   (3) it works the same whichever USB backend (native, node-usb) the holder
 *   used. It needs root (sysfs driver files are root-only); so does
 *   unmounting a filesystem that is not a user mount. Without root, the SG_IO
 *   transport needs no handoff at all.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import { usbIdsOf } from '../hex.js';
import {
  readLinuxInterfaceStorage,
  readLinuxUsbIdentity,
  usbDeviceName,
  usbInterfaceId,
  type LinuxSysfsOptions,
} from '../topology/linux-sysfs.js';
import { readMountinfo } from '../topology/mountinfo.js';
import type {
  DetachedDriver,
  DeviceStorage,
  HandoffPlatform,
  LeaseDevice,
  StorageExpectation,
  UnmountTarget,
} from './platform.js';
import { linuxProcessIdentity } from './process-identity.js';

export interface CommandResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects only when it cannot be started (ENOENT) or `signal` aborted it. */
export type CommandRunner = (
  command: string,
  args: string[],
  options: { signal: AbortSignal },
) => Promise<CommandResult>;

export interface LinuxPlatformOptions extends LinuxSysfsOptions {
  /** Default `/proc` (process identities, holders of busy mounts). */
  procRoot?: string;
  /** Default: execFile with `LC_ALL=C` (stable messages to classify). */
  run?: CommandRunner;
  /** `waitForStorage` poll interval; default 100 ms. */
  pollIntervalMs?: number;
}

const ROOT_FIX =
  'Run it as root (sudo), or use the SG_IO pass-through transport (--backend sg), which ' +
  'reaches a kernel-owned disk with no handoff.';

export const runCommand: CommandRunner = (command, args, { signal }) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { signal, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new UsbScsiError(
              ErrorCodes.UNSUPPORTED,
              `${command}(8) was not found in PATH; install util-linux or busybox.`,
              { cause: error },
            ),
          );
        } else if (error && signal.aborted) {
          reject(signal.reason);
        } else {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
  });

export function createLinuxPlatform(options: LinuxPlatformOptions = {}): HandoffPlatform {
  const sysfsRoot = options.sysfsRoot ?? '/sys';
  const mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
  const procRoot = options.procRoot ?? '/proc';
  const run = options.run ?? runCommand;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const sysfsOptions: LinuxSysfsOptions = {
    sysfsRoot,
    mountinfoPath,
    ...(options.devRoot ? { devRoot: options.devRoot } : {}),
    ...(options.swapsPath ? { swapsPath: options.swapsPath } : {}),
  };

  const interfaceIdOf = (device: LeaseDevice) =>
    usbInterfaceId(device.busNumber, device.portNumbers, device.configurationValue ?? 1, device.interfaceNumber);

  /** `E_DEVICE_GONE` unless the device at that port is still the one leased. */
  async function checkPresent(device: LeaseDevice): Promise<void> {
    const where = usbDeviceName(device.busNumber, device.portNumbers);
    const found = await readLinuxUsbIdentity(device.busNumber, device.portNumbers, sysfsOptions);
    if (!found) {
      throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `No USB device at ${where} any more (unplugged?).`, {
        details: { location: where },
      });
    }
    const serial = device.serialNumber === undefined ? undefined : found.serialNumber;
    if (
      found.vendorId !== device.vendorId ||
      found.productId !== device.productId ||
      (serial !== undefined && serial !== device.serialNumber)
    ) {
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `A different device (${usbIdsOf(found)}${serial ? `, serial ${serial}` : ''}) is now at ${where}.`,
        { details: { location: where } },
      );
    }
  }

  async function describe(device: LeaseDevice): Promise<DeviceStorage> {
    await checkPresent(device);
    const id = interfaceIdOf(device);
    const storage = await readLinuxInterfaceStorage(id, sysfsOptions);
    if (!storage) {
      throw new UsbScsiError(
        ErrorCodes.NOT_FOUND,
        `The device has no interface ${id} (interface ${device.interfaceNumber} of configuration ` +
          `${device.configurationValue ?? 1}).`,
        { details: { interfaceId: id } },
      );
    }
    return {
      driver: storage.driver,
      wholeDisks: storage.wholeDisks,
      partitions: storage.partitions,
      mounts: storage.mounts,
      otherUsers: storage.otherUsers,
    };
  }

  async function writeDriverFile(driver: string, file: 'bind' | 'unbind', id: string): Promise<void> {
    const path = join(sysfsRoot, 'bus/usb/drivers', driver, file);
    try {
      await writeFile(path, id);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const what =
        `${file === 'bind' ? 'Binding' : 'Unbinding'} ${driver} ${file === 'bind' ? 'to' : 'from'} ` +
        `${id} (${path})`;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
        throw new UsbScsiError(ErrorCodes.PERMISSION, `${what} was refused (${code}). ${ROOT_FIX}`, { cause: err });
      if (code === 'EBUSY') {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `${what} failed: the interface is claimed by a process through usbfs. Close that ` +
            `USB handle (or end the process) and retry.`,
          { cause: err },
        );
      }
      if (code === 'ENOENT' && file === 'bind')
        throw new UsbScsiError(
          ErrorCodes.IO,
          `${what} failed: the ${driver} driver is not loaded. Load it (modprobe ` +
            `${driver.replace(/-/g, '_')}) and run \`usbscsi recover\`.`,
          { cause: err },
        );
      if (code === 'ENODEV' || code === 'ENOENT')
        throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `${what} failed: the interface is gone (unplugged?).`, {
          cause: err,
        });
      throw new UsbScsiError(ErrorCodes.IO, `${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A mount point showing the root of the filesystem on `device`, if any. */
  async function mountOfRoot(device: string): Promise<string | null> {
    return (await readMountinfo(mountinfoPath)).find((e) => e.source === device && e.root === '/')?.mountPoint ?? null;
  }

  async function mountedAt(mountPoint: string): Promise<{ source: string; majorMinor: string } | null> {
    const entry = (await readMountinfo(mountinfoPath)).filter((e) => e.mountPoint === mountPoint).pop();
    return entry ? { source: entry.source, majorMinor: entry.majorMinor } : null;
  }

  return {
    name: 'linux',
    unmountGranularity: 'filesystem',

    describe: (device) => describe(device),

    async sync(_device, storage, { signal }) {
      let flushed = true;
      for (const disk of storage.wholeDisks) {
        try {
          const handle = await open(disk, constants.O_RDONLY | constants.O_NONBLOCK);
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        } catch {
          flushed = false;
        }
      }
      if (!flushed || storage.mounts.length) {
        const result = await run('sync', [], { signal });
        if (result.code !== 0)
          throw new UsbScsiError(ErrorCodes.IO, `sync failed: ${result.stderr.trim() || `exit ${result.code}`}`);
      }
    },

    async unmount(target: UnmountTarget, { signal }) {
      for (const fs of target.filesystems) {
        const result = await run('umount', [fs.mountPoint], { signal });
        if (result.code === 0) continue;
        const message = result.stderr.trim() || result.stdout.trim() || `exit ${result.code}`;
        if (/not mounted|no mount point specified/i.test(message) && !(await mountedAt(fs.mountPoint))) continue;
        if (/busy/i.test(message)) {
          const holders = await findHolders(procRoot, fs.mountPoint);
          const who = holders.length
            ? ` In use by ${holders.map((h) => `${h.command} (pid ${h.pid})`).join(', ')}.`
            : '';
          throw new UsbScsiError(
            ErrorCodes.BUSY,
            `Cannot unmount ${fs.mountPoint}: it is busy.${who} Close those files (or leave that directory) and retry.`,
            {
              details: { mountPoint: fs.mountPoint, holders, umount: message },
            },
          );
        }
        if (/permission|not permitted|superuser|only root/i.test(message)) {
          throw new UsbScsiError(
            ErrorCodes.PERMISSION,
            `Unmounting ${fs.mountPoint} was refused: ${message}. ${ROOT_FIX} Or unmount it yourself ` +
              `first (udisksctl unmount -b ${fs.device}).`,
            {
              details: { mountPoint: fs.mountPoint },
            },
          );
        }
        throw new UsbScsiError(ErrorCodes.IO, `umount ${fs.mountPoint} failed: ${message}`, {
          details: { mountPoint: fs.mountPoint },
        });
      }
    },

    async mount(target: UnmountTarget, { signal }) {
      for (const fs of target.filesystems) {
        const current = await mountedAt(fs.mountPoint);
        if (current && current.source === fs.device) continue;
        // udisks removes the /media/<user>/<label> directories it made once their filesystem is gone.
        await mkdir(fs.mountPoint, { recursive: true }).catch(() => undefined);
        let args = ['-t', fs.fsType, '-o', fs.options, fs.device, fs.mountPoint];
        if (fs.root && fs.root !== '/') {
          // A bind mount of a subdirectory: bind it again from a mount of the filesystem's root.
          const whole = await mountOfRoot(fs.device);
          if (!whole) {
            throw new UsbScsiError(
              ErrorCodes.IO,
              `Cannot restore the bind mount of ${fs.device}:${fs.root} on ${fs.mountPoint}: the ` +
                `filesystem itself is not mounted anywhere. Mount it, then bind ${fs.root} again.`,
              { details: { filesystem: fs } },
            );
          }
          args = ['-o', 'bind', join(whole, fs.root), fs.mountPoint];
        }
        const result = await run('mount', args, { signal });
        if (result.code === 0) continue;
        const message = result.stderr.trim() || result.stdout.trim() || `exit ${result.code}`;
        if (/permission|not permitted|superuser|only root/i.test(message)) {
          throw new UsbScsiError(
            ErrorCodes.PERMISSION,
            `Mounting ${fs.device} on ${fs.mountPoint} was refused: ${message}. ${ROOT_FIX}`,
            { details: { filesystem: fs } },
          );
        }
        throw new UsbScsiError(ErrorCodes.IO, `mount ${args.join(' ')} failed: ${message}`, {
          details: { filesystem: fs },
        });
      }
    },

    async checkAccess(_device, storage) {
      if (!storage.driver) return;
      for (const file of ['unbind', 'bind']) {
        const path = join(sysfsRoot, 'bus/usb/drivers', storage.driver, file);
        try {
          await access(path, constants.W_OK);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
            throw new UsbScsiError(
              ErrorCodes.PERMISSION,
              `Taking the interface from ${storage.driver} needs write access to ${path}, which ` +
                `this user lacks. ${ROOT_FIX}`,
              { cause: err },
            );
          }
        }
      }
    },

    async detachDriver(device, storage): Promise<DetachedDriver> {
      const driver = storage.driver;
      if (!driver)
        throw new UsbScsiError(ErrorCodes.BAD_INPUT, 'No driver is bound to the interface: nothing to detach.');
      const id = interfaceIdOf(device);
      await writeDriverFile(driver, 'unbind', id);
      return { driver, target: id };
    },

    async attachDriver(device, detached: DetachedDriver) {
      await checkPresent(device);
      const link = await readlink(join(sysfsRoot, 'bus/usb/devices', detached.target, 'driver')).catch(() => null);
      const bound = link ? basename(link) : null;
      if (bound === detached.driver) return;
      if (bound === 'usbfs') {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `Interface ${detached.target} is still claimed through usbfs; close the USB handle before giving it back.`,
          { details: { interfaceId: detached.target } },
        );
      }
      if (bound)
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `Interface ${detached.target} is now bound to ${bound}, not ${detached.driver}; leaving it as it is.`,
          { details: { interfaceId: detached.target, bound } },
        );
      await writeDriverFile(detached.driver, 'bind', detached.target);
    },

    async waitForStorage(device, expected: StorageExpectation, { signal, timeoutMs }) {
      let last: DeviceStorage | null = null;
      for (;;) {
        last = await describe(device);
        if (
          last.driver === expected.driver &&
          last.wholeDisks.length >= expected.wholeDiskCount &&
          last.partitions.length >= expected.partitionCount
        ) {
          const nodes = [...last.wholeDisks, ...last.partitions];
          const present = await Promise.all(
            nodes.map((node) =>
              access(node).then(
                () => true,
                () => false,
              ),
            ),
          );
          if (present.every(Boolean)) return last;
        }
        if (signal.aborted) break;
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
        if (signal.aborted) break;
      }
      // Where to look next: a driver that is bound but has no disk yet is still probing (or failed to),
      // which only the kernel's log says; one that is not bound refused or lost the interface.
      const hint =
        last?.driver === expected.driver
          ? ` ${expected.driver} is bound but the kernel has not attached the disk(s): the kernel log (dmesg) says why.`
          : ` ${expected.driver} is not bound to the interface.`;
      throw new UsbScsiError(
        ErrorCodes.TIMEOUT,
        `The disk did not come back within ${timeoutMs} ms: expected ${expected.driver} ` +
          `with ${expected.wholeDiskCount} disk(s) and ${expected.partitionCount} ` +
          `partition(s), saw ${last?.driver ?? 'no driver'} with ${last?.wholeDisks.join(', ') || 'no disks'}.` +
          hint,
        { details: { expected, seen: last } },
      );
    },

    processIdentity: (pid) => linuxProcessIdentity(pid, procRoot),

    now: () => Date.now(),

    recoverySpec: () =>
      options.run
        ? null
        : {
            factory: 'createLinuxPlatform',
            options: { ...sysfsOptions, procRoot, pollIntervalMs },
          },
  };
}

export interface MountHolder {
  pid: number;
  command: string;
}

/** Processes with their cwd, root or an open file under `mountPoint` (what fuser -m reports), up to 20. */
export async function findHolders(procRoot: string, mountPoint: string): Promise<MountHolder[]> {
  const under = (path: string | null) =>
    !!path && (path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`));
  const holders: MountHolder[] = [];
  const pids = (await readdir(procRoot).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  for (const pid of pids) {
    if (holders.length >= 20) break;
    const dir = join(procRoot, pid);
    const links = ['cwd', 'root'].map((name) => join(dir, name));
    const fds = await readdir(join(dir, 'fd')).catch(() => [] as string[]);
    links.push(...fds.map((fd) => join(dir, 'fd', fd)));
    let holds = false;
    for (const link of links) {
      if (under(await readlink(link).catch(() => null))) {
        holds = true;
        break;
      }
    }
    if (holds)
      holders.push({ pid: Number(pid), command: (await readFile(join(dir, 'comm'), 'utf8').catch(() => '?')).trim() });
  }
  return holders;
}
