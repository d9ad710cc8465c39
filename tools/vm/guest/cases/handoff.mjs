// Handoff leases on a disk with a mounted filesystem: refusal, unmount → work → re-mount,
// and recovery after SIGKILL of the holder. mke2fs is busybox's; ext2 is served by ext4.ko.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, writeSync, openSync, readSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { test } from '../runner.mjs';
import { loadOpen, loadHandoff, loadBot, loadCoreIndex } from './core-api.mjs';
import { perBackend, withDevice, readyDevice } from './device.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { findQemuDisk } from './qemu-disk.mjs';
import {
  assert,
  assertEqual,
  assertBytesEqual,
  kernelRead,
  kernelWrite,
  sdDisks,
  waitFor,
  sleep,
  usbInterfaceOfDisk,
} from '../util.mjs';

const READ10_LBA0_8 = Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0);

const MNT = '/mnt/usbdisk';

function mountsOfDisk() {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => /^\/dev\/sd[a-z]+/.test(l))
    .map((l) => l.split(' ').slice(0, 2));
}

/** Fresh ext2 on the whole disk, mounted at MNT, with a file of random content; returns the content. */
async function mountedFilesystemWithFile() {
  const dev = await waitForKernelDisk();
  mkdirSync(MNT, { recursive: true });
  if (!mountsOfDisk().some(([d, mp]) => d === dev && mp === MNT)) {
    for (const [, mp] of mountsOfDisk()) execFileSync('umount', [mp]);
    // mke2fs over 64 MiB takes seconds under TCG: make the filesystem once, reuse it after.
    try {
      execFileSync('mount', ['-t', 'ext2', dev, MNT], { stdio: 'pipe' });
    } catch {
      execFileSync('mke2fs', ['-q', '-F', dev], { stdio: 'pipe' });
      execFileSync('mount', ['-t', 'ext2', dev, MNT], { stdio: 'pipe' });
    }
  }
  const content = randomBytes(300_000).toString('hex');
  writeFileSync(`${MNT}/before.txt`, content);
  execFileSync('sync');
  return content;
}

function assertMountedWithFile(content, what) {
  const m = mountsOfDisk();
  assertEqual(
    m.map(([, mp]) => mp),
    [MNT],
    `${what}: mount points of the USB disk`,
  );
  assertEqual(readFileSync(`${MNT}/before.txt`, 'utf8') === content, true, `${what}: file written before is intact`);
}

