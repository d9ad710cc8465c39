/**
 * The fallback backend over the `usb` npm package v3 (node-usb-rs on the Rust
 * `nusb` crate). Loaded lazily: nothing here runs until
 * {@link loadNodeUsbBackend} is called, and a missing or broken `usb` package
 * is reported as a reason, not thrown.
 *
 * What the package does and how this file adapts it (checked in the QEMU guest,
 * docs/testing-vm.md):
 * - One transfer per endpoint: nusb refuses a second one; we refuse it first
 *   with `E_BAD_INPUT`, as the contract says.
 * - A stall, a timeout and a cancellation all *reject*; the text says which
 *   (`Stall`, `Cancelled`). A timeout and our own cancellation both read
 *   `Cancelled`: we tell them apart by remembering who cancelled.
 * - A timeout of 0 cancels at once, so a timeout is always passed and must be > 0.
 * - There is no way to cancel one transfer: an abort settles the caller's
 *   promise as `cancelled` at once and the orphaned transfer keeps the endpoint
 *   until it ends (its own timeout); the next transfer on it waits for that.
 * - Calls that change the device (claim, release, clear halt, close…) are
 *   refused by node-usb while a transfer is in flight: they wait for it.
 * - QEMU's usb-storage answers an IN with nothing to send by STALL, not NAK.
 * - On macOS detach/attach are no-ops and the claim of a mass-storage interface
 *   fails: we say that the native addon is needed there.
 */
import { readFile, access } from 'node:fs/promises';
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import { genericBotExchange } from '../bot/generic-exchange.js';
import {
  TransferStatus,
  type BotExchangeRequest,
  type BotExchangeResult,
  type ConfigurationDescriptor,
  type ControlResult,
  type ControlSetup,
  type TransferResult,
  type TransferType,
  type UsbBackend,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
  type UsbHandleCapabilities,
  type UsbSpeed,
} from '../usb/backend.js';
import { attachStorageBindings, loadStorageBindings, type StorageBindingsFn } from '../topology/index.js';
import { usbIdsOf } from '../hex.js';
import { sysfsDeviceName } from '../usb/location.js';

/* ---- The slice of the `usb` package we use, typed here so nothing else needs it. ---- */
interface NusbEndpoint {
  endpointNumber: number;
  direction: 'in' | 'out';
  type: string;
  packetSize: number;
}
interface NusbAlternate {
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubclass: number;
  interfaceProtocol: number;
  endpoints: NusbEndpoint[];
}
interface NusbInterface {
  interfaceNumber: number;
  alternates: NusbAlternate[];
}
interface NusbConfiguration {
  configurationValue: number;
  interfaces: NusbInterface[];
}
interface NusbSetup {
  requestType: 'standard' | 'class' | 'vendor';
  recipient: 'device' | 'interface' | 'endpoint' | 'other';
  request: number;
  value: number;
  index: number;
}
interface NusbDevice {
  vendorId: number;
  productId: number;
  bus: string;
  address: number;
  ports: number[];
  speed?: string;
  readonly manufacturerName: string | null;
  readonly productName: string | null;
  readonly serialNumber: string | null;
  readonly configuration: NusbConfiguration | undefined;
  readonly configurations: NusbConfiguration[];
  open(): Promise<void>;
  close(): Promise<void>;
  reset(): Promise<void>;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  selectAlternateInterface(n: number, alt: number): Promise<void>;
  nativeControlTransferIn(setup: NusbSetup, timeout: number, length: number): Promise<Uint8Array | null>;
  nativeControlTransferOut(setup: NusbSetup, timeout: number, data?: Uint8Array): Promise<number>;
  nativeTransferIn(ep: number, timeout: number, length: number): Promise<Uint8Array | null>;
  nativeTransferOut(ep: number, timeout: number, data: Uint8Array): Promise<number>;
  clearHalt(direction: 'in' | 'out', ep: number): Promise<void>;
  detachKernelDriver(n: number): Promise<void>;
  attachKernelDriver(n: number): Promise<void>;
}
interface NusbBinding {
  nativeGetDevices(): Promise<NusbDevice[]>;
}

const MACOS_CLAIM_HINT =
  "On macOS the node-usb fallback cannot take a mass-storage device: Apple's driver keeps the interface and " +
  'node-usb cannot detach it. Build the native addon (@usbscsi/native), which captures the device.';

