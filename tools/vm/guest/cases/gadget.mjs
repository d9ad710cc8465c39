// The project's emulator as a real USB device (FunctionFS on dummy_hcd), driven through the
// guest kernel's host stack by each backend: enumeration, vendor command, BOT fault injection.
import { readdirSync, readFileSync } from 'node:fs';
import { test, skip } from '../runner.mjs';
import { startGadget, startMassStorageGadget, GADGET_VID, GADGET_PID, FMS_PID } from '../gadget.mjs';
import { loadBot, loadDevice, loadOpen, loadCoreIndex } from './core-api.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { registerContractCases, gadgetEnv } from './contract.mjs';
import { assert, assertEqual, sdDisks, waitFor } from '../util.mjs';

let gadget = null;
let gadgetError = null;

async function findGadget(backend) {
  const found = (await backend.list()).filter((d) => d.vendorId === GADGET_VID && d.productId === GADGET_PID);
  assertEqual(found.length, 1, 'gadget devices listed');
  return found[0];
}

/** Host-side BotTransport events (clear-halt, reset-recovery…) of the running case. */
let hostEvents = [];

async function withGadgetBot(botMod, backend, fn, options = {}) {
  hostEvents = [];
  options = { onEvent: (e) => hostEvents.push(e), ...options };
  const info = await findGadget(backend);
  const handle = await backend.open(info);
  let tr;
  try {
    tr = await botMod.BotTransport.open(handle, { detachKernelDriver: true, ...options });
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  try {
    return await fn(tr);
  } finally {
    await tr.close();
    await waitForKernelDisk();
  }
}

const INQUIRY = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const read10 = (lba, blocks) => Uint8Array.of(0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, blocks, 0);

async function inquiryWorks(tr, what) {
  const r = await tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36) });
  assertEqual(
    [r.status, Buffer.from(r.data.subarray(8, 16)).toString('latin1').trim()],
    [0, 'USBSCSI'],
    `INQUIRY after ${what}`,
  );
}

