/**
 * bench: sequential read throughput and TEST UNIT READY latency of the
 * selected device, measured through the same device API every command uses.
 */
import type { Command } from 'commander';
import { ErrorCodes, UsbScsiError, badInput } from '@usbscsi/core';
import { fields, formatBytes } from '../format/table.js';
import { parseIntOption, parseSizeOption } from '../options.js';
import { startProgress } from '../progress.js';
import { deviceLine } from './describe.js';
import type { Wrap } from './index.js';

export function percentile(sortedAscending: number[], p: number): number {
  if (sortedAscending.length === 0) return 0;
  const rank = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1));
  return sortedAscending[rank]!;
}

export function registerBench(program: Command, wrap: Wrap): void {
  program
    .command('bench')
    .description('sequential read MB/s and TEST UNIT READY latency (p50/p99 µs)')
    .option('--size <bytes>', 'bytes to read sequentially from LBA 0 (default 64M, capped at the medium size)', '64M')
    .option('--chunk <bytes>', 'bytes per READ command (default 1M)', '1M')
    .option('--tur <count>', 'TEST UNIT READY commands to time (default 200)', '200')
    .action(
      wrap((ctx, _args, options) => {
        const size = parseSizeOption(options['size'] as string, '--size', { min: 1, max: 2 ** 50 });
        const chunk = parseSizeOption(options['chunk'] as string, '--chunk', { min: 512, max: 64 * 1024 * 1024 });
        const turCount = parseIntOption(options['tur'] as string, '--tur', { min: 1, max: 1_000_000 });
        return ctx.withDevice(async (device) => {
          const capacity = await device.readCapacity();
          const blockSize = capacity.blockSize;
          const chunkBlocks = Math.max(1, Math.floor(chunk / blockSize));
          const totalBlocks = Math.min(Math.floor(size / blockSize), Number(capacity.blocks));
          if (totalBlocks < 1) throw badInput(`--size ${size} is smaller than one ${blockSize}-byte block.`);
          const buffer = new Uint8Array(Math.min(chunkBlocks, totalBlocks) * blockSize);
          const totalBytes = totalBlocks * blockSize;
          const progress = startProgress(ctx, totalBytes, 'bench');
          const readStart = process.hrtime.bigint();
          try {
            for (let at = 0; at < totalBlocks; at += chunkBlocks) {
              const n = Math.min(chunkBlocks, totalBlocks - at);
              await device.readInto(at, buffer.subarray(0, n * blockSize), ctx.transferOptions());
              progress.update((at + n) * blockSize);
            }
          } finally {
            progress.stop();
          }
          const readSeconds = Number(process.hrtime.bigint() - readStart) / 1e9;
          const latencies: number[] = [];
          const signal = ctx.io.signal;
          for (let i = 0; i < turCount; i++) {
            // Ctrl-C between two commands: TUR is quick, so the loop, not the transfer, must notice.
            if (signal?.aborted)
              throw new UsbScsiError(
                ErrorCodes.CANCELLED,
                `bench interrupted after ${i} of ${turCount} TEST UNIT READY commands`,
              );
            const t0 = process.hrtime.bigint();
            await device.testUnitReady(ctx.transferOptions());
            latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
          }
          latencies.sort((a, b) => a - b);
          const doc = {
            device: deviceLine(device),
            read: {
              bytes: totalBytes,
              chunkBytes: chunkBlocks * blockSize,
              seconds: readSeconds,
              mbPerSec: totalBytes / 1e6 / readSeconds,
            },
            tur: {
              count: turCount,
              p50Us: Math.round(percentile(latencies, 50)),
              p99Us: Math.round(percentile(latencies, 99)),
              minUs: Math.round(latencies[0]!),
              maxUs: Math.round(latencies[latencies.length - 1]!),
            },
          };
          ctx.emit(doc, () =>
            fields([
              ['Device', doc.device],
              [
                'Sequential read',
                `${doc.read.mbPerSec.toFixed(1)} MB/s (${formatBytes(totalBytes)} in ${readSeconds.toFixed(2)} ` +
                  `s, ${formatBytes(doc.read.chunkBytes)} per command)`,
              ],
              [
                'TUR latency',
                `p50 ${doc.tur.p50Us} µs, p99 ${doc.tur.p99Us} µs (min ${doc.tur.minUs}, ` +
                  `max ${doc.tur.maxUs}, n=${turCount})`,
              ],
            ]),
          );
        });
      }),
    );
}
