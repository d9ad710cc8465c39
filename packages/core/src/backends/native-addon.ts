/**
 * Loads `@usbscsi/native` optionally (core compiles and runs without the compiled addon) and
 * turns the addon's errors into `UsbScsiError`s. The addon's surface is declared once, in
 * native/index.d.ts, and imported here as types only.
 */
import { createRequire } from 'node:module';
import type { LoadResult } from '@usbscsi/native';
import { ErrorCodes, UsbScsiError, type ErrorCode } from '../errors.js';

export type {
  BinaryAttempt as NativeBinaryAttempt,
  LoadResult as NativeAddonLoad,
  NativeAddon,
  NativeDeviceHandle,
  NativeDeviceInfo,
  NativeTransferResult,
  SgIoRequest,
  SgIoResult,
  SgJobResult,
  SgNode,
} from '@usbscsi/native';

export const NATIVE_BUILD_HINT =
  '`usbscsi doctor` says which binaries were tried and why each failed. ' +
  'Installed packages carry a prebuilt engine for linux-x64, linux-arm64 (glibc 2.31+) and macOS; ' +
  'from a source checkout, build it with `pnpm --filter @usbscsi/native build` ' +
  '(needs cmake, a C++17 compiler and libusb-1.0 development files).';

let cached: LoadResult | undefined;

/** Loads `@usbscsi/native` once; never throws. */
export function loadNativeAddon(): LoadResult {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('@usbscsi/native') as { load(): LoadResult };
    cached = pkg.load();
  } catch (err) {
    cached = {
      ok: false,
      reason: `the @usbscsi/native package is not installed (${err instanceof Error ? err.message : String(err)})`,
      tried: [],
    };
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
