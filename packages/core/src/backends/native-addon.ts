/**
 * The slice of `@usbscsi/native` (native/index.d.ts) that core uses, typed here
 * so that core compiles and runs without the compiled addon, plus the lazy
 * loader and the one function that turns the addon's errors into
 * `UsbScsiError`s.
 */
import { createRequire } from 'node:module';
import { ErrorCodes, UsbScsiError, type ErrorCode } from '../errors.js';
import type { TransferStatus } from '../usb/backend.js';

export interface NativeTransferResult { status: TransferStatus; actualLength: number }

export interface NativeDeviceInfo {
  vendorId: number; productId: number;
  busNumber: number; deviceAddress: number; portNumbers: number[];
  speed: 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'unknown';
  manufacturer?: string; product?: string; serialNumber?: string;
  configurations: {
    configurationValue: number;
    interfaces: {
      interfaceNumber: number; alternateSetting: number;
      interfaceClass: number; interfaceSubClass: number; interfaceProtocol: number;
      endpoints: { address: number; transferType: 'control' | 'isochronous' | 'bulk' | 'interrupt'; maxPacketSize: number; maxBurst?: number }[];
    }[];
  }[];
}

export interface NativeBotRequest {
  cbw: Uint8Array; outEndpoint: number; inEndpoint: number; timeoutMs: number;
  data?: { direction: 'in' | 'out'; buffer: Uint8Array } | { direction: 'in' | 'out'; fd: number; length: number; position: number };
  chunkSize?: number; depth?: number; opId?: number;
  /** Data-IN URBs with the CBW and the CSW behind the data (native/README.md: unsafe on QEMU usb-storage). */
  queueAhead?: boolean;
}

export interface NativeBotResult {
  cbw: NativeTransferResult;
  data?: NativeTransferResult;
  csw?: NativeTransferResult & { bytes: Uint8Array };
  notes?: string[];
}

export interface NativeDeviceHandle {
  readonly closed: boolean;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  setAlternateSetting(n: number, alt: number): Promise<void>;
  kernelDriverActive(n: number): Promise<boolean>;
  detachKernelDriver(n: number): Promise<void>;
  attachKernelDriver(n: number): Promise<void>;
  clearHalt(endpoint: number): Promise<void>;
  controlTransfer(requestType: number, request: number, value: number, index: number, dataOrLength: Uint8Array | number, timeoutMs: number, opId?: number): Promise<NativeTransferResult & { data?: Uint8Array }>;
  bulkTransfer(endpoint: number, buffer: Uint8Array, timeoutMs: number, opId?: number): Promise<NativeTransferResult>;
  botExchange(request: NativeBotRequest): Promise<NativeBotResult>;
  /** Pinned (usbfs-mapped) memory, or null where unavailable; native/index.d.ts. */
  allocTransferBuffer(bytes: number): ArrayBuffer | null;
  releaseTransferBuffer(buffer: ArrayBuffer): boolean;
  cancel(opId: number): boolean;
  resetDevice(): Promise<void>;
  close(): Promise<void>;
}

export interface SgIoRequest { path: string; cdb: Uint8Array; direction: 'none' | 'in' | 'out'; buffer?: Uint8Array; timeoutMs: number }
export interface SgIoResult {
  status: number; maskedStatus: number; msgStatus: number; hostStatus: number; driverStatus: number;
  resid: number; durationMs: number; durationNs: number; info: number; sense: Uint8Array;
}

export interface NativeAddon {
  readonly platform: string;
  list(): Promise<NativeDeviceInfo[]>;
  open(busNumber: number, deviceAddress: number): Promise<NativeDeviceHandle>;
  libusbVersion(): { text: string };
  mapLibusbError(code: number, what?: string): Error;
  transferMemoryLimit(): { bytes: number; source: string };
  sgIo?(request: SgIoRequest): Promise<SgIoResult>;
  sgReset?(path: string, level?: 'device' | 'target' | 'bus' | 'host'): Promise<void>;
  /** Linux: the process that connected a Unix socket (SO_PEERCRED), for the daemon's lease rules. */
  peerCredentials?(fd: number): { pid: number; uid: number; gid: number };
}

/** One binary the native package's loader considered (native/loader.js), in its order. */
export interface NativeBinaryAttempt {
  kind: 'override' | 'prebuild' | 'source';
  path: string;
  /** The prebuild's directory name: `linux-x64-glibc`, `darwin-arm64`, … */
  target?: string;
  status: 'loaded' | 'unavailable' | 'failed' | 'not-tried';
  reason?: string;
}

export type NativeAddonLoad =
  | { ok: true; addon: NativeAddon; from?: NativeBinaryAttempt; tried?: NativeBinaryAttempt[]; note?: string }
  | { ok: false; reason: string; tried?: NativeBinaryAttempt[]; note?: string };

export const NATIVE_BUILD_HINT =
  '`usbscsi doctor` says which binaries were tried and why each failed. Installed packages carry a prebuilt engine for linux-x64, linux-arm64 (glibc 2.31+) and macOS; ' +
  'from a source checkout, build it with `pnpm --filter @usbscsi/native build` (needs cmake, a C++17 compiler and libusb-1.0 development files).';

let cached: NativeAddonLoad | undefined;

/** Loads `@usbscsi/native` once; never throws. */
export function loadNativeAddon(): NativeAddonLoad {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('@usbscsi/native') as { load(): NativeAddonLoad };
    cached = pkg.load();
  } catch (err) {
    cached = { ok: false, reason: `the @usbscsi/native package is not installed (${err instanceof Error ? err.message : String(err)})` };
  }
  return cached;
}

const CODES = new Set<string>(Object.values(ErrorCodes));

/** The addon's errors carry core's codes already; this keeps code and message and attaches the native facts. */
export function fromNativeError(err: unknown, action: string): UsbScsiError {
  if (err instanceof UsbScsiError) return err;
  const e = err as { code?: unknown; message?: unknown; libusbError?: unknown; libusbCode?: unknown; errno?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code: ErrorCode = typeof e?.code === 'string' && CODES.has(e.code) ? (e.code as ErrorCode) : ErrorCodes.IO;
  const details: Record<string, unknown> = {};
  if (typeof e?.libusbError === 'string') details.libusbError = e.libusbError;
  if (typeof e?.libusbCode === 'number') details.libusbCode = e.libusbCode;
  if (typeof e?.errno === 'number') details.errno = e.errno;
  return new UsbScsiError(code, `${action}: ${message}`, { cause: err, details });
}
