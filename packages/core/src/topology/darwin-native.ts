/**
 * The macOS half of the native addon as core sees it: `require('@usbscsi/native').darwin`
 * (native/src/darwin/darwin_bindings.cc). Types only, plus a lazy loader, so
 * that nothing in core needs the compiled addon until a darwin lease runs.
 *
 * Every function that can wait returns a Promise settled from a worker
 * thread; failures reject with an Error carrying `code` (core's codes) and the
 * OS facts ({@link DarwinNativeErrorFields}).
 */
import { createRequire } from 'node:module';
import { ErrorCodes, UsbScsiError } from '../errors.js';

export interface DarwinMedia {
  /** `disk4`, `disk4s1`. */
  bsdName: string;
  /** IOMedia "Whole": a whole disk (not a partition). */
  whole: boolean;
  /** A whole disk that lives on another disk of the device (APFS container). */
  synthesized: boolean;
  /** The whole disk this media belongs to (itself when whole). */
  wholeDisk: string;
  size: number;
  writable: boolean;
  removable: boolean;
  content?: string;
  /** kDADiskDescriptionVolumePathKey, when mounted. */
  mountPoint?: string;
  volumeName?: string;
  /** kDADiskDescriptionVolumeKindKey: `msdos`, `exfat`, `hfs`, `apfs`… */
  volumeKind?: string;
  /** Mounted read-only (statfs MNT_RDONLY). */
  readOnly: boolean;
}

export interface DarwinMassStorageInterface {
  interfaceNumber: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  /** IOService class attached to the interface (`IOUSBMassStorageInterfaceNub`…); null once captured. */
  driver: string | null;
}

export interface DarwinUsbStorage {
  locationId: number;
  registryId: string;
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  /** USB interfaces of any class; 0 when a captured device shows none (then `interfaces` is empty too). */
  interfaceCount: number;
  /** The mass-storage ones. */
  interfaces: DarwinMassStorageInterface[];
  /** Registry order: each whole disk before its partitions. */
  media: DarwinMedia[];
}

export interface DarwinWaitOptions {
  locationId: number;
  wholeDisks: number;
  partitions: number;
  timeoutMs: number;
  pollMs?: number;
}

/** Extra fields on a rejected native call. */
export interface DarwinNativeErrorFields {
  code: string;
  /** 'list', 'unmount', 'mount', 'capture', 'release', 'wait', or one a newer helper adds. */
  operation: string;
  /** Raw IOReturn / DAReturn as an unsigned 32-bit number. */
  osStatus?: number;
  /** `kIOReturnNotPrivileged`, `kDAReturnBusy`, `not-root-no-entitlement`, `driver-still-attached`… */
  osStatusName?: string;
  bsdName?: string;
  locationId?: number;
  /** Who refused an unmount or mount (DiskArbitration). */
  dissenter?: { status: number; statusName: string; statusString?: string };
}

export interface DarwinNative {
  listStorage(): Promise<DarwinUsbStorage[]>;
  /** kDADiskUnmountOptionWhole, never forced. Nothing mounted counts as success. */
  unmountDisk(bsdName: string, timeoutMs: number): Promise<void>;
  /** DADiskMountWithArguments at DiskArbitration's default mount point; `whole` mounts every volume of a whole disk. */
  mountDisk(bsdName: string, timeoutMs: number, readOnly?: boolean, whole?: boolean): Promise<void>;
  /**
   * USBDeviceReEnumerate(kUSBReEnumerateCaptureDeviceMask), then waits until the mass-storage interfaces are
   * driverless.
   */
  capture(locationId: number, timeoutMs: number): Promise<void>;
  /** USBDeviceReEnumerate(kUSBReEnumerateReleaseDeviceMask). */
  release(locationId: number): Promise<void>;
  waitForStorage(options: DarwinWaitOptions): Promise<DarwinUsbStorage>;
  /** Returns the mount points that could not be flushed. */
  syncMountPoints(mountPoints: string[]): Promise<string[]>;
  /** kinfo_proc p_starttime, `<sec>.<usec>`; null when no such process. */
  processStartTime(pid: number): string | null;
  hasDeviceAccessEntitlement(): boolean;
}

let cached: DarwinNative | null = null;

/** What @usbscsi/native's index.js exports: a loader that never throws. */
interface NativePackage {
  load(): { ok: true; addon: { darwin?: DarwinNative } } | { ok: false; reason: string };
}

const BUILD_HINT =
  'Build it with `pnpm --filter @usbscsi/native build` (needs the Xcode command line ' +
  'tools, cmake, pkg-config and libusb from Homebrew).';

/** The addon's `darwin` object; `E_NO_NATIVE` (saying how to build it) when it is missing. */
export function loadDarwinNative(): DarwinNative {
  if (cached) return cached;
  let pkg: NativePackage;
  try {
    pkg = createRequire(import.meta.url)('@usbscsi/native') as NativePackage;
  } catch (err) {
    throw new UsbScsiError(
      ErrorCodes.NO_NATIVE,
      `The macOS handoff needs the native addon (@usbscsi/native), which is not installed. ${BUILD_HINT}`,
      { cause: err },
    );
  }
  const loaded = pkg.load();
  if (!loaded.ok)
    throw new UsbScsiError(
      ErrorCodes.NO_NATIVE,
      `The macOS handoff needs the native addon: ${loaded.reason}. ${BUILD_HINT}`,
    );
  if (!loaded.addon.darwin) {
    throw new UsbScsiError(
      ErrorCodes.NO_NATIVE,
      `The native addon loaded but has no macOS functions (\`darwin\`): it was built for ` +
        `another OS. Rebuild it on this Mac. ${BUILD_HINT}`,
    );
  }
  cached = loaded.addon.darwin;
  return cached;
}
