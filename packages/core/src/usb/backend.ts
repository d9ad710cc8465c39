/**
 * The USB backend contract. Types only: native (libusb addon), node-usb (the
 * `usb` npm package) and the emulator implement it, and one contract suite
 * (`@usbscsi/core/testing`) runs against each of them.
 *
 * Rules every implementation follows (the contract suite checks them):
 * - Every method returns a Promise and never blocks the event loop.
 * - Raw transfer outcomes that the BOT layer must interpret (stall, timeout,
 *   overflow, short data, cancellation) are *resolved* as a
 *   {@link TransferResult} status, never thrown. Only failures of the backend
 *   itself are thrown, as `UsbScsiError`: `E_DEVICE_GONE` (unplugged, or the
 *   handle was closed or reset), `E_BUSY`, `E_PERMISSION`, `E_NO_MEMORY`,
 *   `E_BAD_INPUT`, `E_IO`.
 * - At most one generic transfer is pending per endpoint
 *   ({@link UsbDeviceHandle.bulkIn} / {@link UsbDeviceHandle.bulkOut});
 *   a second one on the same endpoint is refused with `E_BAD_INPUT`.
 *   IN and OUT may be pending at the same time.
 * - `close()` settles every pending transfer with status `CANCELLED` before it
 *   resolves; every later call on the handle throws `E_DEVICE_GONE`.
 * - Timeouts: a single transfer's `timeoutMs` bounds that transfer. A BOT
 *   command's `timeoutMs` ({@link BotExchangeRequest.timeoutMs}) is ONE budget for the
 *   whole command on every backend: the CBW, the data phase, the CSW read and its one
 *   retry share a single deadline, and each transfer gets only the time left. Reset
 *   recovery and auto-sense (REQUEST SENSE is a command of its own) are outside it.
 */

export type UsbSpeed = 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'unknown';
export type TransferType = 'control' | 'isochronous' | 'bulk' | 'interrupt';

export interface EndpointDescriptor {
  /** bEndpointAddress: bit 7 set = IN. */
  address: number;
  transferType: TransferType;
  maxPacketSize: number;
  /** SuperSpeed companion bMaxBurst, when known. */
  maxBurst?: number;
}

/** One alternate setting of one interface. */
export interface InterfaceDescriptor {
  interfaceNumber: number;
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  endpoints: EndpointDescriptor[];
}

export interface ConfigurationDescriptor {
  configurationValue: number;
  /** Every alternate setting of every interface, flat. */
  interfaces: InterfaceDescriptor[];
}

export interface MountInfo {
  /** e.g. /dev/sda1 or disk4s1 */
  device: string;
  mountPoint: string;
  fsType?: string;
}

/**
 * What a medium write goes ahead under: it may only while `mounts` and `heldBy` are both empty,
 * and whatever was taken for it (Linux: the disk's exclusive claim, which keeps a mount from
 * starting) is kept until `release()`.
 */
export interface MediumWriteClaim {
  /** Filesystems mounted from the medium. */
  mounts: MountInfo[];
  /** What else holds the medium (`{ device: '/dev/sdb1', user: 'md127' }`, `user: 'swap'`). */
  heldBy: { device: string; user: string }[];
  /** Lets go of what was taken; a second call does nothing. */
  release(): void;
}

/** What the OS storage stack has made of one mass-storage interface. */
export interface StorageBinding {
  interfaceNumber: number;
  /** Bound kernel driver (`usb-storage`, `uas`, `IOUSBMassStorageDriver`…), null if none. */
  driver: string | null;
  /** Linux: `host3`. */
  scsiHost?: string;
  /** Whole-disk block devices: `/dev/sda` (Linux) or `disk4` (macOS). */
  blockDevices: string[];
  /** Linux SCSI generic nodes: `/dev/sg0`. */
  sgDevices: string[];
  /** Linux tape nodes (`st`): `/dev/st0` (rewinds on close) and `/dev/nst0` (does not); absent where none. */
  tapeDevices?: string[];
  /** Every mounted filesystem on any of the block devices or their partitions. */
  mounts: MountInfo[];
}

