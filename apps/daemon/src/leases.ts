import { randomUUID } from 'node:crypto';
import { badInput, ErrorCodes, UsbScsiError } from '@usbscsi/core';
import type { Logger } from 'pino';
import type { DeviceSlot } from './device-slot.js';
import { busy, notFound } from './errors.js';
import type { EventHub, LeaseEndReason, LeaseView } from './events.js';

export interface LeaseRequest {
  /** Hard limit on the lease's life. */
  ttlMs?: number;
  /** The lease ends (and the device goes back to the OS) after this long without a command. */
  idleTimeoutMs?: number;
  /** Free text naming the client (shown to others in /v1/devices and E_BUSY details). */
  holder?: string;
}

export interface LeaseLimits {
  defaultTtlMs: number;
  maxTtlMs: number;
  defaultIdleTimeoutMs: number;
}

class DaemonLease {
  lastUsed = Date.now();
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly id: string,
    readonly slot: DeviceSlot,
    readonly holder: string,
    readonly createdAt: number,
    readonly expiresAt: number,
    readonly idleTimeoutMs: number,
  ) {}

  touch(): void {
    this.lastUsed = Date.now();
  }

  view(): LeaseView {
    return {
      id: this.id, deviceId: this.slot.id, holder: this.holder,
      createdAt: new Date(this.createdAt).toISOString(), expiresAt: new Date(this.expiresAt).toISOString(), idleTimeoutMs: this.idleTimeoutMs,
    };
  }
}

/**
 * Exclusive leases on devices. While a lease is held the device stays open
 * (taken from the OS) and only requests carrying the lease id run on it;
 * when the lease ends — released, TTL spent, idle too long, device gone,
 * shutdown — the device is closed and so handed back to the OS.
 */
export class LeaseManager {
  private readonly leases = new Map<string, DaemonLease>();

  constructor(private readonly events: EventHub, private readonly log: Logger, private readonly limits: LeaseLimits) {}

  get count(): number {
    return this.leases.size;
  }

  list(): LeaseView[] {
    return [...this.leases.values()].map((l) => l.view());
  }

  async acquire(slot: DeviceSlot, request: LeaseRequest, signal?: AbortSignal): Promise<LeaseView> {
    const ttlMs = request.ttlMs ?? this.limits.defaultTtlMs;
    const idleTimeoutMs = request.idleTimeoutMs ?? this.limits.defaultIdleTimeoutMs;
    if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > this.limits.maxTtlMs)
      throw badInput(`ttlMs must be an integer from 1 to ${this.limits.maxTtlMs}`, { ttlMs });
    if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 1 || idleTimeoutMs > ttlMs)
      throw badInput('idleTimeoutMs must be an integer from 1 to ttlMs', { idleTimeoutMs, ttlMs });
    const holder = (request.holder ?? 'anonymous').slice(0, 200);
    if (slot.lease) throw busy(`device ${slot.id} is already leased by ${slot.lease.holder}`, { holder: slot.lease.holder });
    const now = Date.now();
    const lease = new DaemonLease(randomUUID(), slot, holder, now, now + ttlMs, idleTimeoutMs);
    // Claimed at once so later requests without the id are refused; the open
    // goes through the queue, after the commands already accepted.
    slot.lease = lease;
    this.leases.set(lease.id, lease);
    try {
      await slot.open({ leaseId: lease.id, signal });
    } catch (err) {
      await this.end(lease, 'open-failed', false);
      throw err;
    }
    if (!this.leases.has(lease.id)) throw new UsbScsiError(ErrorCodes.CANCELLED, `the lease on ${slot.id} ended while the device was being opened`);
    this.arm(lease);
    this.log.info({ device: slot.id, lease: lease.id, holder, ttlMs, idleTimeoutMs }, 'lease acquired');
    this.events.emit({ type: 'lease-acquired', lease: lease.view() });
    return lease.view();
  }

  get(id: string): LeaseView {
    return this.find(id).view();
  }

  async release(id: string): Promise<LeaseView> {
    const lease = this.find(id);
    await this.end(lease, 'released');
    return lease.view();
  }

  /** The device of this lease left: end it without touching the device. */
  deviceLeft(slot: DeviceSlot): void {
    const lease = [...this.leases.values()].find((l) => l.slot === slot);
    if (lease) void this.end(lease, 'device-gone');
  }

  async releaseAll(reason: LeaseEndReason): Promise<void> {
    await Promise.all([...this.leases.values()].map((l) => this.end(l, reason)));
  }

  private find(id: string): DaemonLease {
    const lease = this.leases.get(id);
    if (!lease) throw notFound(`no lease with id ${id}; it may have expired (GET /v1/leases lists the current ones)`, { id });
    return lease;
  }

  private arm(lease: DaemonLease): void {
    if (lease.timer) clearTimeout(lease.timer);
    const now = Date.now();
    const idleAt = lease.lastUsed + lease.idleTimeoutMs;
    const at = Math.min(lease.expiresAt, idleAt);
    lease.timer = setTimeout(() => {
      lease.timer = undefined;
      if (!this.leases.has(lease.id)) return;
      const t = Date.now();
      if (t >= lease.expiresAt) void this.end(lease, 'expired');
      // a command still running keeps the lease alive
      else if (t >= lease.lastUsed + lease.idleTimeoutMs && !lease.slot.queue.busy) void this.end(lease, 'idle');
      else this.arm(lease);
    }, Math.max(10, at - now));
    lease.timer.unref();
  }

  private async end(lease: DaemonLease, reason: LeaseEndReason, announce = true): Promise<void> {
    if (!this.leases.delete(lease.id)) return;
    if (lease.timer) clearTimeout(lease.timer);
    const slot = lease.slot;
    slot.failQueued(new UsbScsiError(ErrorCodes.CANCELLED, `the lease ${lease.id} ended (${reason}) before this command started`), lease.id);
    if (slot.lease === lease) slot.lease = undefined;
    if (!slot.gone) await slot.closeWhenIdle();
    this.log.info({ device: slot.id, lease: lease.id, reason }, 'lease ended, device handed back');
    if (announce) this.events.emit({ type: 'lease-released', lease: lease.view(), reason });
  }
}
