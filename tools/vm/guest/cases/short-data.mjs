// A READ that ends short on the FunctionFS gadget while several data-IN URBs are in flight: the
// device sends part of the data, a short packet, then its CSW (status 1, the residue). With
// chunkSize 16 KiB and depth 4 the CSW lands in a URB queued behind the short one; the host must
// still report CHECK CONDITION with the sense and the data before it, without reset recovery,
// and (streaming to a file) write nothing but the data.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, skip } from '../runner.mjs';
import { GADGET_VID, GADGET_PID } from '../gadget.mjs';
import { loadBot } from './core-api.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { assert, assertEqual } from '../util.mjs';

const LBA = 2048;
const BLOCKS = 512; // 256 KiB: 16 URBs of 16 KiB
const LENGTH = BLOCKS * 512;
const SENT = 70_000; // 4 whole URBs, then 4464 bytes (a short packet of 368): not on a block or packet boundary
const CHUNK = 16 * 1024;
const REPEAT = 6; // per mode
const read10 = Uint8Array.of(
  0x28,
  0,
  (LBA >>> 24) & 0xff,
  (LBA >>> 16) & 0xff,
  (LBA >>> 8) & 0xff,
  LBA & 0xff,
  0,
  BLOCKS >> 8,
  BLOCKS & 0xff,
  0,
);
const write10 = Uint8Array.of(0x2a, 0, ...read10.subarray(2));

/** Bytes that differ from block to block and within one, so a misplaced chunk shows. */
function pattern() {
  const p = new Uint8Array(LENGTH);
  let x = 0x12345678;
  for (let i = 0; i < LENGTH; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** `running()` gives the started gadget (cases/gadget.mjs owns its life). */
export async function registerShortDataCases(backends, running) {
  const bot = await loadBot();
  for (const { name, backend, reason } of backends) {
    const title =
      `[gadget/${name}] READ ending short (70000 of 262144 bytes) then CSW status 1, URBs of 16 KiB x 4 in flight: ` +
      'CHECK CONDITION, MEDIUM ERROR sense, the data intact, no reset; a file gets only the data';
    if (!backend) {
      skip(title, reason);
      continue;
    }
    if (!bot.mod) {
      skip(title, bot.reason);
      continue;
    }
    test(
      title,
      async () => {
        const gadget = running();
        if (!gadget) throw new Error('the gadget did not start');
        const found = (await backend.list()).filter((d) => d.vendorId === GADGET_VID && d.productId === GADGET_PID);
        assertEqual(found.length, 1, 'gadget devices listed');
        const events = [];
        const handle = await backend.open(found[0]);
        // Which way the CSW came: in the URBs queued behind the short one, or from a read of its own.
        let afterShort = 0;
        const exchange = handle.botExchange.bind(handle);
        handle.botExchange = async (request) => {
          const result = await exchange(request);
          if (result.data?.afterShort) afterShort++;
          return result;
        };
        let tr;
        try {
          tr = await bot.mod.BotTransport.open(handle, {
            detachKernelDriver: true,
            chunkSize: CHUNK,
            depth: 4,
            onEvent: (e) => events.push(e.type),
          });
        } catch (err) {
          await handle.close().catch(() => undefined);
          throw err;
        }
        const dir = mkdtempSync(join(tmpdir(), 'short-data-'));
        try {
          const expected = pattern();
          const w = await tr.execute({ cdb: write10, direction: 'out', data: expected, timeoutMs: 10_000 });
          assertEqual(w.status, 0, 'WRITE(10) of the pattern');
          events.length = 0; // open's own reset recovery is not the command's

          const check = (r, what) => {
            assertEqual(
              [r.status, r.transferred, r.residue],
              [2, SENT, LENGTH - SENT],
              `${what}: status / transferred / residue`,
            );
            assertEqual(
              [r.sense?.senseKey, r.sense?.asc, r.sense?.ascq, String(r.sense?.information)],
              [3, 0x11, 0, String(LBA + Math.floor(SENT / 512))],
              `${what}: sense MEDIUM ERROR / UNRECOVERED READ ERROR at the bad block`,
            );
            assert(
              !events.includes('reset-recovery'),
              `${what}: no reset recovery (host events: ${events.join(', ') || 'none'})`,
            );
          };

          // Whether the CSW reaches a URB queued behind the short one races with the device program
          // (its CSW write follows the data write): several reads, so both ways are likely seen.
          for (let i = 0; i < REPEAT; i++) {
            await gadget.mediumError(SENT);
            const data = new Uint8Array(LENGTH);
            const r = await tr.execute({ cdb: read10, direction: 'in', data, timeoutMs: 10_000 });
            check(r, `into memory (#${i + 1})`);
            assertEqual(
              firstDifference(r.data, expected.subarray(0, SENT)),
              -1,
              'first byte that differs from what was written',
            );
          }

          if (handle.capabilities.fdStreaming) {
            const path = join(dir, 'read.bin');
            const fd = openSync(path, 'w+');
            try {
              for (let i = 0; i < REPEAT; i++) {
                writeSync(fd, new Uint8Array(LENGTH).fill(0xee), 0, LENGTH, 0);
                await gadget.mediumError(SENT);
                const f = await tr.execute({
                  cdb: read10,
                  direction: 'in',
                  dataFd: { fd, position: 0, length: LENGTH },
                  timeoutMs: 10_000,
                });
                check(f, `streamed to a file (#${i + 1})`);
                const back = new Uint8Array(LENGTH);
                readSync(fd, back, 0, LENGTH, 0);
                assertEqual(
                  firstDifference(back.subarray(0, SENT), expected.subarray(0, SENT)),
                  -1,
                  'file: first data byte that differs',
                );
                const written = back.subarray(SENT).findIndex((b) => b !== 0xee);
                assertEqual(
                  written === -1 ? -1 : SENT + written,
                  -1,
                  'file: a byte written past the data (the CSW must not land in the file)',
                );
              }
            } finally {
              closeSync(fd);
            }
          } else {
            console.log(`VM_NOTE short-data (${name}): no fd streaming on this backend; the file half is not run`);
          }
          const inq = await tr.execute({
            cdb: Uint8Array.of(0x12, 0, 0, 0, 36, 0),
            direction: 'in',
            data: new Uint8Array(36),
          });
          assertEqual(inq.status, 0, 'INQUIRY afterwards');
          console.log(
            `VM_NOTE short-data (${name}): host events ${events.join(', ') || 'none'}; ` +
              `CSW taken from the URBs after the short one in ${afterShort} of ${2 * REPEAT} reads, ` +
              'read on its own in the others',
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
          await tr.close();
          await waitForKernelDisk();
        }
      },
      { timeoutMs: 90_000 },
    );
  }
}
