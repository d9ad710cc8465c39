import { hex } from '@usbscsi/core';
import type { Logger } from 'pino';
import { DeviceSlot } from './device-slot.js';
import { notFound } from './errors.js';
import type { EventHub } from './events.js';
import type { DeviceChange, DeviceProvider, DeviceSummary, ListedDevice } from './provider.js';

export interface RegistryOptions {
  /** How long an unleased device stays open after its last command. */
  idleCloseMs: number;
  /** Poll interval for providers without hotplug notifications. */
  pollMs: number;
  /** Commands queued or running per device before new ones are refused (503). */
  maxQueueDepth: number;
}

/** The devices the daemon serves, kept current from hotplug events or by polling `list()`. */
export class DeviceRegistry {
  private readonly slots = new Map<string, DeviceSlot>();
  /** What `list()` said tells each slot's attachment from the next one at its id (ListedDevice). */
  private readonly attachments = new WeakMap<DeviceSlot, string | undefined>();
  private stopWatching: (() => void) | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** Called when a device leaves (the lease manager ends its lease). */
  onDeviceLeft: (slot: DeviceSlot) => void = () => {};

  constructor(
    private readonly provider: DeviceProvider,
    private readonly events: EventHub,
    private readonly log: Logger,
    private readonly options: RegistryOptions,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    if (this.provider.watch) {
      this.stopWatching = this.provider.watch((change) => this.apply(change));
    } else {
      this.pollTimer = setInterval(
        () => void this.refresh().catch((err: unknown) => this.log.warn({ err }, 'device poll failed')),
        this.options.pollMs,
      );
      this.pollTimer.unref();
    }
  }

  stop(): void {
    this.stopWatching?.();
    if (this.pollTimer) clearInterval(this.pollTimer);
  }

  all(): DeviceSlot[] {
    return [...this.slots.values()];
  }

  get(id: string): DeviceSlot {
    const slot = this.slots.get(id);
    if (!slot)
      throw notFound(`no device with id ${id}; GET /v1/devices lists the ids`, { id, known: [...this.slots.keys()] });
    return slot;
  }

  /** Re-lists the provider's devices and applies the differences. Concurrent calls share one listing. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const listed = new Map((await this.provider.list()).map((d) => [d.id, d]));
    for (const slot of [...this.slots.values()]) {
      const now = listed.get(slot.id);
      if (!now) this.apply({ type: 'left', device: slot.view() });
      // Another device at the same id since the last listing (swapped between two polls, or
      // re-enumerated as something else after a firmware download): the one the slot stood
      // for left, and its lease with it. Commands for it must not reach the new one.
      else if (replaced(slot.summary, this.attachments.get(slot), now))
        slot.markGone('replaced by another device at the same port');
    }
    for (const { attachment, ...device } of listed.values())
      if (!this.slots.has(device.id)) this.apply({ type: 'arrived', device }, attachment);
  }

  private apply(change: DeviceChange, attachment?: string): void {
    const existing = this.slots.get(change.device.id);
    if (change.type === 'arrived') {
      if (existing && !existing.gone) return;
      const slot = new DeviceSlot(
        change.device,
        this.provider,
        { idleCloseMs: this.options.idleCloseMs, maxQueueDepth: this.options.maxQueueDepth },
        this.log,
        (s) => this.remove(s),
      );
      this.slots.set(slot.id, slot);
      this.attachments.set(slot, attachment);
      this.log.info(
        { device: slot.id, vid: hex(slot.summary.vendorId, 4), pid: hex(slot.summary.productId, 4) },
        'device arrived',
      );
      this.events.emit({ type: 'device-arrived', device: slot.view() });
    } else if (existing) {
      existing.markGone('unplugged'); // calls remove()
    }
  }

  private remove(slot: DeviceSlot): void {
    if (this.slots.get(slot.id) !== slot) return;
    this.slots.delete(slot.id);
    this.log.info({ device: slot.id }, 'device left');
    this.onDeviceLeft(slot);
    this.events.emit({ type: 'device-left', device: slot.view() });
  }
}

export type { DeviceSummary };

/**
 * Whether the device listed at a slot's id is another one than the slot's: a new attachment where
 * the provider tells them apart, else other vendor or product ids, or another serial number where
 * both listings have one (a string the backend could not read this time is not a difference).
 */
function replaced(was: DeviceSummary, attachment: string | undefined, now: ListedDevice): boolean {
  if (attachment !== undefined && now.attachment !== undefined && attachment !== now.attachment) return true;
  if (was.vendorId !== now.vendorId || was.productId !== now.productId) return true;
  return was.serialNumber !== undefined && now.serialNumber !== undefined && was.serialNumber !== now.serialNumber;
}