const SPEEDS: Record<string, UsbSpeed> = {
  low: 'low',
  full: 'full',
  high: 'high',
  super: 'super',
  superPlus: 'super-plus',
};

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** OS error numbers nusb attaches to its errors: `(errno N)` on Linux, `(error 0x…)` (IOReturn) on macOS. */
const ERRNO = { EPERM: 1, ENOENT: 2, ENOMEM: 12, EACCES: 13, EBUSY: 16, ENODEV: 19, ESHUTDOWN: 108 } as const;
const IORETURN = {
  NO_MEMORY: 0xe00002bd,
  NO_DEVICE: 0xe00002c0,
  NOT_PRIVILEGED: 0xe00002c1,
  EXCLUSIVE_ACCESS: 0xe00002c5,
  NOT_PERMITTED: 0xe00002e2,
} as const;

type BackendFailure = 'gone' | 'permission' | 'busy' | 'no-memory';

/** The kind of failure from the OS error number in the text, or null when there is none. */
export function failureOfOsError(text: string): BackendFailure | null {
  const errno = /\(errno (\d+)\)/.exec(text);
  if (errno) {
    switch (Number(errno[1])) {
      case ERRNO.ENODEV:
      case ERRNO.ESHUTDOWN:
      case ERRNO.ENOENT:
        return 'gone';
      case ERRNO.EACCES:
      case ERRNO.EPERM:
        return 'permission';
      case ERRNO.EBUSY:
        return 'busy';
      case ERRNO.ENOMEM:
        return 'no-memory';
    }
    return null;
  }
  const ioReturn = /\(error 0x([0-9a-f]{8})\)/i.exec(text);
  if (ioReturn) {
    switch (Number.parseInt(ioReturn[1]!, 16)) {
      case IORETURN.NO_DEVICE:
        return 'gone';
      case IORETURN.NOT_PRIVILEGED:
      case IORETURN.NOT_PERMITTED:
        return 'permission';
      case IORETURN.EXCLUSIVE_ACCESS:
        return 'busy';
      case IORETURN.NO_MEMORY:
        return 'no-memory';
    }
  }
  return null;
}

/**
 * Turns a rejection of the `usb` package into the contract's thrown error. v3 has no libusb
 * inside and no numeric field on its errors: the number is the OS error nusb appends to the
 * text, mapped above. Without one, only nusb's and napi-rs's own fixed phrases are recognised.
 */
function backendError(err: unknown, action: string): UsbScsiError {
  const text = messageOf(err);
  const opts = { cause: err, details: { usbError: text } };
  const failure =
    failureOfOsError(text) ??
    (/\bdisconnected\b/i.test(text) ? 'gone' : /cannot be borrowed/i.test(text) ? 'borrowed' : null);
  switch (failure) {
    case 'gone':
      return new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `${action}: the device is gone (${text}); list devices and open it again.`,
        opts,
      );
    case 'permission':
      return new UsbScsiError(
        ErrorCodes.PERMISSION,
        `${action}: permission denied (${text}); run as root or add a udev rule giving your ` +
          `user rw access to the device.`,
        opts,
      );
    case 'borrowed':
      return new UsbScsiError(
        ErrorCodes.BUSY,
        `${action}: node-usb is running another call on this device (${text}); wait for it to settle.`,
        opts,
      );
    case 'busy':
      return new UsbScsiError(
        ErrorCodes.BUSY,
        `${action}: the interface is busy (${text}); another program or the kernel driver holds it.`,
        opts,
      );
    case 'no-memory':
      return new UsbScsiError(
        ErrorCodes.NO_MEMORY,
        `${action}: out of memory (${text}); on Linux check /sys/module/usbcore/parameters/usbfs_memory_mb.`,
        opts,
      );
    default:
      return new UsbScsiError(ErrorCodes.IO, `${action} failed: ${text}`, opts);
  }
}

function transferType(t: string): TransferType {
  return t === 'bulk' || t === 'interrupt' || t === 'isochronous' ? t : 'control';
}

