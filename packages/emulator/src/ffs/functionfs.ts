/**
 * The device side of a USB function served from user space through the Linux
 * FunctionFS (`usb_f_fs`): ep0 for descriptors, events and control requests,
 * ep1 (bulk IN 0x81) and ep2 (bulk OUT 0x02) for data.
 *
 * Facts this relies on (checked in the QEMU guest, docs/testing-vm.md):
 * - Every pending read or write holds a libuv pool thread; the ep0 reader is
 *   always pending, so run with UV_THREADPOOL_SIZE ≥ 4 (8 in the VM).
 * - A stall is I/O in the wrong direction: read() on the IN file halts IN,
 *   write() on the OUT file halts OUT; both fail with EBADMSG (errno -74, no
 *   name in Node). On ep0, the same with a control request pending.
 * - A no-data OUT control request is acknowledged with a 0-byte read. Node's
 *   fs.read() returns at once for length 0 without a syscall, so readv with an
 *   empty buffer is used.
 */
import { closeSync, openSync, read, readv, write, writeSync, writev } from 'node:fs';
import { join } from 'node:path';
import { FFS_BULK_IN, FFS_BULK_OUT, functionStrings, massStorageDescriptors } from './descriptors.js';

/** usb_functionfs_event types (include/uapi/linux/usb/functionfs.h). */
export const FfsEventType = { BIND: 0, UNBIND: 1, ENABLE: 2, DISABLE: 3, SETUP: 4, SUSPEND: 5, RESUME: 6 } as const;
const EVENT_SIZE = 12;
const EBADMSG = -74;

export interface SetupPacket {
  requestType: number;
  request: number;
  value: number;
  index: number;
  length: number;
}

/** How to answer a control request: data for an IN request, `ack` for an OUT one, or `stall`. */
export type SetupReply = { data: Uint8Array } | 'ack' | 'stall';

export interface FunctionFsOptions {
  /** The functionfs mount point (has ep0). */
  dir: string;
  /** Interface string (string index 1). */
  interfaceName?: string;
  onSetup(setup: SetupPacket): Promise<SetupReply> | SetupReply;
  /** ENABLE / DISABLE / BIND… for logging and state resets. */
  onEvent?(type: number): void;
}

function readAsync(fd: number, buffer: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buffer, 0, buffer.length, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function writeAsync(fd: number, data: Uint8Array): Promise<number> {
  if (data.length === 0)
    return new Promise((resolve, reject) =>
      writev(fd, [Buffer.alloc(0)], (err, n) => (err ? reject(err) : resolve(n))),
    );
  return new Promise((resolve, reject) =>
    write(fd, data, 0, data.length, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function readEmpty(fd: number): Promise<number> {
  return new Promise((resolve, reject) => readv(fd, [Buffer.alloc(0)], (err, n) => (err ? reject(err) : resolve(n))));
}

/** errno of a failed endpoint call (EBADMSG has no name in Node, only -74). */
export function errnoOf(err: unknown): number | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.errno;
}

export class FunctionFs {
  readonly #ep0: number;
  readonly #in: number;
  readonly #out: number;
  #closed = false;
  readonly #options: FunctionFsOptions;
  /** Settles when the ep0 loop ends (close or a fatal error). */
  readonly ep0Done: Promise<void>;

  private constructor(options: FunctionFsOptions, ep0: number, inFd: number, outFd: number) {
    this.#options = options;
    this.#ep0 = ep0;
    this.#in = inFd;
    this.#out = outFd;
    this.ep0Done = this.#ep0Loop();
  }

  /** Writes descriptors and strings, opens the bulk endpoints, starts answering ep0. */
  static start(options: FunctionFsOptions): FunctionFs {
    const ep0 = openSync(join(options.dir, 'ep0'), 'r+');
    writeSync(ep0, massStorageDescriptors());
    writeSync(ep0, functionStrings([options.interfaceName ?? 'usbscsi emulator (FunctionFS)']));
    // ep1/ep2 exist once the descriptors are in, numbered in order of first appearance: 0x81 then 0x02.
    const inFd = openSync(join(options.dir, 'ep1'), 'r+');
    const outFd = openSync(join(options.dir, 'ep2'), 'r+');
    return new FunctionFs(options, ep0, inFd, outFd);
  }

  readonly inEndpoint = FFS_BULK_IN;
  readonly outEndpoint = FFS_BULK_OUT;

  async #ep0Loop(): Promise<void> {
    const buf = new Uint8Array(EVENT_SIZE * 4);
    while (!this.#closed) {
      let n: number;
      try {
        n = await readAsync(this.#ep0, buf);
      } catch (err) {
        if (this.#closed) return;
        // EINTR-like hiccups: a pending setup was cancelled by a bus reset. Keep serving.
        if (errnoOf(err) === -4 || errnoOf(err) === -108 || errnoOf(err) === -11) continue;
        throw err;
      }
      for (let off = 0; off + EVENT_SIZE <= n; off += EVENT_SIZE) {
        const type = buf[off + 8]!;
        this.#options.onEvent?.(type);
        if (type === FfsEventType.SETUP) await this.#answer(buf.slice(off, off + 8));
      }
    }
  }

  async #answer(raw: Uint8Array): Promise<void> {
    const v = new DataView(raw.buffer, raw.byteOffset, 8);
    const setup: SetupPacket = {
      requestType: raw[0]!,
      request: raw[1]!,
      value: v.getUint16(2, true),
      index: v.getUint16(4, true),
      length: v.getUint16(6, true),
    };
    const isIn = (setup.requestType & 0x80) !== 0;
    let reply: SetupReply;
    try {
      reply = await this.#options.onSetup(setup);
    } catch {
      reply = 'stall';
    }
    try {
      if (reply === 'stall') {
        // Wrong direction on ep0 = protocol stall.
        if (isIn) await readEmpty(this.#ep0);
        else await writeAsync(this.#ep0, new Uint8Array(0));
      } else if (isIn) {
        const data = reply === 'ack' ? new Uint8Array(0) : reply.data.subarray(0, setup.length);
        await writeAsync(this.#ep0, data);
      } else if (setup.length > 0) {
        await readAsync(this.#ep0, new Uint8Array(setup.length));
      } else {
        await readEmpty(this.#ep0);
      }
    } catch (err) {
      // The stall itself reports an error (EL2HLT / EBADMSG); a reset may cancel the request.
      if (reply !== 'stall' && errnoOf(err) !== -108) this.#options.onEvent?.(-1);
    }
  }

  /**
   * One OUT transfer into a buffer of `length` bytes; resolves with the bytes received (a short packet ends it early).
   */
  async readOut(length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    const n = await readAsync(this.#out, buf);
    return buf.subarray(0, n);
  }

  /** One IN transfer; a length of 0 sends a zero-length packet. */
  writeIn(data: Uint8Array): Promise<number> {
    return writeAsync(this.#in, data);
  }

  /** Halts bulk IN (the host sees a stall until it clears the halt). */
  async haltIn(): Promise<void> {
    await readEmpty(this.#in).catch((err: unknown) => {
      if (errnoOf(err) !== EBADMSG) throw err;
    });
  }

  /** Halts bulk OUT. */
  async haltOut(): Promise<void> {
    await writeAsync(this.#out, new Uint8Array(0)).catch((err: unknown) => {
      if (errnoOf(err) !== EBADMSG) throw err;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of [this.#in, this.#out, this.#ep0]) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
  }
}
