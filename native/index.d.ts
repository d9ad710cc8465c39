/**
 * The typed surface of the compiled addon (build/Release/usbscsi_native.node).
 * Core adapts it to its `UsbBackend` contract (packages/core/src/backends/native.ts);
 * nothing else should need this file.
 *
 * Errors: every rejection and every synchronous throw is an `Error` with a stable
 * `code` from core's ErrorCodes (`E_BAD_INPUT` for wrong arguments, `E_DEVICE_GONE`,
 * `E_BUSY`, `E_PERMISSION`, `E_NO_MEMORY`, `E_UNSUPPORTED`, `E_NOT_FOUND`, `E_IO`, …)
 * and, when libusb produced it, `libusbError` (e.g. `LIBUSB_ERROR_BUSY`), `libusbCode`
 * and `errno`. Transfer outcomes (stall, timeout, overflow, cancelled, short) are
 * results (status numbers), not errors.
 */

/**
 * A transfer status as a number (the same numbers as core's `TransferStatus` and
 * src/common/exchange_block.h `Status`): 0 ok, 1 stall, 2 timeout, 3 overflow, 4 cancelled.
 */
export type NativeTransferStatus = 0 | 1 | 2 | 3 | 4;

export interface NativeError extends Error {
  code: string;
  libusbError?: string;
  libusbCode?: number;
  errno?: number;
}

export interface NativeEndpoint {
  address: number;
  transferType: 'control' | 'isochronous' | 'bulk' | 'interrupt';
  maxPacketSize: number;
  maxBurst?: number;
}
export interface NativeInterface {
  interfaceNumber: number;
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  endpoints: NativeEndpoint[];
}
export interface NativeConfiguration {
  configurationValue: number;
  interfaces: NativeInterface[];
}
export interface NativeDeviceInfo {
  vendorId: number;
  productId: number;
  busNumber: number;
  deviceAddress: number;
  portNumbers: number[];
  speed: 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'unknown';
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  /** The active configuration first. */
  configurations: NativeConfiguration[];
}

export interface NativeTransferResult {
  status: NativeTransferStatus;
  actualLength: number;
}
export interface NativeControlResult extends NativeTransferResult {
  data?: Uint8Array;
}

export interface NativeDeviceHandle {
  readonly closed: boolean;
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  setAlternateSetting(interfaceNumber: number, alternateSetting: number): Promise<void>;
  kernelDriverActive(interfaceNumber: number): Promise<boolean>;
  /** Resolves also when no driver was bound. */
  detachKernelDriver(interfaceNumber: number): Promise<void>;
  attachKernelDriver(interfaceNumber: number): Promise<void>;
  clearHalt(endpoint: number): Promise<void>;
  /** IN (requestType bit 7): `dataOrLength` is the length; OUT: the bytes. */
  controlTransfer(
    requestType: number,
    request: number,
    value: number,
    index: number,
    dataOrLength: Uint8Array | number,
    timeoutMs: number,
    opId?: number,
  ): Promise<NativeControlResult>;
  /** Direction from the endpoint address; IN fills `buffer` in place (zero copy). One pending transfer per endpoint. */
  bulkTransfer(endpoint: number, buffer: Uint8Array, timeoutMs: number, opId?: number): Promise<NativeTransferResult>;
  /**
   * Runs one transfer plan (up to 4 phases; several plans may be in flight on one handle).
   * `block` is the exchange block (src/common/exchange_block.h, 544 bytes): the plan in, the
   * facts of each phase (status number, bytes moved, inline IN bytes) written back before the
   * promise settles; `data` is the memory of the plan's buffer phases (zero copy). Resolves
   * with the engine's notes (depth cut to fit usbfs_memory_mb, heap buffers, bytes received by
   * URBs queued after a short one), if any. Core validates and encodes plans
   * (packages/core/src/backends/native-exchange.ts); the engine only refuses what would be
   * unsafe (sizes outside the buffers, unknown values) with a generic `E_BAD_INPUT`.
   * A **job** (header `kJobCommands` = N): the 3-phase BOT plan run once per entry of `commands`
   * (N x 48 bytes: CBW, the expected CSW, data length), the data phases back to back; it stops
   * at the first command whose phases did not all complete whole or whose CSW differs from the
   * expected bytes, reports that command's phases, and writes the count before it (`kJobDone`).
   * `side` is the memory of `kSourceSide` phases (a UAS status read beside a data phase in `data`).
   * A phase with `kEnds` bits makes the phases run side by side (one that falls short ends only
   * itself; every phase that started is reported) until a phase whose bit says so ends the plan;
   * a one-URB IN phase with `kRepostLength` bytes is submitted again each time it receives
   * exactly those bytes (counted in `kReposts`).
   */
  exchange(
    block: Uint8Array,
    data?: Uint8Array,
    commands?: Uint8Array,
    side?: Uint8Array,
  ): Promise<string[] | undefined>;
  /**
   * Pinned memory for data phases: an ArrayBuffer mapped from the device's usbfs file
   * (libusb_dev_mem_alloc), which the host controller fills or sends in place (no per-byte copy
   * by the kernel). `null` where that is unavailable (not Linux; over usbfs_memory_mb, which the
   * mapping counts toward until released or collected). Zero-copy only with this handle.
   */
  allocTransferBuffer(bytes: number): ArrayBuffer | null;
  /**
   * Unmaps a buffer from `allocTransferBuffer` now and detaches it (views read as empty).
   * False if it is not a live pinned buffer of this handle; E_BUSY while commands are in flight.
   */
  releaseTransferBuffer(buffer: ArrayBuffer): boolean;
  /** Cancels the operation started with this opId; false if it is no longer pending. */
  cancel(opId: number): boolean;
  /**
   * Allocates `count` bulk streams (1..65533) on each of `endpoints` (USB 3, for UAS); resolves
   * with how many the host controller gave (possibly fewer). A controller or endpoint without
   * streams rejects E_BAD_INPUT (libusb INVALID_PARAM); macOS: E_UNSUPPORTED.
   */
  allocStreams(count: number, endpoints: number[]): Promise<number>;
  /** Frees the streams of `endpoints`. */
  freeStreams(endpoints: number[]): Promise<void>;
  /** Port reset; the handle is closed afterwards. */
  resetDevice(): Promise<void>;
  /** Cancels what is pending, waits until every pending promise settled, closes. Idempotent. */
  close(): Promise<void>;
}

