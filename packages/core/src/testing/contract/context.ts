/**
 * The per-case context: opens the device under test raw (claimed handle) or through
 * BotTransport, remembers what to give back, and gives it back however the case ended.
 */
import { BotTransport, type BotTransportOptions } from '../../bot/bot-transport.js';
import { UasTransport, type UasTransportOptions } from '../../uas/uas-transport.js';
import type { InterfaceDescriptor, UsbDeviceHandle, UsbDeviceInfo } from '../../usb/backend.js';
import {
  ContractSkip,
  type ContractCase,
  type ContractEnv,
  type ContractFault,
  type DeviceCounters,
  type ProgrammableDevice,
} from './env.js';

export interface RawTarget {
  info: UsbDeviceInfo;
  handle: UsbDeviceHandle;
  interfaceNumber: number;
  inEp: number;
  outEp: number;
}

export function botAlternate(info: UsbDeviceInfo): InterfaceDescriptor | undefined {
  return info.configurations[0]?.interfaces.find(
    (i) => i.interfaceClass === 0x08 && i.interfaceSubClass === 0x06 && i.interfaceProtocol === 0x50,
  );
}

export function uasAlternate(info: UsbDeviceInfo): InterfaceDescriptor | undefined {
  return info.configurations[0]?.interfaces.find(
    (i) => i.interfaceClass === 0x08 && i.interfaceSubClass === 0x06 && i.interfaceProtocol === 0x62,
  );
}

export class CaseContext {
  readonly timeoutMs: number;
  private readonly undo: (() => Promise<void>)[] = [];
  private opened = false;

  constructor(readonly env: ContractEnv) {
    this.timeoutMs = env.timeoutMs ?? 5000;
  }

  skip(reason: string): never {
    throw new ContractSkip(reason);
  }

  select(devices: UsbDeviceInfo[]): UsbDeviceInfo | undefined {
    return (this.env.select ?? ((all: UsbDeviceInfo[]) => all.find((d) => botAlternate(d))))(devices);
  }

  async findDevice(): Promise<UsbDeviceInfo> {
    const devices = await this.env.backend.list();
    const info = this.select(devices);
    if (!info)
      throw new Error(
        `no BOT mass-storage device (08/06/50) among the ${devices.length} devices ${this.env.name} lists`,
      );
    return info;
  }

  /** Opens and claims the BOT interface, detaching a kernel driver (given back after the case). */
  async openRaw(): Promise<RawTarget> {
    const info = await this.findDevice();
    const alt = botAlternate(info)!;
    const inEp = alt.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) !== 0)!.address;
    const outEp = alt.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) === 0)!.address;
    const handle = await this.env.backend.open(info);
    this.opened = true;
    let detached = false;
    // One step: the kernel driver can only be given back once this handle has let go.
    this.undo.push(async () => {
      await handle.close().catch(() => undefined);
      if (detached) await this.giveBack(info, alt.interfaceNumber);
    });
    if ((this.env.detachKernelDriver ?? true) && (await handle.kernelDriverActive(alt.interfaceNumber))) {
      await handle.detachKernelDriver(alt.interfaceNumber);
      detached = true;
    }
    await handle.claimInterface(alt.interfaceNumber);
    await handle.setAlternateSetting(alt.interfaceNumber, alt.alternateSetting);
    return { info, handle, interfaceNumber: alt.interfaceNumber, inEp, outEp };
  }

  /** BotTransport over a fresh handle (kernel driver detached and re-attached at close). */
  async openBot(options: BotTransportOptions = {}): Promise<BotTransport> {
    const info = await this.findDevice();
    const handle = await this.env.backend.open(info);
    this.opened = true;
    let transport: BotTransport;
    try {
      transport = await BotTransport.open(handle, {
        detachKernelDriver: this.env.detachKernelDriver ?? true,
        ...options,
      });
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.undo.push(() => transport.close().catch(() => undefined));
    return transport;
  }

  /**
   * UasTransport over a fresh handle on the first device with a UAS alternate setting (or the
   * env's `select`), with the env's UAS options under `options`; kernel driver given back at close.
   */
  async openUas(options: UasTransportOptions = {}): Promise<UasTransport> {
    const devices = await this.env.backend.list();
    const info = (this.env.select ?? ((all: UsbDeviceInfo[]) => all.find((d) => uasAlternate(d))))(devices);
    if (!info) throw new Error(`no UAS device (08/06/62) among the ${devices.length} devices ${this.env.name} lists`);
    const handle = await this.env.backend.open(info);
    this.opened = true;
    let transport: UasTransport;
    try {
      transport = await UasTransport.open(handle, {
        detachKernelDriver: this.env.detachKernelDriver ?? true,
        ...this.env.uas,
        ...options,
      });
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.undo.push(() => transport.close().catch(() => undefined));
    return transport;
  }

  get device(): ProgrammableDevice {
    if (typeof this.env.device === 'string') this.skip(this.env.device);
    return this.env.device;
  }

  inject(fault: ContractFault): Promise<void> {
    return this.device.inject(fault);
  }

  counters(): Promise<DeviceCounters> {
    return this.device.counters();
  }

  /** Counters when the device counts, else null (the check that needs them is left out). */
  async countersIfAny(): Promise<DeviceCounters | null> {
    return typeof this.env.device === 'string' ? null : this.env.device.counters();
  }

  /** Gives back everything the case took, newest first. */
  async cleanup(): Promise<void> {
    for (const step of this.undo.splice(0).reverse()) await step();
    if (this.opened) await this.env.afterCase?.();
  }

  /** The kernel driver back on the interface, through a fresh handle (the case's may be closed). */
  private async giveBack(before: UsbDeviceInfo, interfaceNumber: number): Promise<void> {
    const all = await this.env.backend.list();
    const again = all.find((d) => d.id === before.id) ?? this.select(all);
    if (!again) return;
    const h = await this.env.backend.open(again);
    try {
      await h.claimInterface(interfaceNumber).catch(() => undefined);
      await h.releaseInterface(interfaceNumber).catch(() => undefined);
      await h.attachKernelDriver(interfaceNumber).catch(() => undefined);
    } finally {
      await h.close().catch(() => undefined);
    }
  }
}

/** Runs one case: `{ skipped }` with the reason, or throws its failure. Always cleans up. */
export async function runContractCase(c: ContractCase, env: ContractEnv): Promise<{ skipped?: string }> {
  const ctx = new CaseContext(env);
  try {
    await c.run(ctx);
    return {};
  } catch (err) {
    if (err instanceof ContractSkip) return { skipped: err.reason };
    throw err;
  } finally {
    await ctx.cleanup();
  }
}
