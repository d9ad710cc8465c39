import {
  ErrorCodes,
  isUsbScsiError,
  type DaemonDevice,
  type DaemonDeviceState,
  type UsbScsiError,
} from '@usbscsi/core';
import type { Logger } from 'pino';
import { busy, deviceGone, overloaded } from './errors.js';
import { CommandQueue } from './queue.js';
import type { DeviceProvider, DeviceSummary, OpenedDevice } from './provider.js';

/** The part of a lease the slot needs to admit or refuse a command. */
export interface SlotLease {
  /** Public name of the lease (grants nothing). */
  id: string;
  holder: string;
  /** Does this secret (constant-time compared) belong to the lease? */
  admits(secret: string | undefined): boolean;
  /** Called on every command the lease holder runs (idle timeout bookkeeping). */
  touch(): void;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Lease secret the client presented (header X-Usbscsi-Lease). */
  leaseSecret?: string;
}

export interface JobContext {
  device: OpenedDevice;
  signal: AbortSignal;
  /** Position of this job in the device's execution order (1, 2, …). */
  seq: number;
}

/**
 * One served device: its FIFO, its open handle (opened on first use, closed
 * after `idleCloseMs` without work so the OS gets the device back), its lease.
 */
export class DeviceSlot {
  readonly queue = new CommandQueue();
  lease: SlotLease | undefined;
  gone = false;
  private handle: OpenedDevice | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private executed = 0;

  constructor(
    public summary: DeviceSummary,
    private readonly provider: DeviceProvider,
    private readonly limits: { idleCloseMs: number; maxQueueDepth: number },
    private readonly log: Logger,
    private readonly onGone: (slot: DeviceSlot) => void,
  ) {
    // Once the last command is done (the queue settled, not merely the command's promise).
    this.queue.onIdle = () => this.scheduleIdleClose();
  }

  get id(): string {
    return this.summary.id;
  }

  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  get state(): DaemonDeviceState {
    if (this.gone) return 'gone';
    if (this.lease) return 'leased';
    return this.queue.busy ? 'busy' : 'idle';
  }

  /** The device as the API lists it and events carry it. */
  view(): DaemonDevice {
    const lease = this.lease;
    return {
      ...this.summary,
      state: this.state,
      queueDepth: this.queue.depth,
      open: this.isOpen,
      lease: lease ? { id: lease.id, holder: lease.holder } : null,
    };
  }

  /**
   * Why `run` would refuse a job now (gone, leased to another secret, queue full), or undefined.
   * A route that answers with a stream asks first, so the refusal is a plain HTTP status.
   */
  refusal(options: RunOptions = {}): UsbScsiError | undefined {
    if (this.gone) return deviceGone(`device ${this.id} is gone (unplugged); list devices again`);
    const lease = this.lease;
    if (lease && !lease.admits(options.leaseSecret)) {
      return busy(
        `device ${this.id} is leased by ${lease.holder}; wait for the lease to end, or send ` +
          `its secret in X-Usbscsi-Lease if you took it`,
        {
          holder: lease.holder,
          lease: lease.id,
        },
      );
    }
    if (this.queue.depth >= this.limits.maxQueueDepth) {
      return overloaded(
        `device ${this.id} has ${this.queue.depth} commands queued or running, the most the ` +
          `daemon queues (--max-queue-depth); retry shortly`,
        {
          queueDepth: this.queue.depth,
        },
      );
    }
    return undefined;
  }

  /** Queues a job; it runs with the device open. Refuses a leased device to anyone but the holder. */
  run<T>(job: (ctx: JobContext) => Promise<T>, options: RunOptions = {}, countsAsCommand = true): Promise<T> {
    const refused = this.refusal(options);
    if (refused) return Promise.reject(refused);
    const lease = this.lease;
    lease?.touch();
    this.cancelIdleClose();
    return this.queue.enqueue(
      async (signal) => {
        if (this.gone) throw deviceGone(`device ${this.id} left before the command started`);
        try {
          const device = await this.ensureOpen();
          const seq = countsAsCommand ? ++this.executed : this.executed;
          return await job({ device, signal, seq });
        } catch (err) {
          if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) this.markGone('a command found the device gone');
          throw err;
        } finally {
          lease?.touch();
        }
      },
      { signal: options.signal, owner: lease?.id },
    );
  }

  /** Opens now (through the queue, so it is ordered after earlier commands). Used when a lease is taken. */
  open(options: RunOptions = {}): Promise<void> {
    return this.run(async () => undefined, options, false);
  }

  /**
   * Closes the handle once queued work is done, handing the device back to
   * the OS. Jobs queued after this call open it again.
   */
  async closeWhenIdle(): Promise<void> {
    this.cancelIdleClose();
    await this.queue.enqueue(() => this.closeHandle()).catch(() => undefined);
  }

  /** The device left: every queued command fails with E_DEVICE_GONE, the running one is aborted. */
  markGone(why: string): void {
    if (this.gone) return;
    this.gone = true;
    this.cancelIdleClose();
    const err = deviceGone(`device ${this.id} is gone (${why}); its queued commands were not sent`);
    const dropped = this.queue.failPending(err);
    this.queue.abortRunning(err);
    this.log.warn({ device: this.id, dropped }, 'device gone');
    void this.closeHandle();
    this.onGone(this);
  }

  /** Shutdown: queued commands fail with `err`, the running one finishes. */
  failQueued(err: UsbScsiError, owner?: string): number {
    return this.queue.failPending(err, owner);
  }

  private async ensureOpen(): Promise<OpenedDevice> {
    if (this.handle) return this.handle;
    const started = Date.now();
    try {
      this.handle = await this.provider.open(this.id);
    } catch (err) {
      // Listed a moment ago, not there now: it left (the hotplug event may still be on its way).
      if (isUsbScsiError(err, ErrorCodes.NOT_FOUND))
        throw deviceGone(`device ${this.id} left before it could be opened: ${err.message}`);
      throw err;
    }
    this.log.info({ device: this.id, ms: Date.now() - started }, 'device opened');
    return this.handle;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    if (!handle) return;
    this.handle = undefined;
    try {
      await handle.close();
      this.log.info({ device: this.id }, 'device closed (handed back)');
    } catch (err) {
      this.log.warn({ device: this.id, err }, 'closing the device failed');
    }
  }

  private scheduleIdleClose(): void {
    if (this.lease || this.gone || this.queue.depth > 0 || !this.handle) return;
    this.cancelIdleClose();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.lease || this.queue.depth > 0) return;
      // through the queue, so a command arriving now opens the device only after this close
      void this.queue.enqueue(() => this.closeHandle()).catch(() => undefined);
    }, this.limits.idleCloseMs);
    this.idleTimer.unref();
  }

  private cancelIdleClose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
