/**
 * A progress bar (bytes, MB/s, ETA) for long transfers, drawn on stderr only
 * when stderr is a terminal, and never with --quiet or --json: piped or
 * scripted runs stay silent.
 */
import cliProgress from 'cli-progress';
import type { CliContext } from './context.js';
import { formatBytes } from './format/table.js';

/** Transfers smaller than this finish before a bar would be readable. */
export const PROGRESS_MIN_BYTES = 1024 * 1024;

export interface Progress {
  update(doneBytes: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => {}, stop: () => {} };

export function startProgress(ctx: CliContext, totalBytes: number, label: string): Progress {
  const stderr = ctx.io.stderr;
  if (!stderr.isTTY || ctx.opts.quiet || ctx.json || totalBytes < PROGRESS_MIN_BYTES) return NO_PROGRESS;
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {doneH} / {totalH} | {speed} MB/s | ETA {eta_formatted}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (done: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
    return { doneH: formatBytes(done), totalH: formatBytes(totalBytes), speed: (done / 1e6 / seconds).toFixed(1) };
  };
  bar.start(totalBytes, 0, payload(0));
  return {
    update(done) {
      bar.update(done, payload(done));
    },
    stop() {
      bar.stop();
    },
  };
}

export interface ChunkProgress {
  update(doneBytes: number, chunk: number): void;
  stop(): void;
}

/** Bytes, chunk N/M and rate, for transfers that go in chunks the user chose (firmware); drawn for any size. */
export function startChunkProgress(ctx: CliContext, totalBytes: number, chunks: number, label: string): ChunkProgress {
  const stderr = ctx.io.stderr;
  if (!stderr.isTTY || ctx.opts.quiet || ctx.json) return { update: () => {}, stop: () => {} };
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {doneH} / {totalH} | chunk {chunk}/${chunks} | {rate}/s`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (done: number, chunk: number) => ({
    doneH: formatBytes(done),
    totalH: formatBytes(totalBytes),
    chunk,
    rate: formatBytes(Math.round(done / Math.max((Date.now() - started) / 1000, 1e-3))),
  });
  bar.start(totalBytes, 0, payload(0, 0));
  return {
    update(done, chunk) {
      bar.update(done, payload(done, chunk));
    },
    stop() {
      bar.stop();
    },
  };
}
