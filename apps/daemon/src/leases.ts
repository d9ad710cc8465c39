import { randomUUID } from 'node:crypto';
import {
  badInput,
  ErrorCodes,
  UsbScsiError,
  type DaemonLease,
  type DaemonLeaseGrant,
  type LeaseEndReason,
  type LeaseRequestJson,
} from '@usbscsi/core';
import type { Logger } from 'pino';
import { digestOf, matchesDigest, newSecret } from './auth.js';
import type { DeviceSlot } from './device-slot.js';
import { busy, notFound } from './errors.js';
import type { EventHub } from './events.js';

export type LeaseRequest = LeaseRequestJson;

export interface LeaseLimits {
  defaultTtlMs: number;
  maxTtlMs: number;
  defaultIdleTimeoutMs: number;
}

/** Who asks to break a lease: the peer's uid on the Unix socket, none on TCP. */
export interface BreakRequester {
  uid: number | undefined;
}

class HeldLease {
  lastUsed = Date.now();
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly id: string,
    /** Only the digest is kept: the secret itself went to the client and nowhere else. */
    private readonly secretDigest: Buffer,
    readonly slot: DeviceSlot,
    readonly holder: string,
    /** The Unix-socket peer that took it (SO_PEERCRED); undefined over TCP or where unknown. */
    readonly ownerUid: number | undefined,
    readonly createdAt: number,
    public expiresAt: number,
    public idleTimeoutMs: number,
  ) {}

  admits(secret: string | undefined): boolean {
    return matchesDigest(secret, this.secretDigest);
  }

  touch(): void {
    this.lastUsed = Date.now();
  }

  view(): DaemonLease {
    return {
      id: this.id,
      deviceId: this.slot.id,
      holder: this.holder,
      ownerUid: this.ownerUid ?? null,
      createdAt: new Date(this.createdAt).toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
      idleTimeoutMs: this.idleTimeoutMs,
    };
  }
}

const permission = (message: string, reason: string) =>
  new UsbScsiError(ErrorCodes.PERMISSION, message, { details: { reason } });

/**
 * Exclusive leases on devices. A lease is a capability: acquiring returns a
 * secret, once, to the client that asked; commands on the device, renewing
 * and releasing need it. The lease id (listed, announced in events) names the
 * lease and grants nothing. While a lease is held the device stays open
 * (taken from the OS); when it ends — released, broken, TTL spent, idle too
 * long, device gone, shutdown — the device is closed and so handed back.
 */
export class LeaseManager {
  private readonly leases = new Map<string, HeldLease>();

  constructor(
    private readonly events: EventHub,
    private readonly log: Logger,
    private readonly limits: LeaseLimits,
  ) {}

  get count(): number {
    return this.leases.size;
  }

  /** The longest ttlMs (and so idleTimeoutMs) a client may ask for. */
  get maxTtlMs(): number {
    return this.limits.maxTtlMs;
  }

  list(): DaemonLease[] {
    return [...this.leases.values()].map((l) => l.view());
  }

