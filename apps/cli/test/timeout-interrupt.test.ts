/**
 * --timeout reaches every command a run sends (not only raw/read/write), and
 * Ctrl-C stops bench in its TEST UNIT READY phase.
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../src/exit-codes.js';
import { run } from './helpers.js';
import { failingOpen, simWith } from './sim-fixtures.js';

// Commands that went through core's typed helpers and never saw --timeout.
const commands: [string, string[], number][] = [
  ['inquiry', ['inquiry'], 0x12],
  ['inquiry --vpd', ['inquiry', '--vpd', '0x80'], 0x12],
  ['info', ['info'], 0x12],
  ['capacity', ['capacity'], 0x25],
  ['sense', ['sense'], 0x03],
  ['smart', ['smart', '--bridge', 'sat'], 0x85],
  ['nvme identify', ['nvme', 'identify', '--bridge', 'jmicron'], 0xa1],
  ['firmware info', ['firmware', 'info'], 0x12],
];

describe('--timeout for every command the run sends', () => {
  it.each(commands)('%s refuses --timeout 0 with exit 2 before opening the device', async (_name, args) => {
    // An open that would fail with E_BUSY shows the check came first.
    const r = await run(['--device', 'sim:bridge=jms583', '--timeout', '0', ...args], {
      deps: failingOpen('E_BUSY', 'held by pid 42'),
    });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain('--timeout must be between 1');
  });

  it.each(commands)(
    '%s gives up after --timeout on a device that does not answer (exit 8)',
    async (_name, args, opcode) => {
      const started = Date.now();
      const r = await run(['--device', args[0] === 'nvme' ? 'sim:bridge=jms583' : 'sim', '--timeout', '300', ...args], {
        deps: simWith((d) => d.faults.inject({ kind: 'no-response', phase: 'csw', opcode })),
      });
      expect(r.code).toBe(ExitCode.TIMEOUT);
      // The default is 20 s: well under that means the 300 ms reached the request.
      expect(Date.now() - started).toBeLessThan(10_000);
    },
    30_000,
  );
});

describe('bench and Ctrl-C', () => {
  it('stops in the TEST UNIT READY phase (exit 130), not after all of them', async () => {
    const controller = new AbortController();
    let turs = 0;
    const deps = simWith((d) =>
      d.onCommand(0x00, () => {
        if (++turs === 10) controller.abort(new Error('SIGINT'));
      }),
    );
    const r = await run(['--device', 'sim', 'bench', '--size', '64k', '--tur', '100000'], {
      deps,
      signal: controller.signal,
    });
    expect(r.code).toBe(ExitCode.INTERRUPTED);
    expect(turs).toBeLessThan(20);
    // The TUR in flight is cancelled, or the loop stops before the next one.
    expect(r.stderr).toMatch(/cancelled while|interrupted after \d+ of 100000 TEST UNIT READY/);
  });
});
