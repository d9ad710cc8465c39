/**
 * Who keeps a macOS volume busy. DiskArbitration's public API names no
 * process when it refuses an unmount, so ask lsof(8) (part of macOS) for the
 * processes with files open on the volume: `lsof -F pc +f -- <mount point>`.
 * Best effort and bounded: without root lsof sees only the user's own processes.
 */
import { execFile } from 'node:child_process';
import type { CommandRunner } from './linux.js';

export interface VolumeHolder {
  pid: number;
  command: string;
  mountPoint: string;
}

export const runDarwinCommand: CommandRunner = (command, args, { signal }) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { signal, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        // ExecFileException is an Error, though its type (an Omit<> of one) does not say so.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- see the line above
        if (error && (signal.aborted || (error as NodeJS.ErrnoException).code === 'ENOENT')) reject(error);
        else
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
            stdout: String(stdout),
            stderr: String(stderr),
          });
      },
    );
  });

/** Parses lsof's field output (`p<pid>` then `c<command>` per process). */
export function parseLsofFields(output: string, mountPoint: string): VolumeHolder[] {
  const holders: VolumeHolder[] = [];
  let current: VolumeHolder | null = null;
  for (const line of output.split('\n')) {
    if (line.startsWith('p')) {
      const pid = Number(line.slice(1));
      current = Number.isInteger(pid) && pid > 0 ? { pid, command: '?', mountPoint } : null;
      if (current) holders.push(current);
    } else if (line.startsWith('c') && current) {
      current.command = line.slice(1);
    }
  }
  return holders;
}

/** Processes holding any of `mountPoints` (at most 20), or [] when lsof cannot tell within `timeoutMs`. */
export async function findVolumeHolders(
  run: CommandRunner,
  mountPoints: string[],
  timeoutMs = 2000,
): Promise<VolumeHolder[]> {
  const holders: VolumeHolder[] = [];
  for (const mountPoint of mountPoints) {
    try {
      const result = await run('lsof', ['-F', 'pc', '+f', '--', mountPoint], {
        signal: AbortSignal.timeout(timeoutMs),
      });
      holders.push(...parseLsofFields(result.stdout, mountPoint));
    } catch {
      // No lsof, or it took too long: the dissenter status is all we can say.
    }
    if (holders.length >= 20) break;
  }
  return holders.slice(0, 20);
}