function configurationsOf(dev: NusbDevice): ConfigurationDescriptor[] {
  let configs: NusbConfiguration[] = [];
  try {
    configs = dev.configurations ?? [];
  } catch {
    return [];
  }
  const active = (() => {
    try {
      return dev.configuration?.configurationValue;
    } catch {
      return undefined;
    }
  })();
  const mapped = configs.map((c) => ({
    configurationValue: c.configurationValue,
    interfaces: c.interfaces.flatMap((i) =>
      i.alternates.map((a) => ({
        interfaceNumber: i.interfaceNumber,
        alternateSetting: a.alternateSetting,
        interfaceClass: a.interfaceClass,
        interfaceSubClass: a.interfaceSubclass,
        interfaceProtocol: a.interfaceProtocol,
        endpoints: a.endpoints.map((e) => ({
          address: e.endpointNumber | (e.direction === 'in' ? 0x80 : 0),
          transferType: transferType(e.type),
          maxPacketSize: e.packetSize,
        })),
      })),
    ),
  }));
  return mapped.sort((a, b) => Number(b.configurationValue === active) - Number(a.configurationValue === active));
}

/** nusb's `bus` is the bus number as text on Linux ("3"); fall back to the digits it starts with. */
function busNumberOf(dev: NusbDevice): number {
  const n = Number.parseInt(String(dev.bus), 10);
  return Number.isFinite(n) ? n : 0;
}

function deviceId(dev: NusbDevice): string {
  return `${busNumberOf(dev)}-${dev.address}-${usbIdsOf(dev)}`;
}

interface PendingTransfer {
  settle(result: TransferResult): void;
  /** True when we (close or abort), not the timeout, cancelled it. */
  cancelledByUs: boolean;
}

export class NodeUsbHandle implements UsbDeviceHandle {
  readonly capabilities: UsbHandleCapabilities;
  #dead: string | null = null;
  /** Caller-visible transfers, one per endpoint address. */
  readonly #pending = new Map<number, PendingTransfer>();
  /** Native transfers still running per endpoint (also orphans of aborted calls). */
  readonly #running = new Map<number, Promise<unknown>>();
  /** Interfaces this handle claimed: close() releases them (see close). */
  readonly #claimed = new Set<number>();

  constructor(
    readonly info: UsbDeviceInfo,
    private readonly dev: NusbDevice,
    private readonly platform: NodeJS.Platform,
  ) {
    this.capabilities = { fdStreaming: false, kernelDriver: platform === 'linux', cancellableTransfers: false };
  }

