/**
 * raw: sg_raw's job. Any CDB (hex), data-in length or data-out file, then
 * status, decoded sense, residue and the data. The exit status is the
 * command's outcome category (0 GOOD, 2x for CHECK CONDITION sense keys).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { badInput, hex0x, hexBytes, mediumWriteReason, opcodeName, rawCdb, type ScsiResult } from '@usbscsi/core';
import { exitCodeForStatus } from '../exit-codes.js';
import { hexdump } from '../format/hexdump.js';
import { senseJson, senseLine, statusName } from '../format/sense.js';
import { fields } from '../format/table.js';
import { writeAll } from '../io.js';
import { nonEmptyPath, parseSizeOption } from '../options.js';
import type { Wrap } from './index.js';
import { readInputFile } from './write.js';

/** Largest data-in buffer `raw` allocates (sg_raw caps its buffer likewise). */
const MAX_RAW_IN = 64 * 1024 * 1024;

export function rawResultJson(cdb: Uint8Array, result: ScsiResult, file: string | undefined): Record<string, unknown> {
  return {
    cdb: hexBytes(cdb, ' '),
    command: opcodeName(cdb),
    status: result.status,
    statusName: statusName(result.status),
    sense: senseJson(result.sense),
    transferred: result.transferred,
    residue: result.residue,
    durationUs: Math.round(result.durationNs / 1000),
    data: file === undefined && result.data.length > 0 ? Buffer.from(result.data).toString('hex') : null,
    file: file ?? null,
  };
}

export function registerRaw(program: Command, wrap: Wrap): void {
  program
    .command('raw')
    .description('send any CDB (sg_raw style): raw 12 00 00 00 24 00 --in 36')
    .argument('<cdb...>', 'CDB as hex bytes: "12 00 00 00 24 00" or 120000002400')
    .option('--in <len>', 'data-in: read LEN bytes from the device')
    .option('--out <file>', 'data-out: send the bytes of FILE to the device', nonEmptyPath('--out', 'a file to send'))
    .option(
      '-o, --output <file>',
      'save data-in to FILE instead of a hexdump ("-" = raw bytes on stdout)',
      nonEmptyPath('-o', 'a file to write (or - for stdout)'),
    )
    .option('--any-length', 'allow CDB lengths other than 6/10/12/16 (BOT carries 1..16)')
    .option('--yes', 'consent for CDBs that write the medium or firmware')
    .action(
      wrap(async (ctx, args, options) => {
        const cdb = rawCdb(args.join(' '), { anyLength: options['anyLength'] === true });
        if (options['in'] !== undefined && options['out'] !== undefined)
          throw badInput('give --in LEN or --out FILE, not both: a BOT command has one data direction.');
        const inLength =
          options['in'] === undefined
            ? undefined
            : parseSizeOption(options['in'] as string, '--in', { min: 0, max: MAX_RAW_IN });
        const outData = options['out'] === undefined ? undefined : readInputFile(options['out'] as string, '--out');
        const output = options['output'] as string | undefined;
        if (output !== undefined && inLength === undefined) throw badInput('-o saves data-in: add --in LEN.');
        if (ctx.json && output === '-')
          throw badInput(
            '--json prints a JSON document on stdout, so the data cannot go there too: use -o ' +
              'FILE, or drop --json for raw bytes with -o -.',
          );
        // Core refuses too; asking here keeps the device (and any lease) untouched when consent is missing.
        const consent = mediumWriteReason(cdb);
        if (consent !== undefined && options['yes'] !== true)
          throw badInput(`${consent}: add --yes to send it (nothing was sent).`);
        const timeoutMs = ctx.timeoutMs();
        const toFile = output !== undefined && output !== '-';
        // Opened before the CDB is sent: a path that cannot be written must not cost the data (or a command that
        // changes something).
        const fd = toFile ? openOutputFile(output) : undefined;
        try {
          return await ctx.withDevice(async (device) => {
            const result = await device.execute(cdb, {
              ...(inLength !== undefined
                ? { direction: 'in' as const, length: inLength }
                : outData
                  ? { direction: 'out' as const, data: outData }
                  : { direction: 'none' as const }),
              ...(timeoutMs !== undefined ? { timeoutMs } : {}),
              ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
              allowMediumWrite: options['yes'] === true,
            });
            if (fd !== undefined) {
              for (let off = 0; off < result.data.length;)
                off += writeSync(fd, result.data, off, result.data.length - off);
            }
            if (ctx.json) {
              ctx.emit(rawResultJson(cdb, result, toFile ? output : undefined), () => '');
            } else if (output === '-') {
              await writeAll(ctx.io.stdout, result.data);
            } else {
              const asked = inLength ?? outData?.length ?? 0;
              const lines: [string, string | undefined][] = [
                ['CDB', `${hexBytes(cdb, ' ')}  (${opcodeName(cdb)})`],
                ['Status', `${statusName(result.status)} (${hex0x(result.status)})`],
                ['Sense', result.sense ? senseLine(result.sense) : undefined],
                [
                  'Data',
                  inLength !== undefined
                    ? `${result.transferred} of ${asked} bytes in, residue ${result.residue}`
                    : outData
                      ? `${result.transferred} of ${asked} bytes out, residue ${result.residue}`
                      : 'none',
                ],
                ['Saved to', toFile ? output : undefined],
                ['Duration', `${(result.durationNs / 1000).toFixed(0)} µs`],
              ];
              if (!ctx.opts.quiet) ctx.io.stdout.write(fields(lines));
              if (!toFile && result.data.length > 0)
                await writeAll(ctx.io.stdout, (ctx.opts.quiet ? '' : '\n') + hexdump(result.data));
            }
            return exitCodeForStatus(result.status, result.sense?.senseKey);
          });
        } finally {
          if (fd !== undefined) closeSync(fd);
        }
      }),
    );
}

function openOutputFile(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (err) {
    throw badInput(`cannot write ${path}: ${(err as Error).message}; choose a writable path for -o.`, { path });
  }
}
