/** info, inquiry, tur, sense, capacity: one core call each, formatted. */
import type { Command } from 'commander';
import type { Capacity, ScsiDevice } from '@usbscsi/core';
import type { CliContext } from '../context.js';
import { inquiryFields, inquiryJson, vpdHuman, vpdJson } from '../format/inquiry.js';
import { senseJson, senseLine } from '../format/sense.js';
import { fields, formatBytes } from '../format/table.js';
import { num } from '../format/json.js';
import { parseIntOption } from '../options.js';
import { deviceJson, deviceLine } from './describe.js';
import type { Wrap } from './index.js';

export function capacityJson(c: Capacity): Record<string, unknown> {
  return { lastLba: num(c.lastLba), blocks: num(c.blocks), blockSize: c.blockSize, bytes: num(c.bytes) };
}

function capacityHuman(c: Capacity): [string, string][] {
  return [
    ['Blocks', `${c.blocks} (last LBA ${c.lastLba})`],
    ['Block size', `${c.blockSize} bytes`],
    ['Capacity', `${c.bytes} bytes (${formatBytes(c.bytes)}, ${(Number(c.bytes) / 1e9).toFixed(2)} GB)`],
  ];
}

/** The capacity, or null when the medium is not ready (info still reports the rest). */
async function capacityIfReady(device: ScsiDevice): Promise<Capacity | null> {
  try {
    return await device.readCapacity();
  } catch (err) {
    // Core is loaded by now (the device is open): importing it here keeps it out of --help.
    const { CheckConditionError } = await import('@usbscsi/core');
    if (err instanceof CheckConditionError) return null;
    throw err;
  }
}

export function registerInfoCommands(program: Command, wrap: Wrap): void {
  program
    .command('info')
    .description('device summary: USB identity, transport, LUNs, INQUIRY and capacity')
    .action(
      wrap((ctx) =>
        ctx.withDevice(async (device) => {
          const inquiry = await device.inquiry();
          const capacity = await capacityIfReady(device);
          ctx.emit(
            {
              device: deviceJson(device),
              inquiry: inquiryJson(inquiry),
              capacity: capacity ? capacityJson(capacity) : null,
            },
            () =>
              fields([
                ['Device', deviceLine(device)],
                ['LUNs', `0..${device.description.maxLun}`],
                ...inquiryFields(inquiry),
                ...(capacity
                  ? capacityHuman(capacity)
                  : ([['Capacity', 'unknown (medium not ready)']] as [string, string][])),
              ]),
          );
        }),
      ),
    );

  program
    .command('inquiry')
    .description(
      'standard INQUIRY data, or a VPD page with --vpd (0x00 list, 0x80 serial, 0x83 identifiers, 0xB0 limits)',
    )
    .option('--vpd <page>', 'VPD page number (decimal or 0x-hex)')
    .action(
      wrap((ctx, _args, options) => {
        const page =
          options['vpd'] === undefined ? undefined : parseIntOption(options['vpd'] as string, '--vpd', { max: 0xff });
        return ctx.withDevice(async (device) => {
          if (page === undefined) {
            const inquiry = await device.inquiry();
            ctx.emit(inquiryJson(inquiry), () => fields(inquiryFields(inquiry)));
          } else {
            const vpd = await device.vpd(page);
            ctx.emit(vpdJson(vpd), () => vpdHuman(vpd));
          }
        });
      }),
    );

  program
    .command('tur')
    .description(
      'TEST UNIT READY (once more after a UNIT ATTENTION, which is reported): exit 0 when ' +
        'ready, else the sense category (e.g. 21 NOT READY)',
    )
    .action(
      wrap((ctx) =>
        ctx.withDevice(async (device) => {
          const started = process.hrtime.bigint();
          const report = await device.testUnitReady(ctx.transferOptions());
          const us = Number(process.hrtime.bigint() - started) / 1000;
          const ua = report.unitAttention;
          // A UNIT ATTENTION is reported once and the command retried: say both.
          ctx.emit({ ready: true, latencyUs: Math.round(us), unitAttention: senseJson(ua) }, () =>
            ua
              ? `Ready (${us.toFixed(0)} µs), after a UNIT ATTENTION the device reported first: ${senseLine(ua)}\n`
              : `Ready (${us.toFixed(0)} µs)\n`,
          );
        }),
      ),
    );

  program
    .command('sense')
    .description('REQUEST SENSE: the pending sense data, decoded')
    .action(
      wrap((ctx) =>
        ctx.withDevice(async (device) => {
          const sense = await device.requestSense();
          ctx.emit({ sense: senseJson(sense) }, () => {
            if (!sense || (sense.senseKey === 0 && sense.asc === 0 && sense.ascq === 0))
              return 'No sense (NO SENSE, no additional sense information)\n';
            return `${senseLine(sense)}\n`;
          });
        }),
      ),
    );

  program
    .command('capacity')
    .description('READ CAPACITY (16 when needed): blocks, block size, bytes')
    .action(
      wrap((ctx) =>
        ctx.withDevice(async (device) => {
          const capacity = await device.readCapacity();
          ctx.emit(capacityJson(capacity), () => fields(capacityHuman(capacity)));
        }),
      ),
    );
}

export type { CliContext };
