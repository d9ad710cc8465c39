// Core's BotTransport over each backend against QEMU's disk: commands, sense, data integrity
// in both directions through the kernel's block device.
import { openSync, readSync, writeSync, fsyncSync, closeSync, readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { test, skip } from '../runner.mjs';
import { findQemuDisk } from './qemu-disk.mjs';
import { loadBot } from './core-api.mjs';
import { assert, assertBytesEqual, assertEqual, cdb10, sdDisks, waitFor } from '../util.mjs';

const BLOCK = 512;
/** Transfer sizes: small, odd (not a power of two, 2049 blocks), large. */
const SIZES = [64 * 1024, 2049 * BLOCK, 4 * 1024 * 1024];
const PER_SIZE = 4 * 1024 * 1024;

/** Waits until usb-storage has a disk of non-zero size again; returns its /dev path. */
export async function waitForKernelDisk() {
  await waitFor(
    () => {
      const d = sdDisks();
      return d.length === 1 && Number(readFileSync(`/sys/block/${d[0]}/size`, 'utf8')) > 0;
    },
    'usb-storage to bring the disk back',
    20_000,
  );
  return `/dev/${sdDisks()[0]}`;
}

export async function withBot(botMod, backend, fn) {
  const info = await findQemuDisk(backend);
  const handle = await backend.open(info);
  let transport;
  try {
    transport = await botMod.BotTransport.open(handle, { detachKernelDriver: true });
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  try {
    return await fn(transport, handle);
  } finally {
    await transport.close();
    await waitForKernelDisk();
  }
}

/** execute() until the one-time UNIT ATTENTION after (re)attach is gone. */
async function tur(t) {
  for (let i = 0; i < 3; i++) {
    const r = await t.execute({ cdb: new Uint8Array(6), direction: 'none' });
    if (r.status === 0) return r;
    if (r.sense?.senseKey !== 6) return r;
  }
  return t.execute({ cdb: new Uint8Array(6), direction: 'none' });
}

function regionPlan(startLba) {
  const plan = [];
  let lba = startLba;
  for (const size of SIZES) {
    const n = Math.ceil(PER_SIZE / size);
    for (let i = 0; i < n; i++) {
      plan.push({ lba, size });
      lba += size / BLOCK;
    }
  }
  return plan;
}

export async function registerBotCases(scenario, backends) {
  const { mod, reason } = await loadBot();
  for (const { name, backend, reason: why } of backends) {
    const title = (s) => `[${scenario}/${name}] ${s}`;
    const t = (s, fn, opts) => {
      if (!backend) return skip(title(s), why);
      if (!mod && reason.startsWith('NOT LANDED')) return skip(title(s), reason);
      if (!mod)
        return test(title(s), () => {
          throw new Error(reason);
        });
      test(title(s), () => fn(backend), opts);
    };

    t(
      'BotTransport: INQUIRY, TEST UNIT READY, READ CAPACITY(10) with the kernel driver detached and re-attached',
      async (b) => {
        await withBot(mod, b, async (tr) => {
          assertEqual(sdDisks().length, 0, 'sd disks while the transport holds the interface');
          assertEqual(tr.maxLun, 0, 'GET MAX LUN');
          const inq = await tr.execute({
            cdb: Uint8Array.of(0x12, 0, 0, 0, 96, 0),
            direction: 'in',
            data: new Uint8Array(96),
          });
          assertEqual(inq.status, 0, 'INQUIRY status');
          assertEqual(inq.data[0] & 0x1f, 0, 'peripheral device type (disk)');
          assertEqual(Buffer.from(inq.data.subarray(8, 16)).toString('latin1').trim(), 'QEMU', 'vendor');
          assertEqual((await tur(tr)).status, 0, 'TEST UNIT READY status');
          const cap = await tr.execute({
            cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            direction: 'in',
            data: new Uint8Array(8),
          });
          const v = new DataView(cap.data.buffer, cap.data.byteOffset, 8);
          assertEqual([v.getUint32(0) + 1, v.getUint32(4)], [(64 << 20) / BLOCK, BLOCK], 'READ CAPACITY blocks × size');
        });
      },
    );

    t(
      'BotTransport: an unsupported opcode is CHECK CONDITION with ' +
        'ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE decoded',
      async (b) => {
        await withBot(mod, b, async (tr) => {
          await tur(tr);
          const r = await tr.execute({ cdb: Uint8Array.of(0xe7, 0, 0, 0, 0, 0, 0, 0, 0, 0), direction: 'none' });
          assertEqual(r.status, 2, 'SCSI status');
          assert(r.sense, 'sense data (auto REQUEST SENSE)');
          assertEqual([r.sense.senseKey, r.sense.asc, r.sense.ascq], [5, 0x20, 0], 'sense key / ASC / ASCQ');
          assert(/illegal request/i.test(r.sense.senseKeyName), `sense key name "${r.sense.senseKeyName}"`);
          assert(/invalid command operation code/i.test(r.sense.ascText), `ASC text "${r.sense.ascText}"`);
          assertEqual((await tur(tr)).status, 0, 'the device still answers afterwards');
        });
      },
    );

    t(
      `data integrity: WRITE(10) over BOT at ${SIZES.join('/')} bytes per command, ` +
        're-attach, read back through the kernel block device',
      async (b) => {
        const plan = regionPlan(2048);
        const written = plan.map((p) => randomFillSync(new Uint8Array(p.size)));
        await withBot(mod, b, async (tr) => {
          await tur(tr);
          for (const [i, p] of plan.entries()) {
            const r = await tr.execute({
              cdb: cdb10(0x2a, p.lba, p.size / BLOCK),
              direction: 'out',
              data: written[i],
              timeoutMs: 30_000,
            });
            assertEqual(
              [r.status, r.residue, r.transferred],
              [0, 0, p.size],
              `WRITE(10) at LBA ${p.lba}, ${p.size} bytes: status/residue/transferred`,
            );
          }
        });
        const dev = await waitForKernelDisk();
        const fd = openSync(dev, 'r');
        try {
          for (const [i, p] of plan.entries()) {
            const got = new Uint8Array(p.size);
            assertEqual(readSync(fd, got, 0, p.size, p.lba * BLOCK), p.size, `kernel read at LBA ${p.lba}`);
            assertBytesEqual(got, written[i], `kernel read of the BOT write at LBA ${p.lba} (${p.size} bytes)`);
          }
        } finally {
          closeSync(fd);
        }
      },
      { timeoutMs: 180_000 },
    );

    t(
      'data integrity: write through the kernel block device, ' +
        `read back with READ(10) over BOT at ${SIZES.join('/')} bytes per command`,
      async (b) => {
        const plan = regionPlan(65536);
        const written = plan.map((p) => randomFillSync(new Uint8Array(p.size)));
        const dev = await waitForKernelDisk();
        const fd = openSync(dev, 'r+');
        try {
          for (const [i, p] of plan.entries())
            assertEqual(writeSync(fd, written[i], 0, p.size, p.lba * BLOCK), p.size, 'kernel write');
          fsyncSync(fd); // the disk's write cache is flushed by the kernel on fsync of the block device
        } finally {
          closeSync(fd);
        }
        await withBot(mod, b, async (tr) => {
          await tur(tr);
          for (const [i, p] of plan.entries()) {
            const got = new Uint8Array(p.size);
            const r = await tr.execute({
              cdb: cdb10(0x28, p.lba, p.size / BLOCK),
              direction: 'in',
              data: got,
              timeoutMs: 30_000,
            });
            assertEqual(
              [r.status, r.residue, r.transferred],
              [0, 0, p.size],
              `READ(10) at LBA ${p.lba}: status/residue/transferred`,
            );
            assertBytesEqual(got, written[i], `BOT read of the kernel write at LBA ${p.lba} (${p.size} bytes)`);
          }
        });
      },
      { timeoutMs: 180_000 },
    );
  }
}
