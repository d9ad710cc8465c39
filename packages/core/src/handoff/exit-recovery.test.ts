/**
 * The helper's own module, in process (lease-process.test.ts runs it for real after a child's
 * process.exit(); the CLI's spawned tests run it from the bundle).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processGone, runExitRecovery } from './exit-recovery.js';
import type { ExitHelperPlan } from './exit-helper.js';

const device = { vendorId: 0x46f4, productId: 1, busNumber: 1, portNumbers: [2], interfaceNumber: 0 };
const exitedPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('processGone', () => {
  it('is false for a live process and true once it has exited', () => {
    expect(processGone(process.pid)).toBe(false);
    expect(processGone(exitedPid())).toBe(true);
  });
});

describe('runExitRecovery', () => {
  it('waits for the parent, and gives up (touching nothing) if it outlives waitMs', async () => {
    const plan: ExitHelperPlan = {
      parentPid: process.pid,
      entry: '',
      waitMs: 120,
      items: [{ spec: { factory: 'nonexistent' }, journalPath: '/nonexistent', device }],
    };
    const started = Date.now();
    expect(await runExitRecovery(plan)).toEqual({ recovered: 0, errors: [`process ${process.pid} is still running`] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('reports a platform it cannot rebuild per item, and goes on with the others', async () => {
    const work = mkdtempSync(join(tmpdir(), 'usbscsi-exit-recovery-'));
    try {
      const journalPath = join(work, 'leases.json');
      const plan: ExitHelperPlan = {
        parentPid: exitedPid(),
        entry: '',
        items: [
          { spec: { factory: 'createPlanet9Platform' }, journalPath, device },
          { spec: { module: import.meta.url, factory: 'notThere' }, journalPath, device },
          {
            spec: { factory: 'createLinuxPlatform', options: { sysfsRoot: work, procRoot: work } },
            journalPath,
            device,
          },
        ],
      };
      const report = await runExitRecovery(plan);
      expect(report.errors).toEqual([
        'no built-in platform createPlanet9Platform',
        `${import.meta.url} exports no function notThere`,
      ]);
      expect(report.recovered).toBe(0); // the Linux platform rebuilt; its journal is empty
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
