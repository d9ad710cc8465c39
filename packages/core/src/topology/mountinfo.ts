/**
 * Parser for /proc/<pid>/mountinfo (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)         (6)      (7)       (8)(9)   (10)      (11)
 *
 * Paths escape space, tab, newline and backslash as octal (`\040`, `\011`,
 * `\012`, `\134`); optional fields (7) are zero or more, ended by `-`.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface MountinfoEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the filesystem's device, e.g. `8:1`. */
  majorMinor: string;
  /** Root of the mount within the filesystem. */
  root: string;
  mountPoint: string;
  /** Per-mount options (`rw,relatime`). */
  mountOptions: string;
  optionalFields: string[];
  fsType: string;
  /** Mount source, e.g. `/dev/sda1`; `none` when the filesystem has none. */
  source: string;
  /** Per-superblock options (`rw,fmask=0022,…`). */
  superOptions: string;
}

/** Undo mountinfo's octal escapes (`\040` → space). */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses the whole file; malformed lines are skipped (the kernel writes none, but be safe). */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const entries: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    const [mountId, parentId, majorMinor, root, mountPoint, mountOptions] = fields;
    entries.push({
      mountId: Number(mountId),
      parentId: Number(parentId),
      majorMinor: majorMinor ?? '',
      root: unescapeMountinfo(root ?? ''),
      mountPoint: unescapeMountinfo(mountPoint ?? ''),
      mountOptions: mountOptions ?? '',
      optionalFields: fields.slice(6, separator),
      fsType: fields[separator + 1] ?? '',
      source: unescapeMountinfo(fields[separator + 2] ?? ''),
      superOptions: fields[separator + 3] ?? '',
    });
  }
  return entries;
}

/** Options the kernel only displays; `mount -o` rejects them. */
const DISPLAY_ONLY_OPTIONS = new Set(['seclabel']);

/**
 * The options to mount the filesystem again the same way: per-mount options
 * first, then superblock options not already given (`rw`/`ro` appear in both).
 */
export function remountOptions(entry: Pick<MountinfoEntry, 'mountOptions' | 'superOptions'>): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const option of [...entry.mountOptions.split(','), ...entry.superOptions.split(',')]) {
    if (!option || DISPLAY_ONLY_OPTIONS.has(option)) continue;
    const key = option === 'ro' || option === 'rw' ? 'rw/ro' : option;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(option);
  }
  return out.join(',');
}

/** The swap areas /proc/swaps lists ("Filename Type Size Used Priority", paths escaped like mountinfo). */
export function parseSwaps(text: string): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => unescapeMountinfo(line.split(/\s+/)[0] ?? ''))
    .filter((file) => file !== '');
}

/** The mounts a mountinfo file lists; none when it cannot be read (no /proc in a sandbox). */
export async function readMountinfo(path = '/proc/self/mountinfo'): Promise<MountinfoEntry[]> {
  return parseMountinfo(await readFile(path, 'utf8').catch(() => ''));
}

/**
 * The same, read synchronously: procfs never waits for a device, and readFile's open, fstat,
 * reads and close are one thread-pool round trip each (checks that run before every write).
 */
export function readMountinfoSync(path = '/proc/self/mountinfo'): MountinfoEntry[] {
  try {
    return parseMountinfo(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}