  #alive(action: string): void {
    if (this.#dead)
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `${action}: the handle is ${this.#dead}; list devices and open it again.`,
      );
  }

  /**
   * node-usb (napi-rs) refuses a call that changes the device (claim, release,
   * alt setting, clear halt, detach, attach, reset, close) while a transfer
   * holds it ("cannot be borrowed mutably"), so those wait for the transfers in
   * flight; each ends by its own timeout at the latest.
   */
  async #quiesce(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    this.#alive('claimInterface');
    await this.#quiesce();
    try {
      await this.dev.claimInterface(interfaceNumber);
      this.#claimed.add(interfaceNumber);
    } catch (err) {
      if (this.platform === 'darwin') {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `claimInterface(${interfaceNumber}) failed: ${messageOf(err)}. ${MACOS_CLAIM_HINT}`,
          { cause: err, details: { usbError: messageOf(err) } },
        );
      }
      const e = backendError(err, `claimInterface(${interfaceNumber})`);
      if (e.code === ErrorCodes.BUSY || e.code === ErrorCodes.IO) {
        throw new UsbScsiError(
          ErrorCodes.BUSY,
          `claimInterface(${interfaceNumber}) failed: ${messageOf(err)}. Detach the kernel ` +
            `driver first, or another process holds the interface.`,
          { cause: err, details: e.details },
        );
      }
      throw e;
    }
    // No SET_INTERFACE here: some devices take it as a reset (the kernel's f_mass_storage raises a
    // UNIT ATTENTION). nusb assumes alternate setting 0 after a claim; BotTransport.open asks the
    // device (GET_INTERFACE) and selects the BOT setting only when another one is current.
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    this.#alive('releaseInterface');
    await this.#quiesce();
    try {
      await this.dev.releaseInterface(interfaceNumber);
      this.#claimed.delete(interfaceNumber);
    } catch (err) {
      throw backendError(err, `releaseInterface(${interfaceNumber})`);
    }
  }

  async setAlternateSetting(interfaceNumber: number, alternateSetting: number): Promise<void> {
    this.#alive('setAlternateSetting');
    await this.#quiesce();
    try {
      await this.dev.selectAlternateInterface(interfaceNumber, alternateSetting);
    } catch (err) {
      // Devices with a single alternate setting may stall SET_INTERFACE (the kernel ignores that too).
      if (/stall/i.test(messageOf(err)) && alternateSetting === 0) return;
      throw backendError(err, `setAlternateSetting(${interfaceNumber}, ${alternateSetting})`);
    }
  }

  /** Linux: read sysfs (node-usb has no call for it). Elsewhere the OS driver cannot be detached: false. */
  async kernelDriverActive(interfaceNumber: number): Promise<boolean> {
    this.#alive('kernelDriverActive');
    if (this.platform !== 'linux') return false;
    const base = `/sys/bus/usb/devices/${sysfsDeviceName(this.info)}`;
    let config = '1';
    try {
      config = (await readFile(`${base}/bConfigurationValue`, 'utf8')).trim() || '1';
    } catch {
      /* unconfigured or gone: the interface path below will not exist either */
    }
    try {
      await access(`${base}:${config}.${interfaceNumber}/driver`);
      return true;
    } catch {
      return false;
    }
  }

  async detachKernelDriver(interfaceNumber: number): Promise<void> {
    this.#alive('detachKernelDriver');
    await this.#quiesce();
    if (this.platform !== 'linux') return; // a no-op in node-usb too; claimInterface says what to do
    try {
      await this.dev.detachKernelDriver(interfaceNumber);
    } catch (err) {
      if (/no kernel driver/i.test(messageOf(err))) return;
      throw backendError(err, `detachKernelDriver(${interfaceNumber})`);
    }
  }

  async attachKernelDriver(interfaceNumber: number): Promise<void> {
    this.#alive('attachKernelDriver');
    await this.#quiesce();
    if (this.platform !== 'linux') return;
    try {
      await this.dev.attachKernelDriver(interfaceNumber);
    } catch (err) {
      if (/already attached/i.test(messageOf(err))) return;
      throw backendError(err, `attachKernelDriver(${interfaceNumber})`);
    }
  }

  async controlTransfer(setup: ControlSetup, data: Uint8Array | number, timeoutMs: number): Promise<ControlResult> {
    this.#alive('controlTransfer');
    checkTimeout(timeoutMs);
    const types = ['standard', 'class', 'vendor'] as const;
    const recipients = ['device', 'interface', 'endpoint', 'other'] as const;
    const requestType = types[(setup.requestType >> 5) & 3];
    const recipient = recipients[setup.requestType & 0x1f];
    if (!requestType || !recipient)
      throw badInput(
        `controlTransfer: bmRequestType 0x${setup.requestType.toString(16)} (reserved type ` +
          `or recipient) cannot be sent through node-usb.`,
      );
    const nusbSetup: NusbSetup = {
      requestType,
      recipient,
      request: setup.request,
      value: setup.value,
      index: setup.index,
    };
    const isIn = (setup.requestType & 0x80) !== 0;
    if (isIn !== (typeof data === 'number'))
      throw badInput('controlTransfer: pass a length for a device-to-host request and bytes for a host-to-device one.');
    try {
      if (typeof data === 'number') {
        const got = await this.dev.nativeControlTransferIn(nusbSetup, timeoutMs, data);
        if (!got) return { status: TransferStatus.STALL, actualLength: 0 };
        return { status: TransferStatus.OK, actualLength: got.length, data: got };
      }
      const sent = await this.dev.nativeControlTransferOut(nusbSetup, timeoutMs, data);
      return sent < 0
        ? { status: TransferStatus.STALL, actualLength: 0 }
        : { status: TransferStatus.OK, actualLength: sent };
    } catch (err) {
      const status = rawStatus(err);
      if (status !== null)
        return { status: status === TransferStatus.CANCELLED ? TransferStatus.TIMEOUT : status, actualLength: 0 };
      throw backendError(err, 'controlTransfer');
    }
  }

  bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    return this.#transfer(endpoint | 0x80, timeoutMs, signal, async () => {
      const got = await this.dev.nativeTransferIn(endpoint & 0x0f, timeoutMs, buffer.length);
      if (!got) return { status: TransferStatus.STALL, actualLength: 0 };
      const n = Math.min(got.length, buffer.length);
      buffer.set(got.subarray(0, n));
      return { status: TransferStatus.OK, actualLength: n };
    });
  }

  bulkOut(endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    return this.#transfer(endpoint & 0x7f, timeoutMs, signal, async () => {
      const sent = await this.dev.nativeTransferOut(endpoint & 0x0f, timeoutMs, data);
      return sent < 0
        ? { status: TransferStatus.STALL, actualLength: 0 }
        : { status: TransferStatus.OK, actualLength: sent };
    });
  }

  async #transfer(
    address: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    run: () => Promise<TransferResult>,
  ): Promise<TransferResult> {
    this.#alive(address & 0x80 ? 'bulkIn' : 'bulkOut');
    checkTimeout(timeoutMs);
    if (this.#pending.has(address)) {
      throw badInput(
        `A transfer on endpoint 0x${address.toString(16)} is already pending; node-usb allows ` +
          `one at a time per endpoint. Wait for it to settle.`,
      );
    }
    if (signal?.aborted) return { status: TransferStatus.CANCELLED, actualLength: 0 };
    return new Promise<TransferResult>((resolve, reject) => {
      const pending: PendingTransfer = {
        cancelledByUs: false,
        settle: (r) => {
          if (this.#pending.get(address) !== pending) return;
          this.#pending.delete(address);
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      const onAbort = () => {
        pending.cancelledByUs = true;
        pending.settle({ status: TransferStatus.CANCELLED, actualLength: 0 });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(address, pending);
      // An orphan of an aborted call may still hold the endpoint: start after it ends.
      const before = this.#running.get(address) ?? Promise.resolve();
      const native = before.then(run).then(
        (r) => pending.settle(r),
        (err: unknown) => {
          const status = rawStatus(err);
          if (status === TransferStatus.CANCELLED) {
            pending.settle({
              status: pending.cancelledByUs ? TransferStatus.CANCELLED : TransferStatus.TIMEOUT,
              actualLength: 0,
            });
          } else if (status !== null) {
            pending.settle({ status, actualLength: 0 });
          } else if (this.#pending.get(address) === pending) {
            this.#pending.delete(address);
            signal?.removeEventListener('abort', onAbort);
            reject(backendError(err, `transfer on endpoint 0x${address.toString(16)}`));
          }
        },
      );
      const tracked = native.finally(() => {
        if (this.#running.get(address) === tracked) this.#running.delete(address);
      });
      this.#running.set(address, tracked);
    });
  }

  /** Core's generic exchange: node-usb runs one transfer at a time per endpoint, so there is no faster one. */
  botExchange(request: BotExchangeRequest): Promise<BotExchangeResult> {
    return genericBotExchange(this, request);
  }

  async clearHalt(endpoint: number): Promise<void> {
    this.#alive('clearHalt');
    await this.#quiesce();
    try {
      await this.dev.clearHalt(endpoint & 0x80 ? 'in' : 'out', endpoint & 0x0f);
    } catch (err) {
      throw backendError(err, `clearHalt(0x${endpoint.toString(16)})`);
    }
  }

  async resetDevice(): Promise<void> {
    this.#alive('resetDevice');
    this.#cancelAll();
    await this.#quiesce();
    try {
      await this.dev.reset();
    } catch (err) {
      // nusb reports the re-enumeration that follows a reset as a disconnect: the reset did happen.
      if (backendError(err, 'reset').code !== ErrorCodes.DEVICE_GONE) throw backendError(err, 'resetDevice');
    } finally {
      this.#dead = 'dead after a port reset';
      await this.dev.close().catch(() => undefined);
    }
  }

  #cancelAll(): void {
    for (const p of [...this.#pending.values()]) {
      p.cancelledByUs = true;
      p.settle({ status: TransferStatus.CANCELLED, actualLength: 0 });
    }
  }

  async close(): Promise<void> {
    if (this.#dead && this.#dead !== 'dead after a port reset') return;
    const wasDead = this.#dead !== null;
    this.#dead = 'closed';
    this.#cancelAll();
    await this.#quiesce();
    if (wasDead) return;
    // Release explicitly: closing with an interface still claimed left it held by usbfs in the
    // VM (node-usb frees it only when the object is garbage-collected), so the kernel driver
    // could not be re-attached from another handle.
    for (const n of [...this.#claimed]) {
      await this.dev.releaseInterface(n).catch(() => undefined);
      this.#claimed.delete(n);
    }
    await this.dev.close().catch(() => undefined);
  }
}

function checkTimeout(timeoutMs: number): void {
  // node-usb reads a timeout of 0 as "cancel at once", not "forever".
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1)
    throw badInput(`timeoutMs must be a positive number of milliseconds (got ${timeoutMs}).`);
}

/** The raw transfer outcomes that node-usb reports as rejections. */
function rawStatus(err: unknown): TransferStatus | null {
  const text = messageOf(err);
  if (/stall/i.test(text)) return TransferStatus.STALL;
  if (/cancel/i.test(text)) return TransferStatus.CANCELLED;
  if (/overflow|babble/i.test(text)) return TransferStatus.OVERFLOW;
  return null;
}

export class NodeUsbBackend implements UsbBackend {
  readonly name = 'node-usb';

  constructor(
    private readonly binding: NusbBinding,
    private readonly storageBindings: StorageBindingsFn | null,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  async list(): Promise<UsbDeviceInfo[]> {
    let devices: NusbDevice[];
    try {
      devices = await this.binding.nativeGetDevices();
    } catch (err) {
      // A machine or container without a USB subsystem has no devices; that is not a failure.
      if (/\/sys\/bus\/usb\/devices\/? not found/.test(messageOf(err))) return [];
      throw backendError(err, 'listing USB devices');
    }
    return Promise.all(devices.map((d) => this.#infoOf(d)));
  }

  async #infoOf(dev: NusbDevice): Promise<UsbDeviceInfo> {
    const info: UsbDeviceInfo = {
      backend: this.name,
      id: deviceId(dev),
      vendorId: dev.vendorId,
      productId: dev.productId,
      busNumber: busNumberOf(dev),
      deviceAddress: dev.address,
      portNumbers: [...(dev.ports ?? [])],
      speed: SPEEDS[dev.speed ?? ''] ?? 'unknown',
      configurations: configurationsOf(dev),
    };
    const strings = { manufacturer: dev.manufacturerName, product: dev.productName, serialNumber: dev.serialNumber };
    for (const [k, v] of Object.entries(strings)) if (v) (info as unknown as Record<string, string>)[k] = v;
    return attachStorageBindings(info, this.storageBindings);
  }

  async open(device: UsbDeviceInfo): Promise<UsbDeviceHandle> {
    let devices: NusbDevice[];
    try {
      devices = await this.binding.nativeGetDevices();
    } catch (err) {
      throw backendError(err, 'listing USB devices');
    }
    const dev = devices.find((d) => deviceId(d) === device.id);
    if (!dev)
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `USB device ${device.id} is no longer present; list devices again.`,
      );
    try {
      await dev.open();
    } catch (err) {
      throw backendError(err, `opening USB device ${device.id}`);
    }
    return new NodeUsbHandle(await this.#infoOf(dev), dev, this.platform);
  }
}

export type NodeUsbLoadResult = { backend: NodeUsbBackend; reason?: undefined } | { backend: null; reason: string };

/** Loads the `usb` package; on failure returns `backend: null` with the reason (never throws). */
export async function loadNodeUsbBackend(): Promise<NodeUsbLoadResult> {
  let binding: NusbBinding;
  try {
    // `usb` is an optional dependency: a string-typed specifier keeps the build from needing its types.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- see the line above
    const mod = (await import('usb/index.js' as string)) as { default?: NusbBinding } & Partial<NusbBinding>;
    const b = (mod.default ?? mod) as Partial<NusbBinding>;
    if (typeof b.nativeGetDevices !== 'function')
      return { backend: null, reason: 'the `usb` package loaded but has no nativeGetDevices (not v3?)' };
    binding = b as NusbBinding;
  } catch (err) {
    return { backend: null, reason: `the \`usb\` package (v3) could not be loaded: ${messageOf(err)}` };
  }
  return { backend: new NodeUsbBackend(binding, await loadStorageBindings()) };
}