export interface UsbDeviceInfo {
  /** Name of the backend that listed it (`native`, `node-usb`, `emulator`). */
  backend: string;
  /** Backend-specific identity, stable while the device stays plugged in. */
  id: string;
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  busNumber: number;
  deviceAddress: number;
  /** Port numbers from the root hub, e.g. [2, 3] for bus-port path `1-2.3`. */
  portNumbers: number[];
  speed: UsbSpeed;
  /** The active configuration first. */
  configurations: ConfigurationDescriptor[];
  /** Per mass-storage interface, when the backend can tell (Linux sysfs, macOS IOKit). */
  storage?: StorageBinding[];
}

export interface ControlSetup {
  /** bmRequestType; bit 7 set = device-to-host. */
  requestType: number;
  request: number;
  value: number;
  index: number;
}

/**
 * Raw outcome of one transfer, as a number end to end (the same numbers as the native
 * engine's `native/src/common/exchange_block.h`). `OK` with `actualLength` below the
 * requested length is a short transfer (not an error by itself). Print it with
 * {@link transferStatusName}.
 */
export const TransferStatus = { OK: 0, STALL: 1, TIMEOUT: 2, OVERFLOW: 3, CANCELLED: 4 } as const;
export type TransferStatus = (typeof TransferStatus)[keyof typeof TransferStatus];

const TRANSFER_STATUS_NAMES = ['ok', 'stall', 'timeout', 'overflow', 'cancelled'] as const;

/** `ok`, `stall`, `timeout`, `overflow`, `cancelled` (or `status N` for a number outside the set). */
export function transferStatusName(status: number): string {
  return TRANSFER_STATUS_NAMES[status] ?? `status ${status}`;
}

export interface TransferResult {
  status: TransferStatus;
  /** Bytes actually moved, also for stall / timeout / cancelled (may be partial). */
  actualLength: number;
}

/**
 * One UAS command on bulk streams as one plan, its transfers posted together in this order: the
 * status read on stream `streamId` of `statusIn`, the data phase (if any) on the same stream,
 * the Command IU on the command pipe (no stream). The status read is posted again, by the
 * backend and with no round trip to the caller, each time it receives exactly the `ready` bytes
 * (the Read/Write Ready IU core expects for this tag); the plan ends when it receives anything
 * else (whatever is still pending is cancelled then), or when the Command IU did not go out whole.
 */
