// A run of READs or WRITEs on UAS: several commands in flight by tag, judged in order.
import { badInput } from '../errors.js';
import type { ScsiJob, ScsiJobResult, ScsiRequest, ScsiResult } from '../transport.js';

/**
 * Data a job keeps in flight at most. usbfs counts every pending URB against
 * `usbfs_memory_mb` (16 MiB by default, shared by all programs): half of it, so that four
 * 4 MiB commands do not take it all.
 */
export const JOB_IN_FLIGHT_BYTES = 8 << 20;
const GOOD = 0;

/**
 * Runs `job` through `execute` with up to `queueDepth` commands outstanding (fewer when their
 * data would pass JOB_IN_FLIGHT_BYTES). A command counts as done when it ended GOOD with every
 * byte moved and no residue, the good status core expects; the first one (in job order) that
 * did not ends the job: commands after it are not sent, those already in flight are waited
 * for, and `done` counts the ones before it. Its result is returned, or its error thrown, as
 * `execute` gave it. Commands after it that were in flight may have run: a caller that goes on
 * sends them again.
 */
export async function runQueuedJob(
  execute: (request: ScsiRequest) => Promise<ScsiResult>,
  job: ScsiJob,
  queueDepth: number,
): Promise<ScsiJobResult> {
  const { commands, data } = job;
  if (!Array.isArray(commands) || commands.length < 1) throw badInput('a job has at least one command');
  if (!data) throw badInput('a UAS job moves its data through a buffer (data), not a file descriptor');
  const offsets: number[] = [];
  let total = 0;
  let largest = 0;
  for (const c of commands) {
    if (!Number.isInteger(c.length) || c.length < 1) throw badInput(`a job command moves at least one byte`);
    offsets.push(total);
    total += c.length;
    largest = Math.max(largest, c.length);
  }
  if (total !== data.length)
    throw badInput(`the job's data (${data.length} bytes) is not the sum of its commands' lengths (${total})`);
  const outcomes: Array<{ result: ScsiResult } | { error: unknown } | undefined> = Array.from(
    { length: commands.length },
    () => undefined,
  );
  let next = 0;
  let stopAt = commands.length;
  const worker = async () => {
    while (next < stopAt) {
      const i = next++;
      const c = commands[i]!;
      const from = offsets[i] ?? 0;
      try {
        const result = await execute({
          cdb: c.cdb,
          direction: job.direction,
          data: data.subarray(from, from + c.length),
          ...(job.lun !== undefined ? { lun: job.lun } : {}),
          ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
          ...(job.signal ? { signal: job.signal } : {}),
        });
        outcomes[i] = { result };
        if (!whole(result, c.length)) stopAt = Math.min(stopAt, i + 1);
      } catch (error) {
        outcomes[i] = { error };
        stopAt = Math.min(stopAt, i + 1);
      }
    }
  };
  const width = Math.max(1, Math.min(queueDepth, commands.length, Math.floor(JOB_IN_FLIGHT_BYTES / largest)));
  await Promise.all(Array.from({ length: width }, worker));
  for (let i = 0; i < commands.length; i++) {
    const o = outcomes[i];
    if (o && 'result' in o && whole(o.result, commands[i]!.length)) continue;
    if (!o) return { done: i }; // never so: every command before the one that ended the job was sent
    if ('error' in o) throw o.error;
    return { done: i, result: o.result };
  }
  return { done: commands.length };
}

function whole(r: ScsiResult, length: number): boolean {
  return r.status === GOOD && r.transferred === length && r.residue === 0;
}