export interface SgIoRequest {
  /** 6..16 bytes. */
  cdb: Uint8Array;
  direction: 'none' | 'in' | 'out';
  /** in: filled in place; out: sent. Absent for 'none'. Held until the promise settles. */
  buffer?: Uint8Array;
  timeoutMs: number;
}

/**
 * A Linux SCSI node (`/dev/sg*` or a block device) opened once for many SG_IO commands
 * (src/linux/sg_node.h). On an sg node a command with at most 64 KiB of data goes through the
 * driver's asynchronous interface (queued and completed on the JS thread's loop, no thread hop);
 * anything larger, and every command on a block device, runs its SG_IO on a pool thread. A block
 * device maps page-aligned memory in place; the node copies an unaligned data phase through a
 * page-aligned buffer of its own (allocated once, grown to the largest command).
 */
export interface SgNode {
  readonly path: string;
  readonly blockDevice: boolean;
  /** Several commands may be in flight. A closed node rejects with E_DEVICE_GONE. */
  execute(request: SgIoRequest): Promise<SgIoResult>;
  /**
   * `execute` with positional arguments (direction 0 none, 1 in, 2 out; `buffer` ignored for none)
   * that writes the result into `facts` (at least 316 bytes, held until the promise settles)
   * instead of building an object: i32 status, maskedStatus, msgStatus, hostStatus, driverStatus,
   * resid, durationMs, info, sense length, bounced (bytes 0..39, native byte order), f64
   * durationNs (40..47), the sense bytes from 64. Resolves with nothing.
   */
  command(
    cdb: Uint8Array,
    direction: 0 | 1 | 2,
    buffer: Uint8Array | undefined,
    timeoutMs: number,
    facts: Uint8Array,
  ): Promise<void>;
  /**
   * A run of READs or WRITEs (a long range) on a pool thread, no JavaScript between commands
   * (src/linux/sg_job.h). `table`: N entries of 24 bytes (byte 0 CDB length, bytes 4..7 data length
   * u32 LE, bytes 8..23 the CDB); `data`: every command's data back to back. `depth` commands are
   * in flight at once (1..4). The first command that does not come back plain (status GOOD, no
   * host/driver status, no sense, resid 0) ends the job and its facts come back as `result`;
   * an ioctl failure rejects. `jobId` (1..2^31-1, unique among running jobs) is for `cancelJob`.
   */
  job(
    table: Uint8Array,
    data: Uint8Array,
    options: { direction: 'in' | 'out'; timeoutMs: number; depth: number; jobId: number },
  ): Promise<SgJobResult>;
  /** Ends the job before its next command (SG_IO in flight cannot be cancelled); false when it is not running. */
  cancelJob(jobId: number): boolean;
  /** SG_SCSI_RESET at the given level (default 'device'). */
  reset(level?: 'device' | 'target' | 'bus' | 'host'): Promise<void>;
  /** Refuses new commands; the descriptor closes once those in flight settle. Idempotent. */
  close(): void;
}

export interface SgIoResult {
  status: number;
  maskedStatus: number;
  msgStatus: number;
  hostStatus: number;
  driverStatus: number;
  resid: number;
  durationMs: number;
  durationNs: number;
  info: number;
  sense: Uint8Array;
  /** The data phase went through the node's aligned buffer (unaligned memory on a block device). */
  bounced?: boolean;
}

export interface SgJobResult {
  /** Commands that came back plain, all before the one that ended the job (all of them when none did). */
  done: number;
  /** A command ended the job (its facts in `result`, unless it was cancelled before it was sent). */
  stopped: boolean;
  cancelled: boolean;
  /** Commands whose data went through the node's aligned buffers (the caller's memory was not page-aligned). */
  bouncedCommands: number;
  /** Nanoseconds inside SG_IO, summed over the commands that ran (a profile of where a job's time goes). */
  ioctlNs: number;
  /** Nanoseconds copying through the aligned buffers. */
  copyNs: number;
  result?: SgIoResult;
}