export interface StreamCommandRequest {
  statusIn: number;
  /** Where the status IU lands; at least the longest status IU the caller accepts. */
  status: Uint8Array;
  /** 1 to 8 bytes: a status IU that is not the command's last. Absent: the first status IU ends the plan. */
  ready?: Uint8Array;
  commandOut: number;
  /** The Command IU's bytes. */
  command: Uint8Array;
  streamId: number;
  data?: { endpoint: number; buffer: Uint8Array };
  /** The whole plan's budget; 1 to 2^31-1 ms. A status read still pending then comes back TIMEOUT. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What each transfer did (facts: the caller decides what they mean). */
export interface StreamCommandResult {
  /** The last status read; its bytes are in the request's `status`. */
  status: TransferResult;
  /** Status reads that received `ready` and were posted again. */
  readies: number;
  command: TransferResult;
  data?: TransferResult;
}

export interface ControlResult extends TransferResult {
  /** IN transfers: the bytes received (length `actualLength`). */
  data?: Uint8Array;
}

/** Data phase of a whole-command exchange. */
export type BotDataPhase =
  | { direction: 'in' | 'out'; buffer: Uint8Array }
  /** Stream straight to / from a file descriptor (only when `capabilities.fdStreaming`). */
  | { direction: 'in' | 'out'; fd: number; length: number; position: number };

/**
 * Memory for data phases. `pinned`: the backend transfers into and out of it in place; after
 * `release()` the bytes read as empty. Unreleased pinned memory is freed when collected, but it
 * counts against the OS limit (Linux `usbfs_memory_mb`) until then: release what you are done with.
 */
export interface TransferBuffer {
  readonly bytes: Uint8Array;
  readonly pinned: boolean;
  release(): void;
}

export interface BotExchangeRequest {
  /** The 31-byte Command Block Wrapper, already encoded. */
  cbw: Uint8Array;
  outEndpoint: number;
  inEndpoint: number;
  data?: BotDataPhase;
  /** Whole-command budget in milliseconds: CBW, data phase and CSW read share it. */
  timeoutMs: number;
  /** Data phase split into URBs of this many bytes (native default 256 KiB). */
  chunkSize?: number;
  /** URBs kept in flight during the data phase (native default 4). */
  depth?: number;
  signal?: AbortSignal;
}

/**
 * What the exchange saw, phase by phase: facts, never verdicts. The BOT rules (the 13
 * cases, which bytes are a CSW, recovery) stay in core's `BotTransport`, which finishes
 * whatever the exchange stopped short of.
 */
export interface BotExchangeResult {
  cbw: TransferResult;
  /** Absent when there was no data phase or the CBW did not go out whole with status `OK`. */
  data?: TransferResult & {
    /**
     * A data-IN phase that ended short (status `OK`, fewer bytes than asked) while later reads
     * were already queued (native: several URBs in flight): what those reads received, which is
     * not data (not in `actualLength`, not written to an fd) but the start of the status phase.
     * `length` counts every byte that arrived; `bytes` holds the first 32 at most. Absent when
     * nothing arrived after the short packet; backends that read with one transfer at a time
     * never set it.
     */
    afterShort?: { length: number; bytes: Uint8Array };
  };
  /**
   * Present only when the CSW read was started: the data phase, if any, moved every byte
   * asked with status `OK`. `bytes` are the bytes received (at most 13).
   */
  csw?: TransferResult & { bytes: Uint8Array };
  /**
   * Optional remarks from the backend for logs and benchmarks (e.g. "depth
   * reduced to fit usbfs_memory_mb"). Never needed to interpret the result.
   */
  notes?: string[];
}

/**
 * BOT commands one after the other ({@link UsbDeviceHandle.botJob}), each with the CSW core
 * expects of it. Data phases follow one another: command k's starts where command k-1's ended.
 */
export interface BotJobRequest {
  /** In order: the 31-byte CBW, the 13 bytes of the CSW that means "done, all good", the data length (>= 1). */
  commands: { cbw: Uint8Array; csw: Uint8Array; length: number }[];
  outEndpoint: number;
  inEndpoint: number;
  data: { direction: 'in' | 'out'; buffer: Uint8Array } | { direction: 'in' | 'out'; fd: number; position: number };
  /** Each command's budget: its CBW, data phase and CSW read share it. */
  timeoutMs: number;
  chunkSize?: number;
  depth?: number;
  signal?: AbortSignal;
}

/** Facts of a job: how far it went, and what the command that ended it saw. */
export interface BotJobResult {
  /** Commands whose phases all completed whole and whose CSW was byte for byte the expected one. */
  done: number;
  /** When `done` is short of the commands: command `done`'s exchange, as `botExchange` reports it. */
  stopped?: BotExchangeResult;
  notes?: string[];
}

export interface UsbHandleCapabilities {
  /** `botExchange` accepts an fd data phase. */
  fdStreaming: boolean;
  /** Kernel driver detach/attach does something on this platform. */
  kernelDriver: boolean;
  /**
   * An aborted transfer really ends (its AbortSignal cancels it). false: the transfer runs on
   * until its own timeout (the `usb` package v3), which rules out protocols that keep a read
   * pending with no end (UAS). Absent: true.
   */
  cancellableTransfers?: boolean;
  /**
   * How long the device behind this handle needs after a Bulk-Only Mass Storage Reset before its
   * halts are cleared, when the backend knows it (an emulated device: 0). Unset: BotTransport's
   * pause (100 ms, as Linux waits), which a real device may need.
   */
  resetRecoveryMs?: number;
}

export interface UsbDeviceHandle {
  readonly info: UsbDeviceInfo;
  readonly capabilities: UsbHandleCapabilities;

  /** `E_BUSY` if another process (or the kernel driver) holds it. */
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  setAlternateSetting(interfaceNumber: number, alternateSetting: number): Promise<void>;

  kernelDriverActive(interfaceNumber: number): Promise<boolean>;
  detachKernelDriver(interfaceNumber: number): Promise<void>;
  attachKernelDriver(interfaceNumber: number): Promise<void>;

  /**
   * `data` is the bytes to send (OUT) or the number of bytes to read (IN);
   * the direction comes from `setup.requestType` bit 7.
   */
  controlTransfer(setup: ControlSetup, data: Uint8Array | number, timeoutMs: number): Promise<ControlResult>;