export async function registerHandoffCases(scenario, backends) {
  const open = await loadOpen();
  const t = (title, fn, opts) => perBackend(scenario, backends, open, title, fn, opts);

  t('lease refused with E_MOUNTED while the ext2 filesystem is mounted; nothing is touched', async (mod, b) => {
    const content = await mountedFilesystemWithFile();
    let caught;
    try {
      const dev = await mod.openDevice({ selector: '46f4:0001', backend: b, transport: 'bot' });
      await dev.close();
    } catch (err) {
      caught = err;
    }
    assertEqual(caught?.code, 'E_MOUNTED', `error code (${caught?.message})`);
    assert(caught.message.includes(MNT), `message names the mount point: ${caught.message}`);
    assertEqual(sdDisks().length, 1, 'the disk stays with the kernel');
    assertMountedWithFile(content, 'after the refusal');
  });

  t(
    'lease with unmount: unmounts, BOT works, release re-attaches and re-mounts; the file is intact',
    async (mod, b) => {
      const content = await mountedFilesystemWithFile();
      await withDevice(mod, b, { lease: { unmount: true, remount: true } }, async (dev) => {
        assertEqual(mountsOfDisk().length, 0, 'mounts of the USB disk while leased');
        assertEqual(sdDisks().length, 0, 'sd disks while leased');
        await readyDevice(dev);
        const cap = await dev.readCapacity();
        assertEqual(cap.blockSize, 512, 'block size over BOT while leased');
      });
      await waitFor(() => mountsOfDisk().length === 1, 're-mount after release', 20_000);
      assertMountedWithFile(content, 'after release');
    },
    { timeoutMs: 90_000 },
  );

  const handoff = await loadHandoff();
  const recoveryReady =
    handoff.mod && ['recoverLeases', 'LeaseJournal', 'createLinuxPlatform'].every((k) => k in handoff.mod);
  const recovery = recoveryReady
    ? open
    : {
        mod: null,
        reason: handoff.mod
          ? 'NOT LANDED: handoff/index.js lacks ' +
            ['recoverLeases', 'LeaseJournal', 'createLinuxPlatform'].filter((k) => !(k in handoff.mod)).join(', ')
          : handoff.reason,
      };
  perBackend(
    scenario,
    backends,
    recovery,
    'SIGKILL of a lease holder mid-READ: recoverLeases gives the disk back re-mounted; ' +
      'a lease left by a second killed holder is recovered by the next holder itself (it says so), ' +
      'whose FIRST command succeeds',
    async (openMod, b) => {
      const content = await mountedFilesystemWithFile();
      const killHolder = async () => {
        const child = spawn(process.execPath, [`${process.cwd()}/tools/vm/guest/lease-holder.mjs`, b.name], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        await waitFor(() => out.includes('HELD') || child.exitCode !== null, 'the holder to take the lease', 30_000);
        assert(out.includes('HELD'), `holder output: ${out}`);
        assertEqual([mountsOfDisk().length, sdDisks().length], [0, 0], 'mounts / sd disks while the holder runs');
        await sleep(300); // let it be mid-command (it loops READ(10))
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        assertEqual(sdDisks().length, 0, 'the disk stays detached after the holder died (nothing gave it back yet)');
      };
      await killHolder();
      const h = handoff.mod;
      const platform = await h.createLinuxPlatform();
      const report = await h.recoverLeases(platform, new h.LeaseJournal());
      assertEqual(
        [report.recovered.length, report.failed.length],
        [1, 0],
        `recovered / failed in ${JSON.stringify(report, (k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
      await waitForKernelDisk();
      await waitFor(() => mountsOfDisk().length === 1, 're-mount by recovery', 20_000);
      assertMountedWithFile(content, 'after recovery');

      await killHolder();
      const notices = [];
      const dev = await openMod.openDevice({
        selector: '46f4:0001',
        backend: b,
        transport: 'bot',
        lease: { unmount: true, remount: true, onNotice: (m) => notices.push(m) },
      });
      try {
        assert(
          notices.some((n) => /died without giving it back: recovered it first \(re-attached usb-storage/.test(n)),
          `the next holder says it recovered the dead lease: ${JSON.stringify(notices)}`,
        );
        const first = await dev.execute(READ10_LBA0_8, { length: 4096 });
        assertEqual(
          [first.status, first.transferred],
          [0, 4096],
          `first command of the next holder (sense ${first.sense?.senseKeyName}: ${first.sense?.ascText})`,
        );
      } finally {
        await dev.close();
      }
      await waitForKernelDisk();
      await waitFor(() => mountsOfDisk().length === 1, 're-mount after the next holder released', 20_000);
      assertMountedWithFile(content, 'after the next holder released');
    },
    { timeoutMs: 180_000 },
  );

  // SG_IO: the mount check before each write is quick after the first (linuxMediumWriteClaim:
  // the kernel's exclusive claim of the disk, and mountinfo); a filesystem mounted after writes
  // that found none must still be refused, and writes allowed again once it is unmounted.
  test(
    `[${scenario}/sg] SG_IO write refused with E_MOUNTED whenever the filesystem is mounted, ` +
      'also after quick checks that found none; the kernel refuses the disk claim while it is',
    async () => {
      const core = await loadCoreIndex();
      if (!core.mod) throw new Error(core.reason);
      const content = await mountedFilesystemWithFile();
      const disk = `/dev/${sdDisks()[0]}`;
      assertEqual(core.mod.probeDiskClaim(disk), 'busy', `claim of ${disk} while mounted`);
      execFileSync('umount', [MNT]);
      assertEqual(core.mod.probeDiskClaim(disk), 'free', `claim of ${disk} once unmounted`);
      const dev = await core.mod.openDevice({ selector: '46f4:0001', transport: 'sg' });
      try {
        assertEqual(dev.transport.kind, 'sg', 'transport');
        // A block the filesystem does not use, written back as it was read: nothing changes.
        const lba = Number((await dev.readCapacity()).lastLba) - 8;
        const block = Uint8Array.from(await dev.read(lba, 1));
        const rewrite = async () => {
          try {
            await dev.write(lba, block, { allowMediumWrite: true });
            return 'written';
          } catch (err) {
            return err.code;
          }
        };
        assertEqual([await rewrite(), await rewrite()], ['written', 'written'], 'unmounted: full, then quick check');
        execFileSync('mount', ['-t', 'ext2', disk, MNT], { stdio: 'pipe' });
        assertEqual([await rewrite(), await rewrite()], ['E_MOUNTED', 'E_MOUNTED'], 'mounted after quick checks');
        execFileSync('umount', [MNT]);
        assertEqual([await rewrite(), await rewrite()], ['written', 'written'], 'unmounted again');
        // A filesystem that names the disk without claiming it, as FUSE may: here tmpfs with the
        // disk as its source. Only the mount table shows it, and the quick check reads the table
        // again only when the kernel says it changed (pollPriority on a kept descriptor).
        const fake = '/mnt/named-not-claimed';
        mkdirSync(fake, { recursive: true });
        execFileSync('mount', ['-t', 'tmpfs', disk, fake], { stdio: 'pipe' });
        try {
          assertEqual(core.mod.probeDiskClaim(disk), 'free', `claim of ${disk} under a tmpfs named after it`);
          assertEqual([await rewrite(), await rewrite()], ['E_MOUNTED', 'E_MOUNTED'], 'a tmpfs named after the disk');
        } finally {
          execFileSync('umount', [fake]);
        }
        assertEqual([await rewrite(), await rewrite()], ['written', 'written'], 'the tmpfs unmounted');
      } finally {
        await dev.close();
      }
      execFileSync('mount', ['-t', 'ext2', disk, MNT], { stdio: 'pipe' });
      assertMountedWithFile(content, 'after the SG_IO writes');
    },
    { timeoutMs: 120_000 },
  );

  // The claim is held for the whole write call, not only checked before it: a mount that starts
  // between the check and the last WRITE is refused by the kernel. A disk the kernel will not let
  // be claimed with nothing mounted from it (here: active swap) is refused with E_BUSY; before the
  // claim was held it was written, since swap is not in the mount table.
  test(
    `[${scenario}/sg] SG_IO write holds the disk's exclusive claim for the whole call: a mount mid-range ` +
      'is refused, allowed after the last piece; a disk in use as swap is refused with E_BUSY, unwritten',
    async () => {
      const core = await loadCoreIndex();
      if (!core.mod) throw new Error(core.reason);
      const content = await mountedFilesystemWithFile();
      const disk = `/dev/${sdDisks()[0]}`;
      execFileSync('umount', [MNT]);
      const tryMount = () => {
        try {
          execFileSync('mount', ['-t', 'ext2', disk, MNT], { stdio: 'pipe' });
          execFileSync('umount', [MNT]);
          return 'mounted';
        } catch (err) {
          return /busy/i.test(String(err.stderr)) ? 'busy' : `failed: ${err.stderr}`;
        }
      };
      const dev = await core.mod.openDevice({ selector: '46f4:0001', transport: 'sg' });
      // The first page holds ext2's superblock (1024) and would hold swap's header: kept, put back.
      let firstPage;
      try {
        assertEqual(dev.transport.kind, 'sg', 'transport');
        const lba = Number((await dev.readCapacity()).lastLba) - 8;
        const blocks = Uint8Array.from(await dev.read(lba, 2));
        const writer = await dev.rangeWriter(lba, 2, { allowMediumWrite: true });
        assertEqual([core.mod.probeDiskClaim(disk), tryMount()], ['busy', 'busy'], 'claim / mount before any piece');
        await writer.write(blocks.subarray(0, 512));
        assertEqual([core.mod.probeDiskClaim(disk), tryMount()], ['busy', 'busy'], 'claim / mount between pieces');
        await writer.write(blocks.subarray(512));
        assertEqual([core.mod.probeDiskClaim(disk), tryMount()], ['free', 'mounted'], 'after the last piece');

        firstPage = kernelRead(disk, 0, 4096);
        execFileSync('mkswap', [disk], { stdio: 'pipe' });
        execFileSync('swapon', [disk], { stdio: 'pipe' });
        try {
          const other = Uint8Array.from(blocks.subarray(0, 512)).fill(0xa5);
          let caught;
          try {
            await dev.write(lba, other, { allowMediumWrite: true });
          } catch (err) {
            caught = err;
          }
          assertEqual(caught?.code, 'E_BUSY', `write while ${disk} is swap: ${caught?.message}`);
          assertEqual(caught.details.heldBy, [{ device: disk, user: 'swap' }], 'what holds it');
          assertBytesEqual(await dev.read(lba, 2), blocks, 'the blocks after the refused write');
        } finally {
          execFileSync('swapoff', [disk], { stdio: 'pipe' });
        }
      } finally {
        await dev.close();
        if (firstPage) kernelWrite(disk, 0, firstPage);
      }
      execFileSync('mount', ['-t', 'ext2', disk, MNT], { stdio: 'pipe' });
      assertMountedWithFile(content, 'after the claimed writes and the swap');
    },
    { timeoutMs: 120_000 },
  );

  // What that quick check stands on: a mounted partition holds an exclusive claim on its whole
  // disk too (the kernel's bd_may_claim), whatever name it was mounted by. The partition table is
  // wiped again afterwards.
  test(
    `[${scenario}] the kernel refuses an exclusive claim of the whole disk while one of its partitions ` +
      'is mounted; the SG_IO write mount check reports the mount every time',
    async () => {
      const core = await loadCoreIndex();
      if (!core.mod) throw new Error(core.reason);
      for (const [, mp] of mountsOfDisk()) execFileSync('umount', [mp]);
      const name = sdDisks()[0];
      const disk = `/dev/${name}`;
      const table = (bytes) => {
        const fd = openSync(disk, 'r+');
        try {
          writeSync(fd, bytes, 0, 512, 0);
        } finally {
          closeSync(fd);
        }
        execFileSync('blockdev', ['--rereadpt', disk]);
      };
      const mbr = Buffer.alloc(512);
      mbr[446 + 4] = 0x83; // one Linux partition: 20 MiB from 1 MiB
      mbr.writeUInt32LE(2048, 446 + 8);
      mbr.writeUInt32LE(40960, 446 + 12);
      mbr.writeUInt16LE(0xaa55, 510);
      table(mbr);
      const part = `${disk}1`;
      const mnt = '/mnt/usbpart';
      try {
        await waitFor(() => existsSync(`/sys/block/${name}/${name}1`), 'the partition to appear', 10_000);
        execFileSync('mke2fs', ['-q', '-F', part], { stdio: 'pipe' });
        mkdirSync(mnt, { recursive: true });
        execFileSync('mount', ['-t', 'ext2', part, mnt], { stdio: 'pipe' });
        try {
          assertEqual(core.mod.probeDiskClaim(disk), 'busy', `claim of ${disk} while ${part} is mounted`);
          const take = core.mod.linuxMediumWriteClaim({ path: disk });
          const expected = { mounts: [{ device: part, mountPoint: mnt, fsType: 'ext2' }], heldBy: [] };
          const answer = async () => {
            const { mounts, heldBy } = await take();
            return { mounts, heldBy };
          };
          assertEqual([await answer(), await answer()], [expected, expected], 'the write claim, twice');
        } finally {
          execFileSync('umount', [mnt]);
        }
        assertEqual(core.mod.probeDiskClaim(disk), 'free', `claim of ${disk} once ${part} is unmounted`);
      } finally {
        table(Buffer.alloc(512));
        await waitFor(() => !existsSync(`/sys/block/${name}/${name}1`), 'the partition to go', 10_000);
      }
    },
    { timeoutMs: 120_000 },
  );

  // Leave the disk unmounted for whatever runs next.
  test(`[${scenario}] cleanup: unmount the test filesystem`, async () => {
    for (const [, mp] of mountsOfDisk()) execFileSync('umount', [mp]);
    assert(!mountsOfDisk().length, 'no mounts left');
  });
}

/**
 * A holder with no lease (it detached usb-storage itself) killed in the middle of a READ's data
 * phase: QEMU's usb-storage still expects to send data and stalls the next CBW. Nothing of the
 * kernel runs in between; the next BotTransport must reset the device before its first command.
 */
export async function registerTakeoverCases(scenario, backends) {
  const bot = await loadBot();
  perBackend(
    scenario,
    backends,
    bot,
    'holder killed mid-READ (no lease): the next BotTransport.open runs reset recovery and its FIRST command succeeds',
    async (botMod, b) => {
      for (const [, mp] of mountsOfDisk()) execFileSync('umount', [mp]);
      const disk = await waitForKernelDisk();
      const intf = usbInterfaceOfDisk(disk.replace('/dev/', ''));
      execFileSync('blockdev', ['--flushbufs', disk]);
      const kernelBytes = new Uint8Array(4096);
      const fd = openSync(disk, 'r');
      try {
        readSync(fd, kernelBytes, 0, 4096, 0);
      } finally {
        closeSync(fd);
      }

      const child = spawn(process.execPath, [`${process.cwd()}/tools/vm/guest/mid-command-holder.mjs`, b.name], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      await waitFor(() => out.includes('MID') || child.exitCode !== null, 'the holder to be mid-READ', 30_000);
      assert(out.includes('MID cbw=ok/31 data=ok/65536'), `holder output: ${out}`);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const handle = await b.open(await findQemuDisk(b));
      let tr;
      try {
        tr = await botMod.BotTransport.open(handle, {});
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw err;
      }
      try {
        const first = await tr.execute({ cdb: READ10_LBA0_8, direction: 'in', data: new Uint8Array(4096) });
        assertEqual([first.status, first.transferred], [0, 4096], 'first command after the takeover');
        assertBytesEqual(first.data, kernelBytes, 'READ(10) of LBA 0..7 vs the kernel');
      } finally {
        await tr.close();
        writeFileSync('/sys/bus/usb/drivers/usb-storage/bind', intf);
        await waitForKernelDisk();
      }
    },
    { timeoutMs: 90_000 },
  );
}