export interface NativeAddon {
  readonly platform: 'linux' | 'darwin' | 'null';
  list(): Promise<NativeDeviceInfo[]>;
  open(busNumber: number, deviceAddress: number): Promise<NativeDeviceHandle>;
  libusbVersion(): { major: number; minor: number; micro: number; nano: number; text: string };
  /** The error the engine makes of a libusb error code (for tests and diagnostics). */
  mapLibusbError(code: number, what?: string): NativeError;
  /** Bytes all in-flight transfers may use together (Linux usbfs_memory_mb; 0 = no limit). */
  transferMemoryLimit(): { bytes: number; source: string };
  /**
   * Linux only: opens an sg or block node once (read-write, else read-only). E_NOT_FOUND,
   * E_PERMISSION from the OS; E_BAD_INPUT for a path that is not a device node.
   */
  sgOpen?(path: string): Promise<SgNode>;
  /**
   * Linux only: `bytes` of zeroed page-aligned memory (freed when collected), which a block
   * device's SG_IO moves in place.
   */
  alignedBuffer?(bytes: number): ArrayBuffer;
  /**
   * Linux only: who connected this Unix socket (SO_PEERCRED, recorded by the kernel at
   * connect time). `fd` is the connected socket's descriptor. Throws with `errno` when
   * `fd` is not a connected Unix socket.
   */
  peerCredentials?(fd: number): { pid: number; uid: number; gid: number };
  /**
   * Linux: sends one byte carrying a duplicate of `fd` (SCM_RIGHTS) on the connected Unix socket
   * `socketFd`. Never blocks; E_IO with `errno` when the socket does not take it.
   */
  sendFd?(socketFd: number, fd: number): void;
  /**
   * Linux: the descriptor a peer sent with sendFd (close-on-exec; the caller owns it), or null
   * while nothing has arrived. Never blocks. E_IO (errno EPROTO) when the peer closed the
   * connection or sent other than one descriptor (any it sent are closed).
   */
  receiveFd?(socketFd: number): number | null;
  /**
   * Linux: `bytes` of zeroed memory that are also a file in memory only (memfd, mapped shared,
   * sealed against shrinking and growing): handed to usbscsid, what the daemon reads into the
   * file is in `buffer` with no copy here, and what is written into `buffer` is what it writes.
   * The descriptor belongs to the mapping (never close it): both go with releaseSharedMemory or
   * when the buffer is collected. E_IO with `errno` on failure.
   */
  sharedMemory?(bytes: number): { fd: number; buffer: ArrayBuffer };
  /** Detaches, unmaps and closes shared memory now; false when it is not live shared memory. */
  releaseSharedMemory?(buffer: ArrayBuffer): boolean;
  /**
   * Keeps the memory's address and bytes but ends its sharing with the file, in one step: what is
   * written into the file afterwards no longer shows in it, nor the other way. The descriptor stays
   * (reading it gives the file's bytes) until release. False when not live shared memory or already
   * unshared; E_IO with `errno` when the system gives no memory for the copy.
   */
  unshareSharedMemory?(buffer: ArrayBuffer): boolean;
  /**
   * Linux: whether poll(2) reports an exceptional condition (POLLPRI or POLLERR) on `fd` now, with
   * no wait. On a /proc/self/mountinfo descriptor: the mount table changed since it was opened or
   * last polled. E_BAD_INPUT when `fd` is not open.
   */
  pollPriority?(fd: number): boolean;
  /** macOS only (native/src/darwin): IOKit/DiskArbitration bindings. */
  readonly darwin?: unknown;
}

/** One binary the loader considered, in its order (loader.js). */
export interface BinaryAttempt {
  kind: 'override' | 'prebuild' | 'source';
  path: string;
  /** The prebuild's directory: `linux-x64-glibc`, `darwin-arm64`, … */
  target?: string;
  status: 'loaded' | 'unavailable' | 'failed' | 'not-tried';
  reason?: string;
}

export type LoadResult =
  | { ok: true; addon: NativeAddon; from: BinaryAttempt; tried: BinaryAttempt[]; note?: string }
  | { ok: false; reason: string; tried: BinaryAttempt[]; note?: string };

/**
 * Loads the addon on first call; never throws. Order: USBSCSI_NATIVE_BINARY alone when set;
 * else the prebuild for this platform/arch/libc, then the source build (the newer first when
 * both exist: a development checkout).
 */
export function load(): LoadResult;
/** The install script's reason for skipping the source build, or null. */
export function skipReason(): string | null;
/** This machine's prebuild directory name (`linux-x64-glibc`, `darwin-arm64`, …). */
export function prebuildTarget(): string;
/** USBSCSI_NATIVE_BINARY, or the source build's path. */
export const binaryPath: string;
