/**
 * read: blocks from the medium to a file (streamed), a pipe (raw bytes) or
 * the terminal (hexdump).
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorCodes, UsbScsiError, badInput, type ScsiDevice } from '@usbscsi/core';
import type { CliContext } from '../context.js';
import { hexdump } from '../format/hexdump.js';
import { formatBytes } from '../format/table.js';
import { writeAll } from '../io.js';
import { nonEmptyPath, parseBigOption, parseSizeOption, parseIntOption } from '../options.js';
import { startProgress } from '../progress.js';
import { deviceLine } from './describe.js';
import type { Wrap } from './index.js';

/** Output to stdout is streamed in pieces of this size (bounded memory for big reads into a pipe). */
const STDOUT_PIECE_BYTES = 4 * 1024 * 1024;
const MAX_READ_BLOCKS = 0xffff_ffff;

export interface BlockRange {
  lba: bigint;
  blocks: number;
  bytes: number;
  blockSize: number;
}

/** --lba plus --blocks or --bytes, checked against the medium's capacity. */
export async function blockRange(
  device: ScsiDevice,
  options: Record<string, unknown>,
  bytesFromFile?: number,
): Promise<BlockRange> {
  const lba = parseBigOption(options['lba'] as string | undefined, '--lba');
  const hasBlocks = options['blocks'] !== undefined;
  const hasBytes = options['bytes'] !== undefined;
  if (bytesFromFile === undefined && hasBlocks === hasBytes)
    throw badInput('give exactly one of --blocks N or --bytes N.');
  const capacity = await device.readCapacity();
  const blockSize = capacity.blockSize;
  let blocks: number;
  let bytes: number;
  if (bytesFromFile !== undefined) {
    bytes = bytesFromFile;
    if (bytes === 0 || bytes % blockSize !== 0) {
      throw badInput(
        `the input is ${bytes} bytes, not a whole number of ${blockSize}-byte blocks; pad ` +
          `it to a multiple of ${blockSize}.`,
      );
    }
    blocks = bytes / blockSize;
  } else if (hasBlocks) {
    blocks = parseIntOption(options['blocks'] as string, '--blocks', { min: 1, max: MAX_READ_BLOCKS });
    bytes = blocks * blockSize;
  } else {
    bytes = parseSizeOption(options['bytes'] as string, '--bytes', { min: 1, max: MAX_READ_BLOCKS * blockSize });
    blocks = Math.ceil(bytes / blockSize);
  }
  if (lba + BigInt(blocks) > capacity.blocks) {
    throw badInput(
      `LBA ${lba} + ${blocks} blocks runs past the end of the medium (${capacity.blocks} ` +
        `blocks, last LBA ${capacity.lastLba}).`,
      {
        lba: lba.toString(),
        blocks,
        capacityBlocks: capacity.blocks.toString(),
      },
    );
  }
  return { lba, blocks, bytes, blockSize };
}

function openOutput(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (err) {
    throw badInput(`cannot write ${path}: ${(err as Error).message}; choose a writable path for -o.`, { path });
  }
}

async function readToStdout(
  ctx: CliContext,
  device: ScsiDevice,
  range: BlockRange,
  hex: boolean,
  onProgress: (n: number) => void,
): Promise<void> {
  const perPiece = Math.max(1, Math.floor(STDOUT_PIECE_BYTES / range.blockSize));
  let done = 0;
  for (let at = 0; at < range.blocks; at += perPiece) {
    const n = Math.min(perPiece, range.blocks - at);
    const data = await device.read(range.lba + BigInt(at), n, ctx.transferOptions());
    const keep = data.subarray(0, Math.min(data.length, range.bytes - done));
    await writeAll(ctx.io.stdout, hex ? hexdump(keep, done) : keep);
    done += keep.length;
    onProgress(done);
  }
}

export function registerRead(program: Command, wrap: Wrap): void {
  program
    .command('read')
    .description('read blocks: hexdump on a terminal, raw bytes to a pipe or -o FILE')
    .requiredOption('--lba <n>', 'first logical block')
    .option('--blocks <n>', 'number of blocks')
    .option('--bytes <n>', 'number of bytes (4096, 64k, 16M); whole blocks are read, the output cut to this size')
    .option(
      '-o, --output <file>',
      'write raw bytes to FILE ("-" = stdout)',
      nonEmptyPath('-o', 'a file to write (or - for stdout)'),
    )
    .action(
      wrap((ctx, _args, options) => {
        const output = options['output'] as string | undefined;
        const toFile = output !== undefined && output !== '-';
        // Checked before the device is opened: exit 2 sends nothing.
        if (ctx.json && !toFile) throw badInput('--json prints a JSON document on stdout, so the data needs -o FILE.');
        return ctx.withDevice(async (device) => {
          const range = await blockRange(device, options);
          const hex = !toFile && output !== '-' && ctx.io.stdout.isTTY === true && !ctx.json;
          if (ctx.opts.verbose)
            ctx.note(
              `Reading ${range.bytes} bytes (${range.blocks} blocks of ${range.blockSize}) from ` +
                `LBA ${range.lba} of ${deviceLine(device)}`,
            );
          const progress = startProgress(ctx, range.bytes, 'read');
          const started = process.hrtime.bigint();
          try {
            if (toFile) {
              const fd = openOutput(output);
              try {
                await device.readToFd(range.lba, range.blocks, fd, {
                  onProgress: (d) => progress.update(d),
                  ...ctx.transferOptions(),
                });
                if (range.bytes !== range.blocks * range.blockSize) ftruncateSync(fd, range.bytes);
              } finally {
                closeSync(fd);
              }
            } else {
              await readToStdout(ctx, device, range, hex, (d) => progress.update(d));
            }
          } catch (err) {
            if (ctx.io.signal?.aborted)
              throw new UsbScsiError(ErrorCodes.CANCELLED, 'read interrupted', { cause: err });
            throw err;
          } finally {
            progress.stop();
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const mbPerSec = range.bytes / 1e6 / Math.max(seconds, 1e-9);
          if (toFile) {
            ctx.emit(
              {
                lba: Number(range.lba),
                blocks: range.blocks,
                blockSize: range.blockSize,
                bytes: range.bytes,
                file: output,
                seconds,
                mbPerSec,
              },
              () =>
                `Read ${formatBytes(range.bytes)} to ${output} in ${seconds.toFixed(2)} ` +
                `s (${mbPerSec.toFixed(1)} MB/s)\n`,
            );
          }
        });
      }),
    );
}