  /** Reads into `buffer` (up to its length). */
  bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult>;
  bulkOut(endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult>;

  /** CLEAR_FEATURE(ENDPOINT_HALT) and reset the host-side data toggle. */
  clearHalt(endpoint: number): Promise<void>;

  /**
   * USB port reset. Afterwards this handle is dead (every call throws
   * `E_DEVICE_GONE`): list and open the device again.
   */
  resetDevice(): Promise<void>;

  /**
   * One BOT command's transfers: CBW, data phase, CSW read, under one deadline
   * (`request.timeoutMs` covers them all; each transfer gets the time left). Chain rule,
   * the same on every backend: the CBW is sent; the data phase (if any) starts only when
   * the CBW went out whole with status `OK`; the CSW read (13 bytes) starts only when the
   * data phase (if any) moved every byte asked with status `OK`. The first phase that did
   * not is the last one reported. Reports facts only: it never decides what bytes mean
   * (a 13-byte data phase is data here; `BotTransport` decides whether it is a CSW).
   * Native runs it in its engine; node-usb and the emulator run core's generic one
   * (`genericBotExchange`) over single `bulkOut` / `bulkIn` transfers.
   */
  botExchange(request: BotExchangeRequest): Promise<BotExchangeResult>;

  /**
   * Optional: BOT commands run back to back by the backend's engine (native), the next CBW sent
   * from the previous CSW's completion. The engine compares each CSW with the expected bytes and
   * stops at the first command that differs in any way; core judges that one as usual. Without
   * it, core runs the same job over `botExchange` (`genericBotJob`).
   */
  botJob?(request: BotJobRequest): Promise<BotJobResult>;

  /**
   * Optional (USB 3, for UAS): allocates `count` bulk streams on each of `endpoints`; resolves with
   * the number allocated per endpoint. A host controller or endpoint without streams is
   * `E_BAD_INPUT`; a platform without the call is `E_UNSUPPORTED`.
   */
  allocStreams?(count: number, endpoints: number[]): Promise<number>;
  freeStreams?(endpoints: number[]): Promise<void>;
  /**
   * Optional (with `allocStreams`): one transfer on bulk stream `streamId` of `endpoint` (IN reads
   * into `buffer`, OUT sends it; bit 7 of the address says which). Unlike `bulkIn` / `bulkOut`,
   * several may be pending on one endpoint, one per stream. Outcomes are resolved as for
   * `bulkIn`; `timeoutMs` 0 means none.
   */
  streamTransfer?(
    endpoint: number,
    streamId: number,
    buffer: Uint8Array,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<TransferResult>;

  /**
   * Optional (with `streamTransfer`): a UAS command's status read, data transfer and Command IU
   * as one plan (`StreamCommandRequest`); resolves when the status read brought something other
   * than its Ready IU (or the Command IU failed) and everything else has come back. `signal`
   * cancels what is still pending. Without it, core posts the same transfers one by one.
   */
  streamCommand?(request: StreamCommandRequest): Promise<StreamCommandResult>;

  /**
   * Optional: memory that data phases on this handle use in place (native on Linux: mapped
   * from usbfs, so the kernel copies no byte). `null` when it cannot be had right now (over
   * `usbfs_memory_mb`, say): use ordinary memory. Synchronous; throws `E_BAD_INPUT` for a bad
   * size and `E_DEVICE_GONE` on a closed handle. `release()` throws `E_BUSY` while commands are
   * in flight.
   */
  allocTransferBuffer?(bytes: number): TransferBuffer | null;

  close(): Promise<void>;
}

export interface HotplugEvent {
  type: 'arrived' | 'left';
  device: UsbDeviceInfo;
}

/**
 * A way to reach USB devices. Every handle it opens follows the rules at the top of this
 * file; in particular `timeoutMs` means the same on every backend: per call for a single
 * transfer, one whole-command budget for `botExchange`.
 */
export interface UsbBackend {
  readonly name: string;
  /** Every USB device the backend can see (not only mass storage). */
  list(): Promise<UsbDeviceInfo[]>;
  /** Opens a device from a fresh `list()`; `E_DEVICE_GONE` if it has left. */
  open(device: UsbDeviceInfo): Promise<UsbDeviceHandle>;
  /** Optional hotplug notifications; returns an unsubscribe function. */
  watch?(listener: (event: HotplugEvent) => void): () => void;
  /** Releases backend-wide resources (the libusb context and its event handling). */
  dispose?(): Promise<void>;
}

export { locationOf } from './location.js';

export const USB_CLASS_MASS_STORAGE = 0x08;
export const MSC_SUBCLASS_SCSI = 0x06;
export const MSC_PROTOCOL_BOT = 0x50;
export const MSC_PROTOCOL_UAS = 0x62;
