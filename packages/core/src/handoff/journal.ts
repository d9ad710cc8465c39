/**
 * The lease journal: a small JSON file listing every lease some process
 * holds (or failed to give back), so that `usbscsi recover` or the daemon's
 * start-up can return a device whose holder died, SIGKILL included.
 *
 * - Writes are atomic: a temporary file in the same directory, fsync, rename.
 * - Writers exclude each other with an O_EXCL lock file holding the writer's
 *   pid and start time; a lock whose writer is dead is stale and is broken.
 * - A journal that does not parse is moved aside (`leases.json.corrupt-<time>`)
 *   with a warning and read as empty: never a crash.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCodes, UsbScsiError } from '../errors.js';
import type {
  DetachedDriver,
  LeaseDevice,
  MountedFilesystem,
  ProcessIdentity,
  StorageExpectation,
  UnmountTarget,
} from './platform.js';
import {
  currentProcessIdentity,
  isProcessAlive,
  localProcessIdentity,
  type ProcessIdentityLookup,
} from './process-identity.js';
import { hex } from '../hex.js';
import { locationOf } from '../usb/location.js';

export type LeaseEntryStatus =
  /** Taking the device: `unmounted` / `detached` say how far it got. */
  | 'acquiring'
  | 'held'
  | 'releasing'
  /** A release or a rollback failed: recovery gives the device back even while the holder lives. */
  | 'release-failed';

export interface LeaseJournalEntry {
  id: string;
  platform: string;
  device: LeaseDevice;
  holder: ProcessIdentity;
  status: LeaseEntryStatus;
  /** Whole disks before the lease, to map partition names if the disk returns under another name. */
  wholeDisks: string[];
  /** What the lease unmounted, in unmount order. */
  unmounted: UnmountTarget[];
  /** The driver taken away, null while none was (or none was bound). */
  detached: DetachedDriver | null;
  /** What to wait for once the driver is back. */
  expected: StorageExpectation | null;
  /** Re-mount `unmounted` on release (the caller's `remount`). */
  remount: boolean;
  /** ISO 8601. */
  createdAt: string;
  updatedAt: string;
}

export interface LeaseJournalOptions {
  /** Journal file; default {@link defaultJournalPath}. */
  path?: string;
  /** Liveness of lock holders; default this OS's /proc (or signal 0) lookup. */
  processIdentity?: ProcessIdentityLookup;
  /** Give up taking the lock after this long (`E_BUSY`); default 5000 ms. */
  lockTimeoutMs?: number;
  /** Warnings (corrupt journal moved aside, stale lock broken); default `process.emitWarning`. */
  warn?: (message: string) => void;
  now?: () => number;
}

interface JournalFile {
  version: 1;
  leases: LeaseJournalEntry[];
}

/** A journal that did not parse, moved aside: where to, and the devices its text still names. */
export interface SetAsideJournal {
  path: string;
  movedTo: string;
  /** `bus-port (vid:pid)` of each device entry found in the text; those may still be detached from the OS. */
  devices: string[];
}

/**
 * `/var/lib/usbscsi/leases.json` for root, else `$XDG_STATE_HOME/usbscsi/leases.json` or
 * `~/.local/state/usbscsi/leases.json`.
 */
export function defaultJournalPath(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  if (uid === 0) return '/var/lib/usbscsi/leases.json';
  const stateHome =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/')
      ? env.XDG_STATE_HOME
      : join(env.HOME || homedir(), '.local/state');
  return join(stateHome, 'usbscsi/leases.json');
}

