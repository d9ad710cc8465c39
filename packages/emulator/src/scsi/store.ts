import {
  close,
  closeSync,
  fstatSync,
  ftruncateSync,
  fsync,
  openSync,
  read,
  write,
  constants as fsConstants,
} from 'node:fs';
import { promisify } from 'node:util';
import { UsbScsiError, badInput } from '@usbscsi/core/errors';

/** The LBAs behind one LUN. Offsets are in blocks; callers range-check first. */
export interface BlockStore {
  readonly blockSize: number;
  readonly blockCount: bigint;
  readonly readOnly: boolean;
  read(lba: bigint, blocks: number): Promise<Uint8Array>;
  write(lba: bigint, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

function checkGeometry(blockSize: number, blockCount: bigint): void {
  if (!Number.isInteger(blockSize) || blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0) {
    throw badInput(`block size ${blockSize} is not a power of two from 512 to 65536; use e.g. bs=512 or bs=4096`);
  }
  if (blockCount < 1n) throw badInput(`block count ${blockCount} must be at least 1`);
}

/**
 * RAM store, sparse in 64 KiB chunks: unwritten blocks read as zeros and cost
 * nothing, so a simulated 2 TiB disk (READ CAPACITY(16) tests) is cheap.
 */
export class RamBlockStore implements BlockStore {
  readonly readOnly: boolean;
  private readonly chunks = new Map<number, Uint8Array>();

  constructor(
    readonly blockSize: number,
    readonly blockCount: bigint,
    options: { readOnly?: boolean } = {},
  ) {
    checkGeometry(blockSize, blockCount);
    this.readOnly = options.readOnly ?? false;
  }

  async read(lba: bigint, blocks: number): Promise<Uint8Array> {
    const out = new Uint8Array(blocks * this.blockSize);
    this.copy(Number(lba) * this.blockSize, out, false);
    return out;
  }

  async write(lba: bigint, data: Uint8Array): Promise<void> {
    this.copy(Number(lba) * this.blockSize, data, true);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  /** Bytes of RAM actually held (for tests of sparseness). */
  get residentBytes(): number {
    return this.chunks.size * CHUNK;
  }

  private copy(offset: number, buf: Uint8Array, toStore: boolean): void {
    let done = 0;
    while (done < buf.length) {
      const at = offset + done;
      const index = Math.floor(at / CHUNK);
      const within = at % CHUNK;
      const n = Math.min(CHUNK - within, buf.length - done);
      let chunk = this.chunks.get(index);
      if (toStore) {
        if (!chunk) this.chunks.set(index, (chunk = new Uint8Array(CHUNK)));
        chunk.set(buf.subarray(done, done + n), within);
      } else if (chunk) {
        buf.set(chunk.subarray(within, within + n), done);
      }
      done += n;
    }
  }
}

const readAsync = promisify(read);
const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);

export interface FileStoreOptions {
  blockSize: number;
  /** Required when the file does not exist yet (it is then created sparse at this size). */
  blockCount?: bigint;
  readOnly?: boolean;
}

/**
 * File-backed store with positioned reads and writes on one fd. Opened
 * synchronously so a simulated device is usable as soon as it is built.
 * An existing file is never grown or truncated: it must hold the LBAs asked for.
 */
export class FileBlockStore implements BlockStore {
  readonly blockSize: number;
  readonly blockCount: bigint;
  readonly readOnly: boolean;
  private fd: number | null;

  constructor(
    readonly path: string,
    options: FileStoreOptions,
  ) {
    this.blockSize = options.blockSize;
    this.readOnly = options.readOnly ?? false;
    let fd: number;
    let created = false;
    try {
      fd = openSync(path, this.readOnly ? fsConstants.O_RDONLY : fsConstants.O_RDWR);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A path that names no usable file is the caller's input, not an I/O failure.
      if (code === 'EISDIR' || code === 'ENOTDIR' || (code === 'ENOENT' && this.readOnly)) {
        throw new UsbScsiError(
          'E_BAD_INPUT',
          `backing file ${path} cannot be used: ${(err as Error).message}; give the path of a regular file`,
          { cause: err },
        );
      }
      if (code !== 'ENOENT' || this.readOnly) {
        throw new UsbScsiError('E_IO', `cannot open backing file ${path}: ${(err as Error).message}`, { cause: err });
      }
      if (options.blockCount === undefined)
        throw badInput(`backing file ${path} does not exist; give blocks= to create it`);
      fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
      created = true;
    }
    const stat = fstatSync(fd);
    if (!stat.isFile() && !stat.isBlockDevice()) {
      closeSync(fd);
      throw badInput(`backing file ${path} is not a regular file or block device; give the path of a file`);
    }
    this.fd = fd;
    const want = options.blockCount;
    if (created && want !== undefined) {
      checkGeometry(this.blockSize, want);
      ftruncateSync(fd, Number(want * BigInt(this.blockSize)));
    }
    const size = BigInt(fstatSync(fd).size);
    const fits = size / BigInt(this.blockSize);
    if (want !== undefined && fits < want) {
      this.closeSyncQuietly();
      throw badInput(
        `backing file ${path} holds ${fits} blocks of ${this.blockSize} bytes, fewer than the ${want} asked for`,
      );
    }
    this.blockCount = want ?? fits;
    try {
      checkGeometry(this.blockSize, this.blockCount);
    } catch (err) {
      this.closeSyncQuietly();
      throw err;
    }
  }

  async read(lba: bigint, blocks: number): Promise<Uint8Array> {
    const fd = this.handle();
    const out = new Uint8Array(blocks * this.blockSize);
    let done = 0;
    const base = Number(lba) * this.blockSize;
    while (done < out.length) {
      const { bytesRead } = await readAsync(fd, out, done, out.length - done, base + done);
      if (bytesRead === 0) break; // past the end of a file shorter than its LBAs: zeros
      done += bytesRead;
    }
    return out;
  }

  async write(lba: bigint, data: Uint8Array): Promise<void> {
    const fd = this.handle();
    let done = 0;
    const base = Number(lba) * this.blockSize;
    while (done < data.length) {
      const { bytesWritten } = await writeAsync(fd, data, done, data.length - done, base + done);
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await fsyncAsync(this.handle());
  }

  async close(): Promise<void> {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    await closeAsync(fd);
  }

  private handle(): number {
    if (this.fd === null) throw new UsbScsiError('E_IO', `backing file ${this.path} is closed`);
    return this.fd;
  }

  private closeSyncQuietly(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) close(fd, () => {});
  }
}
