import {
  UsbScsiError,
  badInput,
  locationOf,
  type ControlSetup,
  type MountInfo,
  type StorageBinding,
  type UsbDeviceInfo,
  type UsbSpeed,
} from '@usbscsi/core';
import { BotDevice } from '../bot/bot-device.js';
import type { BotDeviceStats, ControlOutcome } from '../bot/types.js';
import { FaultInjector } from '../faults.js';
import { UAS_PIPES, UasDevice } from '../uas/uas-device.js';
import { Sense } from '../scsi/sense.js';
import { attachNvmeBridge, type AttachedBridge, type NvmeBridgeModelOptions } from '../nvme/index.js';
import type { LogicalUnit } from '../scsi/lun.js';
import {
  ScsiTarget,
  type TargetOptions,
  type VendorCommandHandler,
  type VendorCommandOptions,
} from '../scsi/target.js';
import {
  bulkMaxPacket,
  configurationDescriptorBytes,
  configurationFor,
  deviceDescriptorBytes,
  stringDescriptorBytes,
  type InterfaceLayout,
} from './descriptors.js';

export interface SimulatedStorageOptions {
  scsiHost?: string;
  blockDevices?: string[];
  sgDevices?: string[];
  mounts?: MountInfo[];
}

export interface SimulatedDeviceOptions extends TargetOptions {
  vendorId?: number;
  productId?: number;
  /** USB string descriptors (the INQUIRY strings are `vendor` / `product` / `revision`). */
  manufacturerString?: string;
  productString?: string;
  /** USB iSerialNumber (default: the INQUIRY `serial`). */
  serialNumber?: string;
  busNumber?: number;
  portNumbers?: number[];
  /** Default: a fresh address per plug-in. */
  deviceAddress?: number;
  /** `high` (512-byte bulk packets, default) or `super` (1024). */
  speed?: UsbSpeed;
  /** `bot` (default), `bot+uas` (UAS bridge: BOT alt 0, UAS alt 1), `uas-only` (no BOT alternate). */
  interfaces?: InterfaceLayout;
  /** A simulated kernel driver bound to interface 0 at plug-in (`usb-storage`); default none. */
  kernelDriver?: string | null;
  /** Block devices, sg nodes and mounts the simulated OS shows while the kernel driver is bound. */
  storage?: SimulatedStorageOptions;
  /** Always stall bulk-in on Hi > Di instead of ending with a short packet. */
  stallOnShortDataIn?: boolean;
  /**
   * SET_INTERFACE resets the function and raises UNIT ATTENTION 06/29/00 (POWER ON, RESET, OR
   * BUS DEVICE RESET OCCURRED) on every LUN, even for the setting already current: what the
   * Linux gadget `f_mass_storage` does (do_set_interface). Default false.
   */
  setInterfaceResets?: boolean;
  /** A USB-NVMe bridge model (JMicron, ASMedia, Realtek) in front of a simulated NVMe controller. */
  nvmeBridge?: NvmeBridgeModelOptions;
  /** After a bridge hazard drops the device, it re-enumerates this many ms later (default 50). */
  bridgeReconnectMs?: number;
  /**
   * UAS: milliseconds before the target runs each command (default none), to hold several
   * outstanding or make them complete out of order.
   */
  uasCommandDelayMs?: (cdb: Uint8Array, tag: number) => number;
}

let nextAddress = 2;

/**
 * One simulated USB mass-storage device: descriptors, a simulated kernel
 * driver, plug state, and the BOT device + SCSI target behind interface 0.
 */
export class SimulatedDevice {
  readonly target: ScsiTarget;
  readonly bot: BotDevice;
  /** The UAS function (alternate setting 1 of `bot+uas`, 0 of `uas-only`); idle on `bot` devices. */
  readonly uas: UasDevice;
  readonly faults: FaultInjector;
  /** The NVMe bridge model and its controller, when the device is one. */
  readonly nvme: AttachedBridge | null;
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber: string;
  readonly manufacturerString: string;
  readonly productString: string;
  readonly busNumber: number;
  readonly portNumbers: number[];
  readonly speed: UsbSpeed;
  readonly layout: InterfaceLayout;
  /** The driver a re-attach binds (null: none exists). */
  readonly kernelDriverName: string | null;
  /** Currently bound kernel driver. */
  kernelDriver: string | null;
  /** What the simulated OS shows while the driver is bound; edit `mounts` in tests. */
  readonly storage: Required<SimulatedStorageOptions> | null;
  /** Mounted filesystems that vanished because the driver was detached under them. */
  forcedUnmounts: MountInfo[] = [];
  deviceAddress: number;
  connected = true;
  /** Changes on unplug, replug and port reset: handles from before are dead. */
  generation = 0;
  /** Which open handle holds interface 0 (null: nobody). */
  claimedBy: object | null = null;
  /**
   * The alternate setting of interface 0 the device is in (SET_INTERFACE changes it; re-plug and port reset clear it).
   */
  alternateSetting = 0;
  /** Standard interface requests seen on ep0. */
  readonly interfaceRequests = { setInterface: 0, getInterface: 0 };
  private readonly setInterfaceResets: boolean;
  private readonly fixedAddress: number | undefined;
  private readonly goneListeners = new Set<() => void>();
  private readonly plugListeners = new Set<(plugged: boolean) => void>();

