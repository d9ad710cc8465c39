/**
 * write: a file onto the medium. States device, LBA range and byte count
 * first, always (even with --quiet / --json, on stderr). Without --yes it
 * states what it can know without the device and stops before opening it:
 * exit 2 promises that nothing was sent. Mounted media are refused by core
 * (E_MOUNTED).
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { badInput } from '@usbscsi/core';
import { formatBytes } from '../format/table.js';
import { nonEmptyPath, parseBigOption } from '../options.js';
import { startProgress } from '../progress.js';
import { deviceLine } from './describe.js';
import type { Wrap } from './index.js';
import { blockRange } from './read.js';

/** Writes larger than this are refused: read files in pieces with several commands. */
const MAX_WRITE_BYTES = 2 ** 31;

export function readInputFile(path: string, option: string): Uint8Array {
  try {
    const data = readFileSync(path);
    if (data.length > MAX_WRITE_BYTES)
      throw badInput(`${path} is larger than ${formatBytes(MAX_WRITE_BYTES)}; split it and write it in pieces.`);
    return data;
  } catch (err) {
    if ((err as { code?: string }).code === 'E_BAD_INPUT') throw err;
    throw badInput(`cannot read ${path} (${option}): ${(err as Error).message}; check the path and permissions.`, {
      path,
    });
  }
}

/**
 * The input of a write: a regular file stays on disk and is read by core as the range goes (or by
 * usbscsid itself, handed over with --via), at any size; anything else (a pipe, /dev/stdin) is
 * read into memory first.
 */
type WriteInput = { bytes: number; fd: number } | { bytes: number; data: Uint8Array };

function openInput(path: string, option: string): WriteInput {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw badInput(`cannot read ${path} (${option}): ${(err as Error).message}; check the path and permissions.`, {
      path,
    });
  }
  const stats = fstatSync(fd);
  if (stats.isFile()) return { bytes: stats.size, fd };
  closeSync(fd);
  const data = readInputFile(path, option);
  return { bytes: data.length, data };
}

export function registerWrite(program: Command, wrap: Wrap): void {
  program
    .command('write')
    .description('write FILE to the medium at --lba (needs --yes; refuses mounted media)')
    .requiredOption('--lba <n>', 'first logical block')
    .requiredOption(
      '-i, --input <file>',
      'data to write: a whole number of blocks',
      nonEmptyPath('-i', 'the file to write'),
    )
    .option('--yes', 'consent to overwrite the stated blocks')
    .action(
      wrap(async (ctx, _args, options): Promise<void> => {
        const file = options['input'] as string;
        const input = openInput(file, '-i');
        try {
          const lba = parseBigOption(options['lba'] as string | undefined, '--lba');
          if (options['yes'] !== true) {
            // The block size, and so the range, is the device's: without consent the device is not even opened.
            ctx.io.stderr.write(
              `Would write ${input.bytes} bytes of ${file} from LBA ${lba} of ${ctx.selectorText()}\n`,
            );
            throw badInput(
              'refusing to write without consent: add --yes to overwrite these blocks ' +
                '(nothing was sent to the device).',
              {
                file,
                lba: Number(lba),
                bytes: input.bytes,
                device: ctx.opts.device ?? null,
              },
            );
          }
          await ctx.withDevice(async (device) => {
            const range = await blockRange(device, options, input.bytes);
            const last = range.lba + BigInt(range.blocks) - 1n;
            ctx.io.stderr.write(
              `About to write ${range.bytes} bytes (${range.blocks} blocks of ${range.blockSize}) ` +
                `to LBA ${range.lba}..${last} of ${deviceLine(device)}\n`,
            );
            const progress = startProgress(ctx, range.bytes, 'write');
            const started = process.hrtime.bigint();
            const transfer = {
              allowMediumWrite: true,
              onProgress: (done: number) => progress.update(done),
              ...ctx.transferOptions(),
            };
            try {
              if ('fd' in input)
                await device.writeFromFd(range.lba, range.blocks, input.fd, { ...transfer, position: 0 });
              else await device.write(range.lba, input.data, transfer);
            } finally {
              progress.stop();
            }
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            const mbPerSec = range.bytes / 1e6 / Math.max(seconds, 1e-9);
            ctx.emit(
              {
                lba: Number(range.lba),
                lastLba: Number(last),
                blocks: range.blocks,
                blockSize: range.blockSize,
                bytes: range.bytes,
                seconds,
                mbPerSec,
              },
              () =>
                `Wrote ${formatBytes(range.bytes)} to LBA ${range.lba}..${last} in ${seconds.toFixed(2)} ` +
                `s (${mbPerSec.toFixed(1)} MB/s)\n`,
            );
          });
        } finally {
          if ('fd' in input) closeSync(input.fd);
        }
      }),
    );
}
