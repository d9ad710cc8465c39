/**
 * Process identities that survive pid reuse: a holder recorded as
 * (pid, start time) is alive only if a process with that pid exists now *and*
 * started at that time. On Linux the start time is field 22 of
 * /proc/<pid>/stat (clock ticks since boot) prefixed with the boot id, so an
 * entry from before a reboot never matches.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessIdentity } from './platform.js';

export type ProcessIdentityLookup = (pid: number) => Promise<ProcessIdentity | null>;

/** Start time token used where the OS cannot tell one: only the pid is compared then. */
export const UNKNOWN_START_TIME = 'unknown';

export async function linuxProcessIdentity(pid: number, procRoot = '/proc'): Promise<ProcessIdentity | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let stat: string;
  try {
    stat = await readFile(join(procRoot, String(pid), 'stat'), 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = fields[19]; // field 22 overall; fields[0] is field 3 (state)
  if (!startTicks || fields[0] === 'Z' || fields[0] === 'X') return null; // a zombie holds nothing
  const bootId = (await readFile(join(procRoot, 'sys/kernel/random/boot_id'), 'utf8').catch(() => '')).trim();
  return { pid, startTime: `${bootId || 'boot'}:${startTicks}` };
}

/** Portable fallback: the pid exists (signal 0 reaches it, or it exists but is not ours). */
export async function signalProcessIdentity(pid: number): Promise<ProcessIdentity | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  return { pid, startTime: UNKNOWN_START_TIME };
}

/** The best lookup for this OS (platforms may bring a better one, e.g. macOS sysctl). */
export const localProcessIdentity: ProcessIdentityLookup =
  process.platform === 'linux' ? (pid) => linuxProcessIdentity(pid) : signalProcessIdentity;

/** True when `recorded` names a process that is still running. */
export async function isProcessAlive(lookup: ProcessIdentityLookup, recorded: ProcessIdentity): Promise<boolean> {
  const now = await lookup(recorded.pid);
  if (!now) return false;
  if (now.startTime === UNKNOWN_START_TIME || recorded.startTime === UNKNOWN_START_TIME) return true;
  return now.startTime === recorded.startTime;
}

/** This process's identity, from `lookup`, or pid-only when the lookup cannot see it. */
export async function currentProcessIdentity(lookup: ProcessIdentityLookup): Promise<ProcessIdentity> {
  return (await lookup(process.pid)) ?? { pid: process.pid, startTime: UNKNOWN_START_TIME };
}
