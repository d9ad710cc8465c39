import { readSync } from 'node:fs';
import { ScsiDevice } from '../device.js';
import type { DaemonDevice, DaemonDeviceIdentity } from '../wire/types.js';
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import type { BlockRangeMover, BlockRangeOptions, ScsiRequest, ScsiResult, ScsiTransport } from '../transport.js';
import type { TransferBuffer } from '../usb/backend.js';
import { BLOCK_STREAM_SEGMENT_BYTES } from '../wire/blocks.js';
import { DaemonClient, type LeaseCredential, type LeaseRequestOptions } from './daemon-client.js';
import { fileLeftWithDaemon, sharedMemoryMaker } from './file-passing.js';
import { StagingMemory, type StagingArea } from './staging-memory.js';
import type { DaemonEndpoint } from './endpoint.js';

export interface RemoteTransportOptions {
  /** A client of its own is made from an endpoint; a shared one is left open on close(). */
  client: DaemonClient | DaemonEndpoint | string;
  /** The daemon's device id (from `DaemonClient.resolveDevice`). */
  deviceId: string;
  /** The lease this client holds on the device (its secret is presented with every command). */
  lease?: LeaseCredential;
  /** Release this lease on close(). */
  releaseLeaseOnClose?: boolean;
}

/**
 * A {@link ScsiTransport} whose commands run in usbscsid: `new ScsiDevice(new
 * RemoteTransport(...))` gives every device helper through the daemon's queue.
 *
 * Medium-write consent: ScsiDevice checks it before a command reaches any
 * transport, so a command that gets here was consented to and is sent with
 * `allowMediumWrite`; the daemon's own device still refuses writes to a
 * mounted medium.
 */
export class RemoteTransport implements ScsiTransport {
  readonly kind = 'remote' as const;
  /** The daemon serves LUN 0 of each device. */
  readonly maxLun = 0;
  readonly client: DaemonClient;
  private readonly ownsClient: boolean;
  /** Memory this transport gave out (allocateBuffer) that is also a file in memory: its descriptor. */
  private readonly sharedFiles = new WeakMap<ArrayBufferLike, number>();
  /** Ranges in flight on each such memory: its descriptor must not be closed (and its number reused) under them. */
  private readonly sharedInFlight = new Map<ArrayBufferLike, number>();
  /** Such memory that a cancelled read unshared (no longer its file): see readBlocksInto. */
  private readonly unshared = new WeakSet<ArrayBufferLike>();
  /** Shared memory that stands for the caller's ordinary memory in ranges handed over as files. */
  private staging: StagingMemory | undefined;