  constructor(options: SimulatedDeviceOptions = {}) {
    this.vendorId = checkU16(options.vendorId ?? 0x1d6b, 'vendorId');
    this.productId = checkU16(options.productId ?? 0x0104, 'productId');
    this.target = new ScsiTarget(options);
    const reconnectMs = options.bridgeReconnectMs ?? 50;
    this.nvme = options.nvmeBridge
      ? attachNvmeBridge(this.target, options.nvmeBridge, {
          // The bridge resets its port: it leaves the bus now and comes back re-enumerated.
          disconnect: () =>
            setImmediate(() => {
              this.unplug();
              setTimeout(() => this.replug(), reconnectMs).unref?.();
            }),
        })
      : null;
    this.serialNumber = options.serialNumber ?? this.target.identity.serial;
    this.manufacturerString = options.manufacturerString ?? 'usbscsi';
    this.productString = options.productString ?? 'Simulated Disk';
    this.busNumber = options.busNumber ?? 1;
    this.portNumbers = options.portNumbers ?? [1];
    this.speed = options.speed ?? 'high';
    this.layout = options.interfaces ?? 'bot';
    this.kernelDriverName = options.kernelDriver ?? null;
    this.kernelDriver = this.kernelDriverName;
    this.storage = options.storage
      ? {
          scsiHost: options.storage.scsiHost ?? 'host9',
          blockDevices: options.storage.blockDevices ?? [],
          sgDevices: options.storage.sgDevices ?? [],
          mounts: options.storage.mounts ?? [],
        }
      : null;
    this.setInterfaceResets = options.setInterfaceResets ?? false;
    this.fixedAddress = options.deviceAddress;
    this.deviceAddress = options.deviceAddress ?? nextAddress++;
    this.faults = new FaultInjector();
    this.bot = new BotDevice({
      target: this.target,
      faults: this.faults,
      maxPacketSize: bulkMaxPacket(this.speed),
      ...(options.stallOnShortDataIn === undefined ? {} : { stallOnShortDataIn: options.stallOnShortDataIn }),
      onDisconnectRequest: () => this.unplug(),
    });
    const superSpeed = this.speed === 'super' || this.speed === 'super-plus';
    this.uas = new UasDevice({
      target: this.target,
      faults: this.faults,
      streams: superSpeed && this.layout !== 'bot' ? 16 : 0,
      ...(options.uasCommandDelayMs ? { commandDelayMs: options.uasCommandDelayMs } : {}),
    });
    // New microcode that re-enumerates: the activating command's CSW goes out first, then the
    // device drops off the bus and comes back (fresh address, new revision) after `ms`.
    this.target.onReenumerate = (ms) => {
      setTimeout(() => {
        this.unplug();
        setTimeout(() => this.replug(), ms);
      }, 20);
    };
  }

  get id(): string {
    return `emulator:${locationOf(this)}@${this.deviceAddress}`;
  }

  get stats(): BotDeviceStats {
    return this.bot.stats;
  }
  resetStats(): void {
    this.bot.resetStats();
  }

  lun(index: number): LogicalUnit {
    return this.target.unit(index);
  }

  /** Registers a vendor command handler (overrides a built-in). Returns an unregister function. */
  onCommand(opcode: number, handler: VendorCommandHandler, options?: VendorCommandOptions): () => void {
    return this.target.onCommand(opcode, handler, options);
  }

  info(): UsbDeviceInfo {
    const info: UsbDeviceInfo = {
      backend: 'emulator',
      id: this.id,
      vendorId: this.vendorId,
      productId: this.productId,
      manufacturer: this.manufacturerString,
      product: this.productString,
      serialNumber: this.serialNumber,
      busNumber: this.busNumber,
      deviceAddress: this.deviceAddress,
      portNumbers: [...this.portNumbers],
      speed: this.speed,
      configurations: [configurationFor(this.layout, this.speed)],
    };
    if (this.storage) info.storage = [this.storageBinding()];
    return info;
  }

  private storageBinding(): StorageBinding {
    const bound = this.kernelDriver !== null && this.storage;
    return {
      interfaceNumber: 0,
      driver: this.kernelDriver,
      ...(bound && this.storage ? { scsiHost: this.storage.scsiHost } : {}),
      blockDevices: bound && this.storage ? [...this.storage.blockDevices] : [],
      sgDevices: bound && this.storage ? [...this.storage.sgDevices] : [],
      mounts: bound && this.storage ? this.storage.mounts.map((m) => ({ ...m })) : [],
    };
  }

  /** Simulated kernel driver unbinding; mounted filesystems go with it (recorded in `forcedUnmounts`). */
  detachDriver(): void {
    if (this.kernelDriver === null) return;
    if (this.storage?.mounts.length) {
      this.forcedUnmounts.push(...this.storage.mounts);
      this.storage.mounts.length = 0;
    }
    this.kernelDriver = null;
  }