/** `more(() => gadget)`: cases kept in files of their own, run on the started gadget before it is torn down. */
export async function registerGadgetCases(backends, more = async () => {}) {
  test(
    '[gadget] FunctionFS emulator enumerates on dummy_hcd and usb-storage binds it (sd disk of 16 MiB)',
    async () => {
      try {
        gadget = await startGadget();
      } catch (err) {
        gadgetError = err;
        throw err;
      }
      const disk = sdDisks()[0];
      assertEqual(Number(readFileSync(`/sys/block/${disk}/size`, 'utf8')), 32768, 'sd size in 512-byte sectors');
      const stats = await gadget.stats();
      console.log(
        `VM_NOTE gadget enumeration ${gadget.enumerationMs} ms; kernel sent ${stats.commands} commands: ` +
          `${stats.history.map((h) => h.opcode.toString(16)).join(' ')}; GET MAX LUN ${stats.getMaxLun}`,
      );
      assert(stats.getMaxLun >= 1, 'the kernel asked GET MAX LUN over ep0');
    },
    { timeoutMs: 60_000 },
  );

  const bot = await loadBot();
  const core = await loadCoreIndex();
  const { buildSimFirmwareImage } = await import(`${process.cwd()}/packages/emulator/dist/index.js`);
  for (const { name, backend, reason } of backends) {
    const t = (title, fn, opts) => {
      const full = `[gadget/${name}] ${title}`;
      if (!backend) return skip(full, reason);
      if (!bot.mod)
        return bot.reason.startsWith('NOT LANDED')
          ? skip(full, bot.reason)
          : test(full, () => {
              throw new Error(bot.reason);
            });
      test(
        full,
        async () => {
          if (!gadget) throw new Error(`the gadget did not start: ${gadgetError?.message}`);
          await fn(backend, bot.mod);
        },
        opts,
      );
    };

    t('lists the emulator as 1d6b:0104, high speed, BOT interface with 512-byte bulk packets', async (b) => {
      const info = await findGadget(b);
      assertEqual(info.speed, 'high', 'speed');
      const intf = info.configurations[0].interfaces.find((i) => i.interfaceClass === 8);
      assertEqual(
        [intf.interfaceSubClass, intf.interfaceProtocol, intf.endpoints.map((e) => [e.address, e.maxPacketSize])],
        [
          6,
          0x50,
          [
            [0x81, 512],
            [0x02, 512],
          ],
        ],
        'interface',
      );
    });

    t(
      'BotTransport through the kernel: INQUIRY, READ CAPACITY and a vendor command (0xC1) handled by the emulator',
      async (b, m) => {
        await withGadgetBot(m, b, async (tr) => {
          await inquiryWorks(tr, 'open');
          const cap = await tr.execute({
            cdb: Uint8Array.of(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            direction: 'in',
            data: new Uint8Array(8),
          });
          assertEqual(new DataView(cap.data.buffer, cap.data.byteOffset).getUint32(0) + 1, 32768, 'blocks');
          const cdb = Uint8Array.of(0xc1, 1, 2, 3, 48, 5);
          const v = await tr.execute({ cdb, direction: 'in', data: new Uint8Array(48) });
          assertEqual(v.status, 0, 'vendor command status');
          assertEqual(Buffer.from(v.data.subarray(0, 17)).toString('latin1'), 'USBSCSI-VENDOR-C1', 'vendor signature');
          assertEqual([...v.data.subarray(32, 38)], [...cdb], 'echoed CDB');
        });
      },
    );

    const faultCase = (kind, spec, run, check) =>
      t(
        `fault ${kind} through the kernel: ${check}`,
        async (b, m) => {
          await withGadgetBot(m, b, async (tr) => {
            await inquiryWorks(tr, 'open');
            const before = { ...(await gadget.stats()), ep0: await gadget.events() };
            hostEvents = [];
            await gadget.inject({ kind, ...spec });
            let result, error;
            try {
              result = await run(tr);
            } catch (err) {
              error = err;
            }
            const after = { ...(await gadget.stats()), ep0: await gadget.events() };
            const seen = (k) => (after.ep0[k] ?? 0) - (before.ep0[k] ?? 0);
            const events = hostEvents.map((e) => e.type + (e.endpoint ? `(0x${e.endpoint.toString(16)})` : ''));
            console.log(
              `VM_NOTE gadget ${kind}: host events ${events.join(', ') || 'none'}; ` +
                `device saw CLEAR_FEATURE(HALT) ${seen('SETUP_02_01')}, Bulk-Only reset ${seen('SETUP_21_ff')}, ` +
                `port resets ${after.portResets - before.portResets}`,
            );
            await run.verify(result, error, before, after, seen);
            await inquiryWorks(tr, `the ${kind} fault`);
          });
        },
        { timeoutMs: 60_000 },
      );

    const readRun = (tr) =>
      tr.execute({ cdb: read10(0, 8), direction: 'in', data: new Uint8Array(4096), timeoutMs: 3000 });

    faultCase(
      'stall-data-in',
      { opcode: 0x28 },
      Object.assign(readRun, {
        verify: (r, e, before, after, seen) => {
          assert(!e, `no exception: ${e?.message}`);
          assertEqual([r.status, r.transferred], [2, 0], 'CHECK CONDITION, nothing transferred');
          assert(
            hostEvents.some((x) => x.type === 'clear-halt' && x.endpoint === 0x81),
            `the host cleared the IN halt (events ${JSON.stringify(hostEvents)})`,
          );
          assertEqual(
            seen('SETUP_02_01'),
            0,
            'CLEAR_FEATURE(HALT) setups that reached the device (dummy_hcd answers them itself)',
          );
        },
      }),
      'CHECK CONDITION after the host clears the halt and reads the CSW; the device never sees CLEAR_FEATURE',
    );

    faultCase(
      'stall-csw',
      { opcode: 0x28 },
      Object.assign((tr) => readRun(tr), {
        verify: (r, e) => {
          assert(!e, `no exception: ${e?.message}`);
          assertEqual([r.status, r.transferred], [0, 4096], 'GOOD with the data after the CSW retry');
        },
      }),
      'the CSW is read again after clearing the halt; GOOD',
    );

    faultCase(
      'short-data',
      { opcode: 0x28, bytes: 1000 },
      Object.assign((tr) => readRun(tr), {
        verify: (r, e) => {
          assert(!e, `no exception: ${e?.message}`);
          assertEqual([r.status, r.transferred, r.residue], [0, 1000, 4096 - 1000], 'status / transferred / residue');
        },
      }),
      'short data-in reported with its residue',
    );

    for (const kind of ['phase-error', 'bad-csw-signature', 'wrong-csw-tag']) {
      faultCase(
        kind,
        { opcode: 0x28 },
        Object.assign((tr) => readRun(tr), {
          verify: (r, e, before, after) => {
            assert(e, `an error (got result ${JSON.stringify(r && { status: r.status })})`);
            assert(['E_PHASE_ERROR', 'E_IO'].includes(e.code), `typed error code, got ${e.code}: ${e.message}`);
            assertEqual(after.resets - before.resets, 1, 'Bulk-Only Mass Storage Reset reached the device over ep0');
          },
        }),
        'typed error, reset recovery over the real ep0, then the device works',
      );
    }

    faultCase(
      'no-response',
      { opcode: 0x28, phase: 'csw' },
      Object.assign((tr) => readRun(tr), {
        verify: (r, e, before, after) => {
          assertEqual(e?.code, 'E_TIMEOUT', `error code (${e?.message})`);
          assertEqual(after.resets - before.resets, 1, 'reset recovery reached the device');
        },
      }),
      'E_TIMEOUT within the budget, then reset recovery',
    );

    faultCase(
      'not-ready',
      { opcode: 0x28 },
      Object.assign((tr) => readRun(tr), {
        verify: (r, e) => {
          assert(!e, `no exception: ${e?.message}`);
          assertEqual(
            [r.status, r.sense?.senseKey, r.sense?.asc, r.sense?.ascq],
            [2, 2, 4, 1],
            'CHECK CONDITION with NOT READY / BECOMING READY (auto-sense over the real bus)',
          );
        },
      }),
      'CHECK CONDITION, sense NOT READY / LOGICAL UNIT IS IN PROCESS OF BECOMING READY',
    );

    // Babble at a packet boundary is not babble on a real bus: the extra packet becomes the start
    // of the host's next IN transfer (the CSW read), and FunctionFS cannot flush an IN write queued
    // in the UDC on a Bulk-Only reset, so the case ends with an unplug/replug.
    t(
      'fault too-much-data through the kernel: reported as an error, never success; a replug clears the queued data',
      async (b, m) => {
        const info = await findGadget(b);
        const handle = await b.open(info);
        const tr = await m.BotTransport.open(handle, { detachKernelDriver: true });
        let result, error;
        try {
          await inquiryWorks(tr, 'open');
          await gadget.inject({ kind: 'too-much-data', opcode: 0x28 });
          try {
            result = await readRun(tr);
          } catch (err) {
            error = err;
          }
        } finally {
          await tr.close().catch(() => undefined);
        }
        console.log(
          `VM_NOTE gadget too-much-data (${name}): ` +
            (error
              ? `error ${error.code}: ${error.message}`
              : `result status ${result.status}, transferred ${result.transferred}`),
        );
        assert(
          error ? ['E_OVERFLOW', 'E_PHASE_ERROR', 'E_IO'].includes(error.code) : result.status !== 0,
          `babble is not reported as success (${error?.code ?? result?.status})`,
        );
        await gadget.replug();
        // The backend's own view must catch up with the new address (libusb without udev learns it
        // from netlink events on its event thread; node-usb reads sysfs on every list).
        const t0 = Date.now();
        await waitFor(
          async () => {
            const found = (await b.list()).filter((d) => d.vendorId === GADGET_VID && d.productId === GADGET_PID);
            if (found.length !== 1) return false;
            try {
              await (await b.open(found[0])).close();
              return true;
            } catch {
              return false;
            }
          },
          `${name} to list and open the replugged gadget`,
          15_000,
        );
        console.log(
          `VM_NOTE gadget replug: ${name} listed and opened the new address ${Date.now() - t0} ms ` +
            'after usb-storage had bound it',
        );
      },
      { timeoutMs: 90_000 },
    );

    // Firmware end to end on a real kernel: segments through the host stack, 0x0f, the gadget
    // drops off the bus and enumerates again (UDC unbind/bind, new bcdDevice), core finds it again.
    t(
      'firmware download: segmented 0x0e + activate, re-enumeration, the new revision read from the device found again',
      async (b, m) => {
        if (!core.mod) throw new Error(core.reason);
        const { ScsiDevice, UsbScsiError } = core.mod;
        const open = async (info) =>
          new ScsiDevice(await m.BotTransport.open(await b.open(info), { detachKernelDriver: true }));
        const first = await findGadget(b);
        const dev = await open(first);
        const revision = name === 'native' ? '2.1' : '3.1';
        let report;
        try {
          const before = (await dev.inquiry()).revision;
          const reopen = async () => {
            const found = (await b.list()).filter(
              (d) => d.vendorId === GADGET_VID && d.productId === GADGET_PID && d.deviceAddress !== first.deviceAddress,
            );
            if (found.length !== 1) throw new UsbScsiError('E_NOT_FOUND', 'the gadget has not enumerated again yet');
            // usb-storage binds the new enumeration and scans it a second later: detached in the middle
            // of that scan, the kernel's last CSW stays queued in the gadget (the FunctionFS adapter
            // cannot take back a write the UDC holds, so the Bulk-Only reset does not flush it as a
            // device would), and every command after it reads the previous command's CSW. Once the
            // kernel has attached the disk, nothing of its is in flight.
            const disks = sdDisks();
            if (disks.length !== 1 || Number(readFileSync(`/sys/block/${disks[0]}/size`, 'utf8')) === 0)
              throw new UsbScsiError('E_NOT_FOUND', 'usb-storage has not attached the new enumeration yet');
            try {
              return await open(found[0]);
            } catch (err) {
              throw new UsbScsiError('E_NOT_FOUND', `not openable yet: ${err?.message ?? err}`);
            }
          };
          const image = buildSimFirmwareImage({ revision, size: 96 * 1024 });
          report = await dev.downloadFirmware(image, {
            allowMediumWrite: true,
            mode: 0x0e,
            activate: true,
            chunkSize: 32 * 1024,
            reopen,
            activationTimeoutMs: 30_000,
          });
          console.log(
            `VM_NOTE gadget firmware (${name}): ${report.chunksSent} chunks, ` +
              `${report.revisionBefore} -> ${report.revisionAfter}, came back (${report.cameBack}) ` +
              `after ${report.activationMs} ms, ${report.durationMs} ms in all`,
          );
          assertEqual(
            [report.state, report.revisionBefore, report.revisionAfter, report.cameBack],
            ['activated', before, revision, 're-enumerated'],
            'report',
          );
        } finally {
          await dev.close().catch(() => undefined);
          await gadget.reenumerated();
          await waitForKernelDisk();
        }
        const usb = readdirSync('/sys/bus/usb/devices').find((d) => {
          try {
            return readFileSync(`/sys/bus/usb/devices/${d}/idProduct`, 'utf8').trim() === '0104';
          } catch {
            return false;
          }
        });
        assertEqual(
          readFileSync(`/sys/bus/usb/devices/${usb}/bcdDevice`, 'utf8').trim(),
          revision.replace(/\D/g, '').padStart(4, '0'),
          'bcdDevice the kernel read at the new enumeration',
        );
        await withGadgetBot(m, b, async (tr) => {
          const r = await tr.execute({ cdb: INQUIRY, direction: 'in', data: new Uint8Array(36) });
          assertEqual(
            Buffer.from(r.data.subarray(32, 36)).toString('latin1').trim(),
            revision,
            'INQUIRY revision through the kernel after the re-enumeration',
          );
        });
      },
      { timeoutMs: 90_000 },
    );

    t(
      'fault get-max-lun-stall through the kernel: BotTransport.open treats the stalled GET MAX LUN as one LUN',
      async (b, m) => {
        await gadget.inject({ kind: 'get-max-lun-stall' });
        await withGadgetBot(m, b, async (tr) => {
          assertEqual(tr.maxLun, 0, 'maxLun after a stalled GET MAX LUN');
          await inquiryWorks(tr, 'a stalled GET MAX LUN');
        });
      },
    );

    // A long read is one job (the native engine sends each next CBW from the previous CSW's
    // completion): the device failing its Nth command must end it there, with core's usual verdict.
    t(
      'fault not-ready on the 10th READ of a long ScsiDevice.readInto: CheckConditionError, ' +
        'the 9 before it read, nothing after it sent',
      async (b, m) => {
        const deviceMod = await loadDevice();
        if (!deviceMod.mod) throw new Error(deviceMod.reason);
        await withGadgetBot(m, b, async (tr) => {
          const dev = new deviceMod.mod.ScsiDevice(tr, { maxTransferBytes: 4096 });
          await dev.testUnitReady().catch(() => undefined);
          const reference = new Uint8Array(32 * 4096);
          await dev.readInto(0, reference);
          await gadget.inject({ kind: 'not-ready', opcode: 0x28, skip: 9 });
          const before = await gadget.stats();
          const back = new Uint8Array(32 * 4096);
          let error;
          try {
            await dev.readInto(0, back);
          } catch (err) {
            error = err;
          }
          const after = await gadget.stats();
          assert(error instanceof deviceMod.mod.CheckConditionError, `a CheckConditionError (${error?.message})`);
          assertEqual(error.details.senseKey, 2, 'NOT READY');
          assertEqual(after.commands - before.commands, 10 + 1, 'READs sent (and the REQUEST SENSE of the 10th)');
          assert(
            Buffer.from(back.subarray(0, 9 * 4096)).equals(Buffer.from(reference.subarray(0, 9 * 4096))),
            'the 9 READs before the failing one filled the buffer',
          );
          assert(
            back.subarray(9 * 4096).every((x) => x === 0),
            'nothing landed after the failing READ',
          );
        });
      },
    );

    faultCase(
      'stall-data-out',
      { opcode: 0x2a },
      Object.assign(
        (tr) =>
          tr.execute({
            cdb: Uint8Array.of(0x2a, 0, 0, 0, 0, 16, 0, 0, 8, 0),
            direction: 'out',
            data: new Uint8Array(4096).fill(0xa5),
            timeoutMs: 3000,
          }),
        {
          verify: (r, e) => {
            assert(!e, `no exception: ${e?.message}`);
            assertEqual(r.status, 2, 'CHECK CONDITION after the data-out stall');
          },
        },
      ),
      'CHECK CONDITION after the OUT halt is cleared',
    );
  }

  // The contract suite on the same gadget: faults programmed over the device program's IPC.
  await registerContractCases('gadget', backends, (name, b) =>
    gadgetEnv(name, b, () => gadget, GADGET_VID, GADGET_PID),
  );
  await more(() => gadget);

  test('[gadget] teardown: unbind the UDC (the sd disk goes away cleanly) and stop the emulator', async () => {
    if (!gadget) throw new Error('no gadget to tear down');
    const { writeFileSync } = await import('node:fs');
    writeFileSync('/sys/kernel/config/usb_gadget/g1/UDC', '\n');
    const { waitFor } = await import('../util.mjs');
    await waitFor(() => sdDisks().length === 0, 'the sd disk to leave after unbinding the UDC', 10_000);
    gadget.stop();
  });

  // The kernel's f_mass_storage on the same UDC: opening for BOT must not reset it (SET_INTERFACE),
  // nor may the reset recovery at open raise a UNIT ATTENTION.
  let fms = null;
  let fmsError = null;
  test(
    "[gadget] the kernel's f_mass_storage enumerates on dummy_hcd and usb-storage binds it",
    async () => {
      if (!gadget) throw new Error('the FunctionFS gadget never started, so its UDC is unknown');
      try {
        fms = await startMassStorageGadget(gadget.udc);
      } catch (err) {
        fmsError = err;
        throw err;
      }
    },
    { timeoutMs: 60_000 },
  );
  const open = await loadOpen();
  for (const { name, backend, reason } of backends) {
    const full =
      `[gadget/${name}] f_mass_storage: openDevice (BOT, lease) sends no SET_INTERFACE; ` +
      'TEST UNIT READY is GOOD at once, no 06/29/00';
    if (!backend) {
      skip(full, reason);
      continue;
    }
    if (!open.mod) {
      skip(full, open.reason);
      continue;
    }
    test(
      full,
      async () => {
        if (!fms) throw new Error(`f_mass_storage did not start: ${fmsError?.message}`);
        const dev = await open.mod.openDevice({
          selector: `1d6b:${FMS_PID.toString(16).padStart(4, '0')}`,
          backend,
          transport: 'bot',
        });
        try {
          const first = await dev.testUnitReady();
          assertEqual(
            JSON.stringify(first.unitAttention ?? null),
            'null',
            'UNIT ATTENTION reported by the first TEST UNIT READY',
          );
          assertEqual(
            JSON.stringify((await dev.testUnitReady()).unitAttention ?? null),
            'null',
            'UNIT ATTENTION on the second',
          );
        } finally {
          await dev.close();
        }
        await waitForKernelDisk();
      },
      { timeoutMs: 60_000 },
    );
  }
  test('[gadget] f_mass_storage teardown', async () => {
    if (!fms) throw new Error('no f_mass_storage gadget to tear down');
    await fms.stop();
  });
}
