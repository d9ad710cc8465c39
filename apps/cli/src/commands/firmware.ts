/**
 * firmware info | download: core's downloadFirmware with a plan stated first, a progress bar
 * (bytes, chunk, rate) and one result document. Everything checkable without the device (the
 * image, the numbers, consent) is checked before it is opened: exit 2 means nothing was sent.
 * --json prints one document at the end (the chunks with their offsets in it), as every command does.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import {
  hex0x,
  badInput,
  checkFirmwareOptions,
  parseFirmwareMode,
  type DownloadFirmwareOptions,
  type FirmwareCapabilities,
  type FirmwarePlan,
  type FirmwareReport,
} from '@usbscsi/core';
import { formatBytes } from '../format/table.js';
import { parseIntOption, parseSizeOption } from '../options.js';
import { startChunkProgress } from '../progress.js';
import { deviceLine } from './describe.js';
import type { Wrap } from './index.js';
import { readInputFile } from './write.js';

const CAME_BACK: Record<NonNullable<FirmwareReport['cameBack']>, string> = {
  'microcode-changed': 'unit attention 3F/01, microcode changed,',
  reset: 'reset',
  're-enumerated': 're-enumerated',
  ready: 'ready',
};

function targetOption(value: unknown): 'auto' | 'scsi' | 'ata' {
  const t = (value as string | undefined) ?? 'auto';
  if (t !== 'auto' && t !== 'scsi' && t !== 'ata')
    throw badInput(`--target must be auto, scsi or ata; got "${t}".`, { option: '--target' });
  return t;
}

export function capabilitiesJson(c: FirmwareCapabilities) {
  return { ...c, modeNames: (c.modes ?? []).map((m) => hex0x(m)) };
}

function planJson(p: FirmwarePlan) {
  return { ...p, chunks: p.chunks.map((c) => ({ index: c.index, offset: c.offset, length: c.length })) };
}

function describePlan(plan: FirmwarePlan, file: string): string {
  const command =
    plan.target === 'ata'
      ? `ATA DOWNLOAD MICROCODE${plan.dma ? ' DMA' : ''} through SAT`
      : `SCSI WRITE BUFFER, buffer id ${plan.bufferId}`;
  const first = plan.chunks[0]!;
  const last = plan.chunks[plan.chunks.length - 1]!;
  const then =
    plan.activation === 'with-last-chunk'
      ? 'the device activates the new firmware after the last chunk; then wait for it to come back'
      : plan.activation === 'activate-command'
        ? `activate (${plan.target === 'ata' ? 'ATA DOWNLOAD MICROCODE subcommand 0x0f' : 'WRITE BUFFER mode 0x0f'}) ` +
          'and wait for the device to come back'
        : 'nothing: the new firmware is saved and runs after --activate, a power cycle or a hard reset';
  return [
    `  target  ${command}`,
    `  mode    ${hex0x(plan.mode)} ${plan.modeName}`,
    `  why     ${plan.reason}`,
    `  image   ${file}, ${plan.imageBytes} bytes in ` +
      (plan.chunks.length === 1
        ? `1 chunk at buffer offset ${first.offset}`
        : `${plan.chunks.length} chunks of ${plan.chunkSize} at buffer offsets ${first.offset}..${last.offset}`),
    `  then    ${then}`,
  ].join('\n');
}

export function registerFirmware(program: Command, wrap: Wrap): void {
  const firmware = program
    .command('firmware')
    .description('firmware download (WRITE BUFFER, or ATA DOWNLOAD MICROCODE behind a USB-SATA bridge)');

  firmware
    .command('info')
    .description('download modes, offset boundary, buffer size and current revision (read-only)')
    .option('--target <auto|scsi|ata>', 'WRITE BUFFER (scsi) or ATA DOWNLOAD MICROCODE (ata); default auto')
    .option('--buffer-id <n>', 'WRITE BUFFER buffer id (default 0)')
    .action(
      wrap((ctx, _args, options) => {
        const target = targetOption(options['target']);
        const bufferId =
          options['bufferId'] === undefined
            ? 0
            : parseIntOption(options['bufferId'] as string, '--buffer-id', { max: 255 });
        return ctx.withDevice(async (device) => {
          const info = await device.firmwareInfo({ target, bufferId });
          ctx.emit(capabilitiesJson(info), () =>
            [
              `Device          ${deviceLine(device)}`,
              `Revision        ${info.revision}`,
              `Through         ${info.target === 'ata' ? 'ATA DOWNLOAD MICROCODE (SAT)' : 'SCSI WRITE BUFFER'}`,
              `Modes           ` +
                (info.modes === undefined
                  ? 'not reported'
                  : info.modes.length
                    ? info.modes.map((m) => hex0x(m)).join(', ')
                    : 'none') +
                (info.modes ? ` (from ${info.modesSource.replace(/-/g, ' ')})` : ''),
              `Offset boundary ` +
                (info.offsetBoundary === undefined
                  ? 'not reported'
                  : info.offsetBoundary === 0
                    ? 'offset 0 only'
                    : `${info.offsetBoundary} bytes`),
              `Buffer          ` +
                (info.bufferCapacity === undefined
                  ? 'not reported'
                  : `${info.bufferCapacity} bytes (${formatBytes(info.bufferCapacity)})`),
              ...(info.minSegment !== undefined
                ? [`Segments        ${info.minSegment}..${info.maxSegment} bytes`]
                : []),
              ...info.notes.map((n) => `Note            ${n}`),
              '',
            ].join('\n'),
          );
        });
      }),
    );

  firmware
    .command('download <image>')
    .description(
      'download IMAGE to the device (needs --yes; --activate to switch to it now; --dry-run prints the plan)',
    )
    .option(
      '--mode <auto|5|7|0xd|0xe>',
      'WRITE BUFFER download mode (default auto: chosen from what the device reports)',
    )
    .option('--chunk <bytes>', 'bytes per segment, a multiple of the offset boundary (e.g. 4096, 64k)')
    .option('--offset <bytes>', 'buffer offset of the first segment (default 0)')
    .option('--buffer-id <n>', 'WRITE BUFFER buffer id (default 0)')
    .option('--activate', 'switch to the new firmware when the download ends, and wait for the device to come back')
    .option('--target <auto|scsi|ata>', 'WRITE BUFFER (scsi) or ATA DOWNLOAD MICROCODE through SAT (ata); default auto')
    .option('--dma', 'ATA: DOWNLOAD MICROCODE DMA (93h) instead of PIO (92h)')
    .option('--activation-timeout <s>', 'how long to wait for the device after activation (default 60)')
    .option('--dry-run', 'print the plan (mode, chunks, offsets) and send no download command')
    .option('--yes', 'consent: the device gets new firmware')
    .action(
      wrap(async (ctx, args, options) => {
        const file = args[0]!;
        const image = readInputFile(file, 'IMAGE');
        const request: DownloadFirmwareOptions = {
          mode: parseFirmwareMode(options['mode'] as string | undefined),
          target: targetOption(options['target']),
          activate: options['activate'] === true,
          allowMediumWrite: options['yes'] === true,
          dryRun: options['dryRun'] === true,
          ...(options['chunk'] !== undefined
            ? { chunkSize: parseSizeOption(options['chunk'] as string, '--chunk', { min: 1, max: 0xffffff }) }
            : {}),
          ...(options['offset'] !== undefined
            ? { offset: parseSizeOption(options['offset'] as string, '--offset', { max: 0xffffff }) }
            : {}),
          ...(options['bufferId'] !== undefined
            ? { bufferId: parseIntOption(options['bufferId'] as string, '--buffer-id', { max: 255 }) }
            : {}),
          ...(options['dma'] === true ? { ataDma: true } : {}),
          ...(options['activationTimeout'] !== undefined
            ? {
                activationTimeoutMs:
                  1000 *
                  parseIntOption(options['activationTimeout'] as string, '--activation-timeout', { min: 1, max: 3600 }),
              }
            : {}),
          ...(ctx.timeoutMs() !== undefined ? { timeoutMs: ctx.timeoutMs()! } : {}),
        };
        if (!request.dryRun && !request.allowMediumWrite) {
          ctx.io.stderr.write(
            `Would download ${image.length} bytes of ${file} as new firmware to ${ctx.selectorText()}\n`,
          );
        }
        // Consent, mode and numbers: refused here, before the device is opened.
        checkFirmwareOptions(image.length, request);
        return ctx.withDevice(async (device, reopen) => {
          const plan = (await device.downloadFirmware(image, { ...request, dryRun: true })).plan;
          ctx.note(
            `${request.dryRun ? 'Plan for' : 'Downloading firmware to'} ` +
              `${deviceLine(device)}:\n` +
              describePlan(plan, basename(file)),
          );
          if (request.dryRun) {
            ctx.emit({ dryRun: true, plan: planJson(plan) }, () =>
              plan.chunks
                .map(
                  (c) =>
                    `chunk ${String(c.index + 1).padStart(4)}  offset ${String(c.offset).padStart(8)} ` +
                    ` ${c.length} bytes\n`,
                )
                .join(''),
            );
            return;
          }
          const progress = startChunkProgress(ctx, image.length, plan.chunks.length, 'firmware');
          const timings: { index: number; offset: number; length: number; ms: number }[] = [];
          let last = Date.now();
          let report: FirmwareReport;
          try {
            report = await device.downloadFirmware(image, {
              ...request,
              dryRun: false,
              ...(reopen ? { reopen } : {}),
              ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
              onProgress: (p) => {
                if (p.phase === 'download') {
                  const chunk = plan.chunks[p.chunk - 1]!;
                  timings.push({
                    index: chunk.index,
                    offset: chunk.offset,
                    length: chunk.length,
                    ms: Date.now() - last,
                  });
                  last = Date.now();
                  progress.update(p.bytes, p.chunk);
                } else if (p.phase === 'wait') {
                  progress.stop();
                  ctx.note(
                    plan.activation === 'with-last-chunk'
                      ? 'Activating: waiting for the device to come back…'
                      : 'Activated (0x0f): waiting for the device to come back…',
                  );
                }
              },
            });
          } finally {
            progress.stop();
          }
          const seconds = report.durationMs / 1000;
          ctx.emit({ ...report, plan: planJson(report.plan), chunks: timings }, () => {
            const lines = [
              `Downloaded ${report.bytesSent} bytes in ${report.chunksSent} chunk${report.chunksSent === 1 ? '' : 's'}`,
            ];
            if (report.state === 'deferred')
              lines.push(
                `Saved, not active: revision ${report.revisionBefore} runs until --activate, a power ` +
                  `cycle or a hard reset (${seconds.toFixed(2)} s)`,
              );
            else
              lines.push(
                `Activated: revision ${report.revisionBefore} -> ${report.revisionAfter} ` +
                  `(${CAME_BACK[report.cameBack ?? 'ready']} after ${((report.activationMs ?? 0) / 1000).toFixed(2)} ` +
                  `s; ${seconds.toFixed(2)} s in all)`,
              );
            return lines.join('\n') + '\n';
          });
        });
      }),
    );
}
