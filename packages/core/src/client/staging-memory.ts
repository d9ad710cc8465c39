/**
 * Shared memory a RemoteTransport keeps to stand for the caller's ordinary memory in a range handed
 * to usbscsid as a file (file-passing.ts): the daemon reads into it or writes from it, and the
 * bytes are copied between it and the caller's memory here. Kept for reuse: a fresh file in memory
 * per range had its pages allocated by the kernel as the daemon filled it and freed when it was
 * closed, and under emulation that cost more than the copy (64 MiB: 136–337 ms to fill a fresh
 * one, 61–64 ms a used one, 43–51 ms to close it).
 *
 * One area is kept while idle, for at most `idleMs` after its last use, and none after close(). An
 * area is lent to one range at a time; a second range at once gets an area of its own. An area
 * whose range failed is not given back but released: a daemon that was still writing into it when
 * the client gave up keeps its own descriptor, and its late bytes must not land in the next range.
 */
/** The addon's sharedMemory, releaseSharedMemory and unshareSharedMemory (file-passing.ts, sharedMemoryMaker). */
export interface SharedMemoryMaker {
  make(bytes: number): { fd: number; buffer: ArrayBuffer };
  release(buffer: ArrayBuffer): boolean;
  /** Ends the memory's sharing with its file, keeping its address and bytes (an older addon has none). */
  unshare?(buffer: ArrayBuffer): boolean;
}

/** An area lent to one range: its descriptor (for the daemon) and its bytes (for the copy). */
export interface StagingArea {
  readonly fd: number;
  readonly bytes: Uint8Array;
}

/** How long an idle area is kept for the next range before its memory goes back to the system. */
export const STAGING_IDLE_MS = 5_000;

export class StagingMemory {
  private idle: StagingArea | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly lent = new Set<StagingArea>();
  private closed = false;

  constructor(
    private readonly maker: SharedMemoryMaker,
    private readonly idleMs = STAGING_IDLE_MS,
  ) {}

  /** An area of at least `bytes`, or undefined where the system gives no such memory, or after close (then stream). */
  take(bytes: number): StagingArea | undefined {
    if (this.closed) return undefined;
    let area = this.idle;
    this.setIdle(undefined);
    if (area && area.bytes.length < bytes) {
      this.free(area);
      area = undefined;
    }
    if (!area) {
      try {
        const made = this.maker.make(bytes);
        area = { fd: made.fd, bytes: new Uint8Array(made.buffer) };
      } catch {
        return undefined; // no memory for it: the range streams
      }
    }
    this.lent.add(area);
    return area;
  }

  /** Back after a range that succeeded (the daemon has closed its descriptor): kept for the next. */
  giveBack(area: StagingArea): void {
    if (!this.lent.delete(area)) return;
    if (this.closed) {
      this.free(area);
      return;
    }
    const idle = this.idle;
    if (idle && idle.bytes.length >= area.bytes.length) {
      this.free(area);
      return;
    }
    if (idle) this.free(idle);
    this.setIdle(area);
  }

  /** Back after a range that failed or was cancelled: released, never lent again (see above). */
  discard(area: StagingArea): void {
    if (this.lent.delete(area)) this.free(area);
  }

  /** Releases the idle area; lent ones are released as they come back. */
  close(): void {
    this.closed = true;
    const idle = this.idle;
    this.setIdle(undefined);
    if (idle) this.free(idle);
  }

  /** Bytes kept while idle (0 when none): for tests and diagnostics. */
  get idleBytes(): number {
    return this.idle?.bytes.length ?? 0;
  }

  private setIdle(area: StagingArea | undefined): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.idle = area;
    if (!area) return;
    this.idleTimer = setTimeout(() => {
      if (this.idle !== area) return;
      this.idle = undefined;
      this.idleTimer = undefined;
      this.free(area);
    }, this.idleMs);
    // An idle area never keeps the process alive.
    this.idleTimer.unref();
  }

  private free(area: StagingArea): void {
    this.maker.release(area.bytes.buffer as ArrayBuffer);
  }
}