  constructor(private readonly options: RemoteTransportOptions) {
    this.ownsClient = !(options.client instanceof DaemonClient);
    this.client = options.client instanceof DaemonClient ? options.client : new DaemonClient(options.client);
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  /**
   * Memory shared with the daemon where ranges can be handed to it as files (a Unix socket and the
   * native addon here, Linux): `readInto` and `write` with it have the daemon move the bytes
   * between the device and this memory itself, with no copy in this process and none through the
   * socket. Null elsewhere (ScsiDevice then gives ordinary memory).
   */
  allocateBuffer(bytes: number): TransferBuffer | null {
    const shared = this.client.canPassFiles() ? sharedMemoryMaker() : undefined;
    if (!shared) return null;
    let made: { fd: number; buffer: ArrayBuffer };
    try {
      made = shared.make(bytes);
    } catch {
      return null; // no memory for it: ordinary memory, streamed
    }
    this.sharedFiles.set(made.buffer, made.fd);
    return {
      bytes: new Uint8Array(made.buffer),
      pinned: true,
      release: () => {
        if (this.sharedInFlight.has(made.buffer))
          throw new UsbScsiError(
            ErrorCodes.BUSY,
            'a transfer buffer cannot be released while a range moves through it: release it after it settles',
          );
        this.sharedFiles.delete(made.buffer);
        shared.release(made.buffer);
      },
    };
  }

  /**
   * `fn` with the file behind memory allocateBuffer gave out and where `view` starts in it (or
   * undefined for other memory, and for a range under 1 MiB), the memory counted in flight meanwhile.
   */
  private async withSharedFile<T>(
    view: Uint8Array,
    fn: (file: { fd: number; position: number } | undefined) => Promise<T>,
  ): Promise<T> {
    const fd = this.sharedFiles.get(view.buffer);
    if (fd === undefined) return fn(undefined);
    const key = view.buffer;
    this.sharedInFlight.set(key, (this.sharedInFlight.get(key) ?? 0) + 1);
    try {
      // A small range streams: handing a file over costs a round trip more than its bytes do.
      return await fn(view.length < STAGING_MIN_BYTES ? undefined : { fd, position: view.byteOffset });
    } finally {
      const left = this.sharedInFlight.get(key)! - 1;
      if (left === 0) this.sharedInFlight.delete(key);
      else this.sharedInFlight.set(key, left);
    }
  }

  /**
   * Ranges go as requests of up to 64 MiB each (the daemon's default --body-limit): a file, or a
   * file in memory standing for the caller's buffer, handed to the daemon where both ends can
   * (Linux, Unix socket, the native addon); else the bytes stream through the socket.
   */
  readonly blockRanges: BlockRangeMover = {
    readBlocks: async (lba, blocks, blockSize, sink, options) => {
      for (const segment of segments(lba, blocks, blockSize)) {
        await this.client.readBlocks(this.options.deviceId, { ...segment, ...this.rangeOptions(options) }, sink);
      }
    },
    // Into memory: through shared memory handed to the daemon as a file where both ends can (the
    // caller's own if allocateBuffer gave it, else a staging area copied from here), else streamed.
    readBlocksInto: (lba, blocks, blockSize, buffer, options, onBytes) =>
      this.withSharedFile(buffer, async (file) => {
        let shared = file;
        let staging = shared ? undefined : this.stagingArea(blocks * blockSize);
        let failed = false;
        try {
          let at = 0;
          for (const segment of segments(lba, blocks, blockSize)) {
            const base = at;
            const view = buffer.subarray(base, base + segment.bytes);
            const range = { ...segment, ...this.rangeOptions(options) };
            const id = this.options.deviceId;
            if (shared) {
              const position = shared.position + base;
              let moved: number | null;
              try {
                moved = await this.client.transferFile(id, 'read', range, shared.fd, position);
              } catch (err) {
                // Given up on before the daemon answered: its READ in flight may still write into
                // the file, and the caller owns this memory again once the call rejects.
                if (fileLeftWithDaemon(err)) this.unshare(buffer.buffer);
                throw err;
              }
              if (moved !== null) {
                // The daemon wrote the bytes into the file; into this memory too unless another
                // range on it was cancelled meanwhile, which unshared it: then they are copied.
                if (this.unshared.has(buffer.buffer)) copyFromFile(shared.fd, view, position);
                onBytes?.(base + segment.bytes);
                at += segment.bytes;
                continue;
              }
              shared = undefined; // the daemon cannot take files: stream the rest
            }
            if (staging !== undefined && (await this.client.transferFile(id, 'read', range, staging.fd, 0)) !== null) {
              view.set(staging.bytes.subarray(0, segment.bytes));
              onBytes?.(base + segment.bytes);
            } else {
              // The daemon refused before it asked for the file: the area is unused.
              if (staging) this.staging?.giveBack(staging);
              staging = undefined;
              await this.client.readBlocksInto(id, range, view, onBytes ? (n) => onBytes(base + n) : undefined);
            }
            at += segment.bytes;
          }
        } catch (err) {
          failed = true;
          throw err;
        } finally {
          if (staging) this.returnStaging(staging, failed);
        }
      }),
    transferFile: async (kind, lba, blocks, blockSize, fd, position, options, onBytes) => {
      let moved = 0;
      for (const segment of segments(lba, blocks, blockSize)) {
        const n = await this.client.transferFile(
          this.options.deviceId,
          kind,
          { ...segment, ...this.rangeOptions(options) },
          fd,
          position + moved,
        );
        if (n === null) {
          if (moved === 0) return null;
          throw new UsbScsiError(ErrorCodes.IO, `usbscsid stopped taking the file after ${moved} bytes`);
        }
        moved += n;
        onBytes?.(moved);
      }
      return moved;
    },
    // From memory allocateBuffer gave out: the daemon reads it from the file behind it; else (or
    // where the daemon cannot take a file) the rest goes as writeBlocks sends any memory.
    writeBlocksFrom: (lba, blocks, blockSize, buffer, options, onBytes) =>
      this.withSharedFile(buffer, async (shared) => {
        let at = 0;
        if (shared) {
          for (const segment of segments(lba, blocks, blockSize)) {
            const range = { ...segment, ...this.rangeOptions(options) };
            const id = this.options.deviceId;
            if ((await this.client.transferFile(id, 'write', range, shared.fd, shared.position + at)) === null) break;
            at += segment.bytes;
            onBytes?.(at);
          }
        }
        if (at < buffer.length)
          await this.blockRanges.writeBlocks(
            lba + BigInt(at / blockSize),
            (buffer.length - at) / blockSize,
            blockSize,
            piecesOf(buffer, at, onBytes),
            options,
          );
      }),
    writeBlocks: async (lba, blocks, blockSize, source, options) => {
      const pull = source[Symbol.asyncIterator]();
      let carry: Uint8Array | undefined;
      async function* exactly(bytes: number): AsyncGenerator<Uint8Array> {
        for (let left = bytes; left > 0;) {
          let chunk = carry;
          carry = undefined;
          if (!chunk) {
            const next = await pull.next();
            if (next.done) throw badInput(`the data to write ended ${left} bytes short of the range`);
            chunk = next.value;
          }
          if (chunk.length > left) {
            carry = chunk.subarray(left);
            chunk = chunk.subarray(0, left);
          }
          left -= chunk.length;
          yield chunk;
        }
      }
      // From memory: the segment is copied into a staging area handed to the daemon as a file where
      // both ends can, else streamed through the socket.
      let staging = this.stagingArea(blocks * blockSize);
      let failed = false;
      try {
        for (const segment of segments(lba, blocks, blockSize)) {
          const range = { ...segment, ...this.rangeOptions(options) };
          if (staging !== undefined) {
            let at = 0;
            for await (const chunk of exactly(segment.bytes)) {
              staging.bytes.set(chunk, at);
              at += chunk.length;
            }
            if ((await this.client.transferFile(this.options.deviceId, 'write', range, staging.fd, 0)) !== null)
              continue;
            // The daemon cannot take it: this segment streams from the staging area, the rest from the source.
            await this.client.writeBlocks(
              this.options.deviceId,
              range,
              piecesOf(staging.bytes.subarray(0, segment.bytes), 0),
            );
            this.staging?.giveBack(staging);
            staging = undefined;
            continue;
          }
          await this.client.writeBlocks(this.options.deviceId, range, exactly(segment.bytes));
        }
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        if (staging) this.returnStaging(staging, failed);
      }
    },
  };

  /**
   * Ends the sharing of allocateBuffer memory with its file, keeping its address and bytes (the
   * addon's unshareSharedMemory): later ranges on it go as ranges of ordinary memory do. Without
   * an addon that can, the memory stays shared.
   */
  private unshare(key: ArrayBufferLike): void {
    if (!this.sharedFiles.has(key) || this.unshared.has(key)) return;
    if (sharedMemoryMaker()?.unshare?.(key as ArrayBuffer) !== true) return;
    this.unshared.add(key);
    this.sharedFiles.delete(key);
  }

  /**
   * A staging area to hand to the daemon for a range of the caller's ordinary memory, where this
   * process and the endpoint can pass a file and the range is large enough to be worth the extra
   * round trip (102, then the descriptor).
   */
  private stagingArea(bytes: number): StagingArea | undefined {
    if (bytes < STAGING_MIN_BYTES || !this.client.canPassFiles()) return undefined;
    if (this.staging === undefined) {
      const maker = sharedMemoryMaker();
      if (!maker) return undefined;
      this.staging = new StagingMemory(maker);
    }
    return this.staging.take(Math.min(bytes, BLOCK_STREAM_SEGMENT_BYTES));
  }

  /** A range that failed may still have the daemon writing into its area: never reused (staging-memory.ts). */
  private returnStaging(area: StagingArea, failed: boolean): void {
    if (failed) this.staging?.discard(area);
    else this.staging?.giveBack(area);
  }

  private rangeOptions(options: BlockRangeOptions) {
    return {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.options.lease ? { leaseSecret: this.options.lease.secret } : {}),
    };
  }

