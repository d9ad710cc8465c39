// The emulator's USB-NVMe bridge models as real USB devices (FunctionFS on dummy_hcd), one
// gadget per bridge with its own VID:PID: each backend opens it through the guest kernel and
// ScsiDevice.health() must find the bridge's protocol from the VID:PID table and read the NVMe
// SMART / health log. The JMS583's port reset (a log reply above 0x230 bytes) is provoked once,
// raw, and must surface as a typed error with the device re-enumerating.
import { test, skip } from '../runner.mjs';
import { startBridgeGadget } from '../gadget.mjs';
import { loadOpen } from './core-api.mjs';
import { waitForKernelDisk } from './bot.mjs';
import { assert, assertEqual, sdDisks } from '../util.mjs';

const BRIDGES = [
  { preset: 'jms583', vid: 0x152d, pid: 0x0583, kind: 'jmicron', vendorCdb: 0xa1 },
  { preset: 'asm2362', vid: 0x174c, pid: 0x2362, kind: 'asmedia', vendorCdb: 0xe6 },
  { preset: 'rtl9210', vid: 0x0bda, pid: 0x9210, kind: 'realtek', vendorCdb: 0xe4 },
];

const hex4 = (n) => n.toString(16).padStart(4, '0');

export async function registerNvmeBridgeCases(backends) {
  const open = await loadOpen();
  for (const { preset, vid, pid, kind, vendorCdb } of BRIDGES) {
    let gadget = null;
    let startError = null;
    const selector = `${hex4(vid)}:${hex4(pid)}`;
    test(
      `[gadget-nvme] ${preset}: the bridge model enumerates as ${selector} and usb-storage binds it`,
      async () => {
        try {
          gadget = await startBridgeGadget(preset, vid, pid);
        } catch (err) {
          startError = err;
          throw err;
        }
        console.log(`VM_NOTE nvme gadget ${preset} enumerated in ${gadget.enumerationMs} ms`);
      },
      { timeoutMs: 60_000 },
    );

    for (const { name, backend, reason } of backends) {
      const title =
        `[gadget-nvme/${name}] ${preset}: health() finds the ${kind} protocol from the VID:PID table ` +
        'and reads the NVMe SMART / health log';
      if (!backend) {
        skip(title, reason);
        continue;
      }
      if (!open.mod) {
        if (open.reason.startsWith('NOT LANDED')) skip(title, open.reason);
        else
          test(title, () => {
            throw new Error(open.reason);
          });
        continue;
      }
      test(
        title,
        async () => {
          if (!gadget) throw new Error(`the ${preset} gadget did not start: ${startError?.message}`);
          const before = (await gadget.stats()).history.length;
          const dev = await open.mod.openDevice({ selector, backend, transport: 'bot' });
          try {
            const h = await dev.health();
            assertEqual(
              [h.path, h.detection.via, h.detection.kind],
              ['nvme', 'table', kind],
              'path / detection / bridge',
            );
            assertEqual(
              [h.identify.model, String(h.smart.powerOnHours), h.smart.temperatureKelvin, h.passed],
              ['USBSCSI SIMULATED NVMe SSD 1TB', '1873', 311, true],
              'model / power-on hours / temperature / passed',
            );
          } finally {
            await dev.close();
            await waitForKernelDisk();
          }
          const history = (await gadget.stats()).history;
          assert(
            history.slice(-20).some((r) => r.opcode === vendorCdb),
            `the model received 0x${vendorCdb.toString(16)} CDBs (last opcodes ${history
              .slice(-20)
              .map((r) => r.opcode.toString(16))
              .join(' ')}; ${history.length - before} new)`,
          );
        },
        { timeoutMs: 60_000 },
      );
    }

    if (preset === 'jms583') {
      const first = backends.find((b) => b.backend);
      const title =
        `[gadget-nvme/${first?.name ?? 'none'}] jms583 hazard: a raw 564-byte self-test log read ` +
        'resets the port (typed error), the device re-enumerates, and the capped read then works';
      if (!first || !open.mod) skip(title, first ? open.reason : 'no backend loaded');
      else
        test(
          title,
          async () => {
            if (!gadget) throw new Error('the jms583 gadget did not start');
            const dev = await open.mod.openDevice({ selector, backend: first.backend, transport: 'bot' });
            let error = null;
            try {
              const block = new Uint8Array(512);
              block.set([0x4e, 0x56, 0x4d, 0x45]);
              const v = new DataView(block.buffer);
              v.setUint32(8, 0x02, true);
              v.setUint32(12, 0xffffffff, true);
              v.setUint32(48, 0x06 | ((564 / 4 - 1) << 16), true);
              await dev.execute(Uint8Array.of(0xa1, 0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0), {
                direction: 'out',
                data: block,
                allowMediumWrite: true,
              });
              await dev.execute(Uint8Array.of(0xa1, 0x82, 0, 0, 0x02, 0x34, 0, 0, 0, 0, 0, 0), {
                length: 564,
                timeoutMs: 3000,
                allowMediumWrite: true,
              });
            } catch (err) {
              error = err;
            } finally {
              await dev.close().catch(() => undefined);
            }
            console.log(
              `VM_NOTE jms583 hazard through ${first.name}: ` +
                `${error ? `${error.code}: ${error.message}` : 'no error'}; ` +
                `disconnects ${JSON.stringify(gadget.disconnects)}`,
            );
            assert(
              error && ['E_DEVICE_GONE', 'E_TIMEOUT', 'E_IO', 'E_STALL', 'E_PHASE_ERROR'].includes(error.code),
              `a typed transport error, got ${error?.code ?? 'success'}`,
            );
            assertEqual(gadget.disconnects.length, 1, 'port resets the model asked for');
            await gadget.waitBound();
            const again = await open.mod.openDevice({ selector, backend: first.backend, transport: 'bot' });
            try {
              const log = await (await again.nvme()).selfTestLog();
              assertEqual([log.capped, log.slotsRead], [true, 19], 'capped self-test log read');
            } finally {
              await again.close();
              await waitForKernelDisk();
            }
            assertEqual((await gadget.bridge()).hazards.length, 1, 'hazards fired in the model');
          },
          { timeoutMs: 90_000 },
        );
    }

    test(
      `[gadget-nvme] ${preset}: teardown (unbind the UDC, stop the model)`,
      async () => {
        if (!gadget) throw new Error(`no ${preset} gadget to tear down`);
        await gadget.stop();
        assertEqual(sdDisks().length, 0, 'sd disks after unbinding');
      },
      { timeoutMs: 30_000 },
    );
  }
}