  async acquire(
    slot: DeviceSlot,
    request: LeaseRequest,
    options: { signal?: AbortSignal; ownerUid?: number } = {},
  ): Promise<DaemonLeaseGrant> {
    const ttlMs = request.ttlMs ?? this.limits.defaultTtlMs;
    // The default idle timeout gives way to a shorter lease, as on renew: only an explicit one is checked against
    // ttlMs.
    const idleTimeoutMs = request.idleTimeoutMs ?? Math.min(this.limits.defaultIdleTimeoutMs, ttlMs);
    this.checkTimes(ttlMs, idleTimeoutMs);
    const holder = (request.holder ?? 'anonymous').slice(0, 200);
    if (slot.lease)
      throw busy(`device ${slot.id} is already leased by ${slot.lease.holder}`, {
        holder: slot.lease.holder,
        lease: slot.lease.id,
      });
    const now = Date.now();
    const secret = newSecret();
    const lease = new HeldLease(
      randomUUID(),
      digestOf(secret),
      slot,
      holder,
      options.ownerUid,
      now,
      now + ttlMs,
      idleTimeoutMs,
    );
    // Claimed at once so later requests without the secret are refused; the open
    // goes through the queue, after the commands already accepted.
    slot.lease = lease;
    this.leases.set(lease.id, lease);
    try {
      await slot.open({ leaseSecret: secret, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (err) {
      await this.end(lease, 'open-failed', false);
      throw err;
    }
    if (!this.leases.has(lease.id))
      throw new UsbScsiError(ErrorCodes.CANCELLED, `the lease on ${slot.id} ended while the device was being opened`);
    this.arm(lease);
    this.log.info(
      { device: slot.id, lease: lease.id, holder, ownerUid: options.ownerUid, ttlMs, idleTimeoutMs },
      'lease acquired',
    );
    this.events.emit({ type: 'lease-acquired', lease: lease.view() });
    return { ...lease.view(), secret };
  }

  get(id: string): DaemonLease {
    return this.find(id).view();
  }

  /** Ends the lease; only with its secret. */
  async release(id: string, secret: string | undefined): Promise<DaemonLease> {
    const lease = this.authorised(id, secret, 'release');
    await this.end(lease, 'released');
    return lease.view();
  }

  /**
   * Pushes the expiry to now + ttlMs (default: the lease's first TTL) and optionally changes the idle timeout; only
   * with the secret.
   */
  renew(id: string, secret: string | undefined, request: Pick<LeaseRequest, 'ttlMs' | 'idleTimeoutMs'>): DaemonLease {
    const lease = this.authorised(id, secret, 'renew');
    const ttlMs = request.ttlMs ?? lease.expiresAt - lease.createdAt;
    const idleTimeoutMs = request.idleTimeoutMs ?? Math.min(lease.idleTimeoutMs, ttlMs);
    this.checkTimes(ttlMs, idleTimeoutMs);
    lease.expiresAt = Date.now() + ttlMs;
    lease.idleTimeoutMs = idleTimeoutMs;
    lease.touch();
    this.arm(lease);
    this.log.info({ device: lease.slot.id, lease: lease.id, ttlMs, idleTimeoutMs }, 'lease renewed');
    return lease.view();
  }

  /**
   * Ends a lease without its secret (its holder crashed or lost it): allowed
   * to the same user that took it, on the Unix socket, or to root.
   */
  async breakLease(id: string, requester: BreakRequester): Promise<DaemonLease> {
    const lease = this.find(id);
    if (requester.uid === undefined) {
      throw permission(
        `breaking lease ${id} needs the caller's identity, which only the Unix socket gives ` +
          `(SO_PEERCRED, Linux); connect there as the user that took it, or as root — or release ` +
          `it with its secret`,
        'peer-unknown',
      );
    }
    if (requester.uid !== 0 && requester.uid !== lease.ownerUid) {
      throw permission(
        `uid ${requester.uid} may not break lease ${id}: only ` +
          `${lease.ownerUid === undefined ? 'root' : `uid ${lease.ownerUid} (who took it) or root`} ` +
          `may; its holder can release it with the secret`,
        'not-owner',
      );
    }
    this.log.warn(
      { device: lease.slot.id, lease: lease.id, holder: lease.holder, byUid: requester.uid },
      'lease broken',
    );
    await this.end(lease, 'broken');
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

  private checkTimes(ttlMs: number, idleTimeoutMs: number): void {
    if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > this.limits.maxTtlMs)
      throw badInput(`ttlMs must be an integer from 1 to ${this.limits.maxTtlMs}`, { ttlMs });
    if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 1 || idleTimeoutMs > ttlMs)
      throw badInput(`idleTimeoutMs must be an integer from 1 to the lease's ttlMs (${ttlMs})`, {
        idleTimeoutMs,
        ttlMs,
      });
  }

  private find(id: string): HeldLease {
    const lease = this.leases.get(id);
    if (!lease)
      throw notFound(`no lease with id ${id}; it may have expired (GET /v1/leases lists the current ones)`, { id });
    return lease;
  }

  private authorised(id: string, secret: string | undefined, action: string): HeldLease {
    const lease = this.find(id);
    if (secret === undefined)
      throw permission(
        `to ${action} lease ${id}, send its secret in X-Usbscsi-Lease (the acquire answer ` +
          `gave it to the client that took the lease)`,
        'secret-missing',
      );
    if (!lease.admits(secret))
      throw permission(
        `the secret presented for lease ${id} is not its secret; only the client that took the lease can ${action} it`,
        'secret-invalid',
      );
    return lease;
  }

  private arm(lease: HeldLease): void {
    if (lease.timer) clearTimeout(lease.timer);
    const now = Date.now();
    const idleAt = lease.lastUsed + lease.idleTimeoutMs;
    const at = Math.min(lease.expiresAt, idleAt);
    lease.timer = setTimeout(
      () => {
        lease.timer = undefined;
        if (!this.leases.has(lease.id)) return;
        const t = Date.now();
        if (t >= lease.expiresAt) void this.end(lease, 'expired');
        // a command still running keeps the lease alive
        else if (t >= lease.lastUsed + lease.idleTimeoutMs && !lease.slot.queue.busy) void this.end(lease, 'idle');
        else this.arm(lease);
      },
      Math.max(10, at - now),
    );
    lease.timer.unref();
  }

  private async end(lease: HeldLease, reason: LeaseEndReason, announce = true): Promise<void> {
    if (!this.leases.delete(lease.id)) return;
    if (lease.timer) clearTimeout(lease.timer);
    const slot = lease.slot;
    slot.failQueued(
      new UsbScsiError(ErrorCodes.CANCELLED, `the lease ${lease.id} ended (${reason}) before this command started`),
      lease.id,
    );
    if (slot.lease === lease) slot.lease = undefined;
    if (!slot.gone) await slot.closeWhenIdle();
    this.log.info({ device: slot.id, lease: lease.id, reason }, 'lease ended, device handed back');
    if (announce) this.events.emit({ type: 'lease-released', lease: lease.view(), reason });
  }
}