  async execute(request: ScsiRequest): Promise<ScsiResult> {
    if ((request.lun ?? 0) !== 0) throw badInput(`usbscsid serves LUN 0 only; LUN ${request.lun} was asked for`);
    const result = await this.client.execute(this.options.deviceId, request.cdb, {
      direction: request.direction,
      ...(request.direction === 'in' && request.data ? { into: request.data } : {}),
      ...(request.direction === 'out' && request.data ? { data: request.data } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      ...(this.options.lease ? { leaseSecret: this.options.lease.secret } : {}),
      allowMediumWrite: true,
    });
    const { seq: _seq, ...scsiResult } = result;
    return scsiResult;
  }

  reset(): Promise<void> {
    return this.client.reset(
      this.options.deviceId,
      this.options.lease ? { leaseSecret: this.options.lease.secret } : {},
    );
  }

  async close(): Promise<void> {
    try {
      if (this.options.lease && this.options.releaseLeaseOnClose) await this.client.releaseLease(this.options.lease);
    } finally {
      this.staging?.close();
      if (this.ownsClient) this.client.close();
    }
  }
}

/** `view.length` bytes of the file `fd` from `position` into `view`. */
function copyFromFile(fd: number, view: Uint8Array, position: number): void {
  for (let at = 0; at < view.length;) {
    const n = readSync(fd, view, at, view.length - at, position + at);
    if (n === 0) throw new UsbScsiError(ErrorCodes.IO, `shared memory's file ended ${view.length - at} bytes short`);
    at += n;
  }
}

/**
 * Smaller ranges of memory stream, allocateBuffer's included: a file handed over costs a round trip
 * more (a 4 KiB read on this host: 2.2 ms handed over, 0.65 ms streamed).
 */
const STAGING_MIN_BYTES = 1024 * 1024;

/** `buffer` from byte `from`, 1 MiB at a time; `onBytes` gets the bytes taken before each next piece. */
async function* piecesOf(
  buffer: Uint8Array,
  from: number,
  onBytes?: (sent: number) => void,
): AsyncGenerator<Uint8Array> {
  for (let at = from; at < buffer.length; at += WRITE_PIECE_BYTES) {
    if (at > from) onBytes?.(at);
    yield buffer.subarray(at, Math.min(buffer.length, at + WRITE_PIECE_BYTES));
  }
  onBytes?.(buffer.length);
}

const WRITE_PIECE_BYTES = 1024 * 1024;

function* segments(lba: bigint, blocks: number, blockSize: number) {
  const perSegment = Math.max(1, Math.floor(BLOCK_STREAM_SEGMENT_BYTES / blockSize));
  for (let done = 0; done < blocks;) {
    const n = Math.min(perSegment, blocks - done);
    yield { lba: lba + BigInt(done), blocks: n, bytes: n * blockSize };
    done += n;
  }
}

export interface OpenRemoteDeviceOptions {
  /** `unix:PATH`, `http://127.0.0.1:PORT`, or an endpoint. */
  via: DaemonEndpoint | string;
  /** Device id, VID:PID[:SERIAL]; optional when the daemon serves one device. */
  selector?: string;
  /** Take the device's lease for the life of the ScsiDevice (released on close). */
  lease?: LeaseRequestOptions;
  token?: string;
  /** Timeout of each command sent without one of its own (see ScsiDeviceOptions). */
  commandTimeoutMs?: number;
}

/** The identity fields of the daemon's device listing, copied so that a hostile daemon's extra fields go nowhere. */
function daemonDeviceIdentity(device: DaemonDevice): DaemonDeviceIdentity {
  return {
    id: String(device.id),
    vendorId: device.vendorId,
    productId: device.productId,
    ...(typeof device.manufacturer === 'string' ? { manufacturer: device.manufacturer } : {}),
    ...(typeof device.product === 'string' ? { product: device.product } : {}),
    ...(typeof device.serialNumber === 'string' ? { serialNumber: device.serialNumber } : {}),
    location: String(device.location),
  };
}

/** A {@link ScsiDevice} whose every command goes through usbscsid. */
export async function openRemoteDevice(options: OpenRemoteDeviceOptions): Promise<ScsiDevice> {
  const client =
    typeof options.via === 'string'
      ? new DaemonClient(options.via, options.token ? { token: options.token } : {})
      : new DaemonClient(options.via);
  try {
    const device = await client.resolveDevice(options.selector);
    const lease = options.lease ? await client.acquireLease(device.id, options.lease) : undefined;
    const transport = new RemoteTransport({
      client,
      deviceId: device.id,
      ...(lease ? { lease: { id: lease.id, secret: lease.secret }, releaseLeaseOnClose: true } : {}),
    });
    return new ScsiDevice(transport, {
      description: {
        backend: `usbscsid ${device.backend}`,
        transport: 'remote',
        daemonDevice: daemonDeviceIdentity(device),
      },
      ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
      onClose: async () => client.close(),
    });
  } catch (err) {
    client.close();
    throw err;
  }
}
