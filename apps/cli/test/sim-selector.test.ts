// One definition of a simulator selector: `--via` refuses exactly what opening a device treats as
// the in-process emulator, and passes anything else on to the daemon.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type UsbScsiError } from '@usbscsi/core';
import { connectVia } from '../src/core-bridge.js';
import { isSimSelector } from '../src/sim.js';

const SIM_MESSAGE = /in-process emulator/;
// A socket nobody listens on: a selector that gets past the sim check fails to connect instead.
const via = 'unix:/nonexistent/usbscsi-sim-selector-test.sock';

describe('sim selectors', () => {
  it.each(['sim', 'sim:', 'sim:blocks=4096', 'sim:faults=csw-stall'])(
    '%s is the emulator, and --via refuses it before connecting',
    async (spec) => {
      expect(isSimSelector(spec)).toBe(true);
      const err = (await connectVia(via, { selector: spec, env: {} }).catch((e: unknown) => e)) as UsbScsiError;
      expect(err.code).toBe(ErrorCodes.BAD_INPUT);
      expect(err.message).toMatch(SIM_MESSAGE);
    },
  );

  it.each(['simulator', 'sim2', 'simple:1', 'SIM', '46f4:0001'])(
    '%s is not the emulator, and --via passes it to the daemon',
    async (spec) => {
      expect(isSimSelector(spec)).toBe(false);
      const err = (await connectVia(via, { selector: spec, env: {} }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).not.toMatch(SIM_MESSAGE);
    },
  );
});