  attachDriver(): void {
    if (this.kernelDriverName === null)
      throw new UsbScsiError(
        'E_UNSUPPORTED',
        `simulated device ${this.id} has no kernel driver to attach (create it with kernelDriver: 'usb-storage')`,
      );
    this.kernelDriver = this.kernelDriverName;
  }

  /**
   * ep0 requests: standard descriptors here, the BOT interface's and endpoints' requests in {@link BotDevice.control}.
   */
  async control(setup: ControlSetup, data: Uint8Array | number): Promise<ControlOutcome> {
    const length = typeof data === 'number' ? data : data.length;
    if (setup.requestType === 0x80 && setup.request === 0x06) {
      const type = setup.value >> 8;
      const index = setup.value & 0xff;
      const bytes =
        type === 1
          ? deviceDescriptorBytes(this.vendorId, this.productId, this.speed)
          : type === 2 && index === 0
            ? configurationDescriptorBytes(configurationFor(this.layout, this.speed), this.speed)
            : type === 3
              ? stringDescriptorBytes(index, {
                  manufacturer: this.manufacturerString,
                  product: this.productString,
                  serialNumber: this.serialNumber,
                })
              : null;
      return bytes ? { status: 'ok', data: bytes.subarray(0, length) } : { status: 'stall' };
    }
    if (setup.requestType === 0x80 && setup.request === 0x08)
      return { status: 'ok', data: Uint8Array.of(1).subarray(0, length) }; // GET_CONFIGURATION
    if (setup.requestType === 0x80 && setup.request === 0x00)
      return { status: 'ok', data: Uint8Array.of(0, 0).subarray(0, length) }; // GET_STATUS (device)
    if (setup.requestType === 0x00 && setup.request === 0x09) return { status: 'ok' }; // SET_CONFIGURATION
    if (setup.requestType === 0x01 && setup.request === 0x0b) return this.setInterface(setup.index, setup.value);
    if (setup.requestType === 0x81 && setup.request === 0x0a) {
      this.interfaceRequests.getInterface++;
      return setup.index === 0
        ? { status: 'ok', data: Uint8Array.of(this.alternateSetting).subarray(0, length) }
        : { status: 'stall' };
    }
    // CLEAR_FEATURE(ENDPOINT_HALT) on a UAS pipe: the emulated UAS function never halts one.
    if (setup.requestType === 0x02 && setup.request === 0x01 && Object.values(UAS_PIPES).includes(setup.index as never))
      return this.layout === 'bot' ? { status: 'stall' } : { status: 'ok' };
    // no BOT class requests on UAS
    if (this.layout === 'uas-only' && (setup.requestType & 0x60) === 0x20) return { status: 'stall' };
    return this.bot.control(setup, data);
  }

  private setInterface(interfaceNumber: number, alternateSetting: number): ControlOutcome {
    this.interfaceRequests.setInterface++;
    const exists = configurationFor(this.layout, this.speed).interfaces.some(
      (i) => i.interfaceNumber === interfaceNumber && i.alternateSetting === alternateSetting,
    );
    if (!exists) return { status: 'stall' };
    this.alternateSetting = alternateSetting;
    this.uas.powerOn();
    if (this.setInterfaceResets) {
      this.bot.powerOn();
      for (const unit of this.target.units) unit.unitAttention = Sense.powerOnOrReset();
    }
    return { status: 'ok' };
  }

  /** Drops off the bus: every handle's pending and later calls fail with E_DEVICE_GONE. */
  unplug(): void {
    if (!this.connected) return;
    this.connected = false;
    this.generation++;
    this.claimedBy = null;
    for (const l of [...this.goneListeners]) l();
    for (const l of [...this.plugListeners]) l(false);
  }

  /** Plugs back in (power-on state: fresh address, kernel driver rebound, BOT idle; media kept). */
  replug(): void {
    if (this.connected) this.unplug();
    this.deviceAddress = this.fixedAddress ?? nextAddress++;
    this.kernelDriver = this.kernelDriverName;
    this.alternateSetting = 0;
    this.bot.powerOn();
    this.uas.powerOn();
    this.target.firmwareState?.powerOn();
    this.connected = true;
    for (const l of [...this.plugListeners]) l(true);
  }

  /** USB port reset from a host handle: the device re-enumerates at the same address; open handles die. */
  portReset(): void {
    this.generation++;
    this.claimedBy = null;
    this.alternateSetting = 0;
    this.bot.portReset();
    this.uas.powerOn();
    for (const l of [...this.goneListeners]) l();
  }

  /** @internal handles learn here that they are dead. */
  onGone(listener: () => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }
  /** @internal the backend's hotplug events. */
  onPlug(listener: (plugged: boolean) => void): () => void {
    this.plugListeners.add(listener);
    return () => this.plugListeners.delete(listener);
  }
}

function checkU16(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff)
    throw badInput(`${name} ${value} is not a 16-bit number`);
  return value;
}