export class LeaseJournal {
  readonly path: string;
  private readonly lockPath: string;
  private readonly processIdentity: ProcessIdentityLookup;
  private readonly lockTimeoutMs: number;
  private readonly warn: (message: string) => void;
  private readonly now: () => number;
  /** Serialises this process's own updates (the file lock excludes other processes). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LeaseJournalOptions = {}) {
    this.path = options.path ?? defaultJournalPath();
    this.lockPath = `${this.path}.lock`;
    this.processIdentity = options.processIdentity ?? localProcessIdentity;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.warn = options.warn ?? ((message) => process.emitWarning(message, { code: 'USBSCSI_JOURNAL' }));
    this.now = options.now ?? Date.now;
  }

  /**
   * Moves a journal that does not parse aside now, under the lock, rather than
   * at the next write (a reader sees it as empty, so recovery would pass over
   * its devices in silence). Null when it is absent or valid.
   */
  async setAsideIfCorrupt(): Promise<SetAsideJournal | null> {
    const text = await readFile(this.path, 'utf8').catch(() => null);
    if (text === null || parseJournal(text)) return null;
    const run = this.queue.then(async () => {
      const unlock = await this.lock();
      try {
        return await this.moveAsideIfCorrupt();
      } finally {
        await unlock();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Every entry (a consistent snapshot: files are replaced whole). */
  async list(): Promise<LeaseJournalEntry[]> {
    return (await this.readFile(false)).leases;
  }

  /** Insert or replace the entry with `entry.id`. */
  async put(entry: LeaseJournalEntry): Promise<void> {
    await this.update((leases) => [
      ...leases.filter((lease) => lease.id !== entry.id),
      { ...entry, updatedAt: new Date(this.now()).toISOString() },
    ]);
  }

  async remove(id: string): Promise<void> {
    await this.update((leases) => leases.filter((lease) => lease.id !== id));
  }

  /** Read-modify-write under the lock. */
  async update(
    change: (leases: LeaseJournalEntry[]) => LeaseJournalEntry[] | Promise<LeaseJournalEntry[]>,
  ): Promise<void> {
    const run = this.queue.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o755 }).catch((err: unknown) => {
        throw journalError(err, `create the lease journal's directory ${dirname(this.path)}`);
      });
      const unlock = await this.lock();
      try {
        const current = await this.readFile(true);
        await this.writeAtomically({ version: 1, leases: await change(current.leases) });
      } finally {
        await unlock();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** New entry id. */
  static newId(): string {
    return randomBytes(8).toString('hex');
  }

  private async readFile(locked: boolean): Promise<JournalFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, leases: [] };
      throw journalError(err, `read the lease journal ${this.path}`);
    }
    const parsed = parseJournal(text);
    if (parsed) return parsed;
    // Only a writer holding the lock may move the file; an unlocked reader just sees it as empty.
    if (locked) {
      const aside = await this.moveAsideIfCorrupt().catch((err: unknown) => {
        this.warn(
          `usbscsi: the lease journal ${this.path} is not valid JSON and ${(err as Error).message}; ` +
            `it will be overwritten.`,
        );
        return null;
      });
      if (aside) {
        this.warn(
          `usbscsi: the lease journal ${this.path} was not valid JSON; moved it aside to ${aside.movedTo} ` +
            `and started a new one. ` +
            `Devices it listed (${aside.devices.join(', ') || 'none readable'}) may need replugging.`,
        );
      }
    }
    return { version: 1, leases: [] };
  }

  /** Under the lock: re-reads, and renames the file aside if it still does not parse. */
  private async moveAsideIfCorrupt(): Promise<SetAsideJournal | null> {
    const text = await readFile(this.path, 'utf8').catch(() => null);
    if (text === null || parseJournal(text)) return null;
    const movedTo = `${this.path}.corrupt-${new Date(this.now()).toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.path, movedTo).catch((err: unknown) => {
      throw journalError(err, `move the corrupt lease journal ${this.path} aside`);
    });
    return { path: this.path, movedTo, devices: devicesNamedIn(text) };
  }

  private async writeAtomically(content: JournalFile): Promise<void> {
    const temp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw journalError(err, `write the lease journal ${this.path}`);
    }
    // Make the rename itself durable; not every filesystem lets a directory be fsynced.
    const dir = await open(dirname(this.path), 'r').catch(() => null);
    await dir?.sync().catch(() => undefined);
    await dir?.close();
  }

  private async lock(): Promise<() => Promise<void>> {
    const me = await currentProcessIdentity(this.processIdentity);
    const deadline = this.now() + this.lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(this.lockPath, 'wx', 0o644);
        try {
          await handle.writeFile(JSON.stringify(me));
        } finally {
          await handle.close();
        }
        return () => unlink(this.lockPath).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw journalError(err, `lock the lease journal (${this.lockPath})`);
      }
      if (await this.breakStaleLock()) continue;
      if (this.now() >= deadline) {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `The lease journal is locked by another usbscsi process (${this.lockPath}). Wait ` +
            `for it, or remove the lock file if no usbscsi process is running.`,
          {
            details: { lockPath: this.lockPath },
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** attempt, 100)));
    }
  }

  /** True when the lock was stale (its writer is dead, or it stayed unreadable for a second) and was removed. */
  private async breakStaleLock(): Promise<boolean> {
    let owner: ProcessIdentity | null = null;
    try {
      owner = parseIdentity(await readFile(this.lockPath, 'utf8'));
    } catch {
      return false; // gone meanwhile: just retry
    }
    if (owner) {
      if (await isProcessAlive(this.processIdentity, owner)) return false;
    } else {
      // Created but not yet written, or its writer died in between: wait a moment before judging.
      const age = await stat(this.lockPath).then(
        (s) => this.now() - s.mtimeMs,
        () => 0,
      );
      if (age < 1000) return false;
    }
    this.warn(
      `usbscsi: removed a stale lease journal lock ${this.lockPath}` +
        `${owner ? ` left by dead process ${owner.pid}` : ''}.`,
    );
    await unlink(this.lockPath).catch(() => undefined);
    return true;
  }
}

function parseIdentity(text: string): ProcessIdentity | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (
      value &&
      typeof value === 'object' &&
      Number.isInteger((value as ProcessIdentity).pid) &&
      typeof (value as ProcessIdentity).startTime === 'string'
    ) {
      return value as ProcessIdentity;
    }
  } catch {
    /* unreadable */
  }
  return null;
}

/** The device entries a damaged journal's text still shows whole (`"device": { … }` holds no nested object). */
function devicesNamedIn(text: string): string[] {
  const found = new Set<string>();
  for (const [, body] of text.matchAll(/"device":\s*\{([^{}]*)\}/g)) {
    const field = (name: string) => new RegExp(`"${name}":\\s*(\\d+)`).exec(body!)?.[1];
    const bus = field('busNumber');
    const ports = /"portNumbers":\s*\[([\d,\s]*)\]/.exec(body!)?.[1];
    if (bus === undefined || ports === undefined) continue;
    const hex4 = (n: string | undefined) => (n === undefined ? '????' : hex(Number(n), 4));
    const portNumbers = ports
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map(Number);
    found.add(
      `${locationOf({ busNumber: Number(bus), portNumbers })} (${hex4(field('vendorId'))}:${hex4(field('productId'))})`,
    );
  }
  return [...found];
}

function parseJournal(text: string): JournalFile | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || !Array.isArray((value as JournalFile).leases)) return null;
  const leases = (value as JournalFile).leases.filter(isEntry);
  if (leases.length !== (value as JournalFile).leases.length) return null;
  return { version: 1, leases };
}

function isEntry(value: unknown): value is LeaseJournalEntry {
  const entry = value as LeaseJournalEntry;
  return (
    !!entry &&
    typeof entry.id === 'string' &&
    typeof entry.platform === 'string' &&
    !!entry.device &&
    Number.isInteger(entry.device.busNumber) &&
    Array.isArray(entry.device.portNumbers) &&
    Number.isInteger(entry.device.interfaceNumber) &&
    !!entry.holder &&
    Number.isInteger(entry.holder.pid) &&
    Array.isArray(entry.unmounted) &&
    Array.isArray(entry.wholeDisks)
  );
}

function journalError(err: unknown, what: string): UsbScsiError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new UsbScsiError(
      ErrorCodes.PERMISSION,
      `Cannot ${what}: ${code}. Run as the same user as before (root uses /var/lib/usbscsi), ` +
        `or point the journal elsewhere (journal path option).`,
      { cause: err },
    );
  }
  return new UsbScsiError(ErrorCodes.IO, `Cannot ${what}: ${(err as Error).message}`, { cause: err });
}

/** Shared by lease and recovery: `MountedFilesystem` list of a target list. */
export function filesystemsOf(targets: UnmountTarget[]): MountedFilesystem[] {
  return targets.flatMap((target) => target.filesystems);
}
