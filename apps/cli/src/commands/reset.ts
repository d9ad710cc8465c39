/**
 * reset: BOT reset recovery (class request 0xFF + CLEAR_FEATURE(HALT) on both
 * bulk endpoints) through the device API; --port: a USB port reset of the
 * selected device, after which it re-enumerates.
 */
import type { Command } from 'commander';
import { asMassStorage, parseSelector, resolveBackend, selectDevice, type MassStorageDeviceInfo } from '@usbscsi/core';
import type { CliContext } from '../context.js';
import { isSimSelector } from '../sim.js';
import { deviceLine, usbIdentity } from './describe.js';
import type { Wrap } from './index.js';

async function portReset(ctx: CliContext): Promise<void> {
  const { backend: choice, dispose } = await ctx.listingBackend();
  try {
    const backend = await resolveBackend(choice);
    const spec = ctx.opts.device;
    const devices = (await backend.list()).map(asMassStorage).filter((d): d is MassStorageDeviceInfo => d !== null);
    const target = selectDevice(devices, parseSelector(spec === undefined || isSimSelector(spec) ? undefined : spec));
    const handle = await backend.open(target);
    try {
      await handle.resetDevice();
    } finally {
      // After a port reset the handle is dead by contract; closing it only frees host resources.
      await handle.close().catch(() => undefined);
    }
    ctx.emit(
      { reset: 'port', device: usbIdentity(target) },
      () => `Port reset done: ${usbIdentity(target)} re-enumerates now.\n`,
    );
  } finally {
    await dispose();
  }
}

export function registerReset(program: Command, wrap: Wrap): void {
  program
    .command('reset')
    .description('BOT reset recovery; --port for a USB port reset (the device re-enumerates)')
    .option('--port', 'USB port reset instead of BOT reset recovery')
    .action(
      wrap(async (ctx, _args, options) => {
        if (options['port'] === true) return portReset(ctx);
        return ctx.withDevice(async (device) => {
          await device.reset();
          ctx.emit({ reset: 'bot', device: deviceLine(device) }, () => `Reset recovery done: ${deviceLine(device)}\n`);
        });
      }),
    );
}
