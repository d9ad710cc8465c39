/**
 * /dev/srN, /dev/stN and /dev/nstN as --device: accepted like /dev/sdX (SG_IO on the node), and
 * listed when the sysfs walk finds them under the USB storage interface.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type UsbBackend } from '@usbscsi/core';
import { DEFAULT_SIM_DEVICE, EmulatorBackend, parseSimOptions } from '@usbscsi/emulator';
import type { CliDeps } from '../src/context.js';
import { ExitCode } from '../src/exit-codes.js';
import { json, run } from './helpers.js';

/** The simulated device listed with the nodes Linux gives a USB CD/tape bridge. */
const opticalAndTape: CliDeps = {
  simBackend: async (spec) => {
    const inner = new EmulatorBackend({ devices: [{ ...DEFAULT_SIM_DEVICE, ...parseSimOptions(spec) }] });
    const backend: UsbBackend = {
      name: 'listing',
      list: async () =>
        (await inner.list()).map((d) => ({
          ...d,
          storage: [
            {
              interfaceNumber: 0,
              driver: 'usb-storage',
              blockDevices: ['/dev/sr0'],
              sgDevices: ['/dev/sg1', '/dev/sg2'],
              tapeDevices: ['/dev/st0', '/dev/nst0'],
              mounts: [],
            },
          ],
        })),
      open: (d) => inner.open(d),
    };
    return backend;
  },
};

describe('optical and tape nodes', () => {
  it('are accepted as --device: the node is opened for SG_IO (missing here: exit 3, not a usage error)', async () => {
    for (const node of ['/dev/sr97', '/dev/st97', '/dev/nst97']) {
      const r = await run(['--json', '--device', node, 'inquiry']);
      expect(r.code, node).toBe(ExitCode.NOT_FOUND);
      expect(json(r)['error']).toMatchObject({
        code: ErrorCodes.NOT_FOUND,
        message: expect.stringContaining(`${node} does not exist`),
      });
    }
    // Other names under /dev stay usage errors.
    const bad = await run(['--device', '/dev/st0l', 'inquiry']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain('/dev/nstN');
  });

  it('list shows them (table and JSON)', async () => {
    const r = await run(['--device', 'sim', 'list'], { deps: opticalAndTape });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/dev\/sr0,\/dev\/st0,\/dev\/nst0,\/dev\/sg1,\/dev\/sg2/);
    const doc = json(await run(['--device', 'sim', '--json', 'list'], { deps: opticalAndTape }));
    expect(doc['devices'][0]).toMatchObject({
      blockDevices: ['/dev/sr0'],
      tapeDevices: ['/dev/st0', '/dev/nst0'],
      sgDevices: ['/dev/sg1', '/dev/sg2'],
    });
  });
});
