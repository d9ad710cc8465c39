// The public device API (openDevice → ScsiDevice over BOT through a handoff lease) per backend.
import { openSync, readSync, closeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { loadOpen } from './core-api.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { assert, assertEqual, assertBytesEqual, sdDisks } from '../util.mjs';

/** Registers `fn(mod, backend)` per backend, skipping loudly when the backend or module is missing. */
export function perBackend(scenario, backends, loaded, title, fn, opts) {
  for (const { name, backend, reason } of backends) {
    const full = `[${scenario}/${name}] ${title}`;
    if (!backend) skip(full, reason);
    else if (!loaded.mod && loaded.reason.startsWith('NOT LANDED')) skip(full, loaded.reason);
    else if (!loaded.mod)
      test(full, () => {
        throw new Error(loaded.reason);
      });
    else test(full, () => fn(loaded.mod, backend), opts);
  }
}

/** openDevice over BOT with a lease; always closes (gives the disk back) and waits for the kernel's disk. */
export async function withDevice(open, backend, options, fn) {
  const device = await open.openDevice({ selector: '46f4:0001', backend, transport: 'bot', ...options });
  try {
    return await fn(device);
  } finally {
    await device.close();
    await waitForKernelDisk();
  }
}

export async function readyDevice(device) {
  for (let i = 0; i < 3; i++) {
    try {
      await device.testUnitReady();
      return;
    } catch (err) {
      if (err?.details?.senseKey !== 6) throw err;
    }
  }
  await device.testUnitReady();
}

export async function registerDeviceCases(scenario, backends) {
  const open = await loadOpen();
  const t = (title, fn, opts) => perBackend(scenario, backends, open, title, fn, opts);

  t(
    'openDevice (BOT, lease on an unmounted disk): inquiry, testUnitReady, readCapacity; close gives sd back',
    async (mod, b) => {
      await withDevice(mod, b, {}, async (dev) => {
        assertEqual(dev.description.transport, 'bot', 'transport');
        assertEqual(sdDisks().length, 0, 'sd disks while leased');
        const inq = await dev.inquiry();
        assertEqual(
          [inq.vendor, inq.product, inq.peripheralType],
          ['QEMU', 'QEMU HARDDISK', 0],
          'INQUIRY vendor / product / peripheral type',
        );
        await readyDevice(dev);
        const cap = await dev.readCapacity();
        assertEqual([String(cap.blocks), cap.blockSize], [String((64 << 20) / 512), 512], 'capacity');
      });
    },
  );

  t(
    'typed CHECK CONDITION: ATA PASS-THROUGH(16) (unsupported by QEMU) throws E_CHECK_CONDITION with ' +
      'ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE',
    async (mod, b) => {
      await withDevice(mod, b, {}, async (dev) => {
        await readyDevice(dev);
        let caught;
        try {
          await dev.ataIdentify();
        } catch (err) {
          caught = err;
        }
        assert(caught, 'ataIdentify() to throw');
        assertEqual(caught.code, 'E_CHECK_CONDITION', `error code (${caught.message})`);
        assertEqual(
          [caught.details.senseKey, caught.details.asc, caught.details.ascq],
          [5, 0x20, 0],
          'sense key / ASC / ASCQ',
        );
        assert(/invalid command operation code/i.test(caught.message), `message names the ASC: ${caught.message}`);
        // E7h is vendor-specific: consent is asked of every vendor opcode, whatever its direction.
        const raw = await dev.execute(Uint8Array.of(0xe7, 0, 0, 0, 0, 0, 0, 0, 0, 0), { allowMediumWrite: true });
        assertEqual(
          [raw.status, raw.sense?.senseKey, raw.sense?.asc],
          [2, 5, 0x20],
          'execute() resolves CHECK CONDITION as a result',
        );
      });
    },
  );

  t(
    'ScsiDevice.write/read 6 MiB (split by maxTransferBytes) round trip, ' +
      'then the kernel block device reads the same bytes',
    async (mod, b) => {
      const lba = 40960;
      const data = randomFillSync(new Uint8Array(6 * 1024 * 1024));
      await withDevice(mod, b, {}, async (dev) => {
        await readyDevice(dev);
        await dev.write(lba, data, { allowMediumWrite: true, timeoutMs: 60_000 });
        const back = await dev.read(lba, data.length / 512, { timeoutMs: 60_000 });
        assertBytesEqual(back, data, 'ScsiDevice read-back');
      });
      const fd = openSync(await waitForKernelDisk(), 'r');
      try {
        const got = new Uint8Array(data.length);
        assertEqual(readSync(fd, got, 0, got.length, lba * 512), got.length, 'kernel read length');
        assertBytesEqual(got, data, 'kernel read of the ScsiDevice write');
      } finally {
        closeSync(fd);
      }
    },
    { timeoutMs: 180_000 },
  );

  t(
    'allocateBuffer: pinned usbfs memory on native (ordinary on node-usb); ' +
      '4 MiB written from and read into it round-trip, the kernel reads the same bytes, release detaches it',
    async (mod, b) => {
      const lba = 86016; // 42 MiB: clear of the other cases' regions (bot.mjs regionPlan ends below 38 MiB)
      const size = 4 * 1024 * 1024;
      const data = randomFillSync(new Uint8Array(size));
      await withDevice(mod, b, {}, async (dev) => {
        await readyDevice(dev);
        const out = dev.allocateBuffer(size);
        const back = dev.allocateBuffer(size);
        assertEqual(
          [out.pinned, back.pinned],
          b.name === 'native' ? [true, true] : [false, false],
          'pinned where the backend has usbfs memory',
        );
        out.bytes.set(data);
        await dev.write(lba, out.bytes, { allowMediumWrite: true, timeoutMs: 60_000 });
        await dev.readInto(lba, back.bytes, { timeoutMs: 60_000 });
        assertBytesEqual(back.bytes, data, 'read-back into the second buffer');
        out.release();
        back.release();
        if (b.name === 'native') assertEqual(back.bytes.length, 0, 'a released pinned buffer is detached');
      });
      const fd = openSync(await waitForKernelDisk(), 'r');
      try {
        const got = new Uint8Array(size);
        assertEqual(readSync(fd, got, 0, got.length, lba * 512), got.length, 'kernel read length');
        assertBytesEqual(got, data, 'kernel read of the write from pinned memory');
      } finally {
        closeSync(fd);
      }
    },
    { timeoutMs: 180_000 },
  );
}
