/**
 * The process-wide set of held leases, and the handlers that give them back
 * when the process ends: SIGINT, SIGTERM and SIGHUP (release, then re-raise
 * the signal so the exit status is the usual one), an uncaught exception
 * (release, then throw it again), and a normal exit (the event loop drains:
 * `beforeExit`). Handlers are installed once, while at least one lease is
 * held, and removed when the last one is released, so a process without
 * leases keeps Node's default behaviour.
 *
 * `process.exit()` runs no asynchronous code: for leases still held then, a
 * detached helper is started that waits for this process to be gone and
 * runs recovery (`exit-helper.ts`); the journal keeps them either way, for
 * `usbscsi recover` or the daemon's start-up.
 */
import { exitHelperPlan, spawnExitHelper, type ExitHelperPlan, type ExitRecovery } from './exit-helper.js';

/** What the registry needs of a lease. */
export interface RegisteredLease {
  /** For messages: `46f4:0001 at 1-2 interface 0`. */
  readonly description: string;
  /** Idempotent; bounded by the lease's timeouts. */
  release(): Promise<unknown>;
  /** What a helper process needs to give the device back after `process.exit()`; null if it cannot. */
  exitRecovery?(): ExitRecovery | null;
}

/** The parts of `process` the registry touches (a fake in tests). */
export interface RegistryHost {
  readonly pid: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  kill(pid: number, signal?: string | number): unknown;
}

export interface LeaseRegistryOptions {
  host?: RegistryHost;
  /** Messages to the user (default: stderr). */
  log?: (message: string) => void;
  /** Re-throw an uncaught exception after releasing (default: on a later tick, so Node reports it as usual). */
  rethrow?: (error: unknown) => void;
  /** Signals to catch; default SIGINT, SIGTERM, SIGHUP. */
  signals?: NodeJS.Signals[];
  /** Starts the after-exit recovery helper (default: a detached node process). */
  spawnExitHelper?: (plan: ExitHelperPlan) => boolean;
}

export class LeaseRegistry {
  private readonly leases = new Set<RegisteredLease>();
  private readonly host: RegistryHost;
  private readonly log: (message: string) => void;
  private readonly rethrow: (error: unknown) => void;
  private readonly spawnHelper: (plan: ExitHelperPlan) => boolean;
  private signals: NodeJS.Signals[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  private listeners: [string, (...args: any[]) => void][] = [];
  private releasing: Promise<void> | null = null;
  private signalled = false;

  constructor(options: LeaseRegistryOptions = {}) {
    this.host = options.host ?? process;
    this.log = options.log ?? ((message) => process.stderr.write(`${message}\n`));
    this.rethrow =
      options.rethrow ??
      ((error) =>
        setImmediate(() => {
          throw error;
        }));
    this.signals = options.signals ?? ['SIGINT', 'SIGTERM', 'SIGHUP'];
    this.spawnHelper = options.spawnExitHelper ?? spawnExitHelper;
  }

  get size(): number {
    return this.leases.size;
  }

  /** True while the process handlers are installed. */
  get installed(): boolean {
    return this.listeners.length > 0;
  }

  add(lease: RegisteredLease): void {
    this.leases.add(lease);
    this.install();
  }

  /** Called by a lease once it is released (or has failed for good). */
  remove(lease: RegisteredLease): void {
    this.leases.delete(lease);
    if (this.leases.size === 0 && !this.releasing) this.uninstall();
  }

  /** Release every held lease (in parallel: they are different devices); never rejects. */
  releaseAll(): Promise<void> {
    if (!this.releasing) {
      this.releasing = Promise.allSettled([...this.leases].map((lease) => lease.release())).then((results) => {
        for (const result of results) {
          if (result.status !== 'rejected') continue;
          const message = String((result.reason as Error)?.message ?? result.reason);
          this.log(
            `usbscsi: ` +
              (message.includes('usbscsi recover')
                ? message
                : `could not give a device back: ${message} Run \`usbscsi recover\`.`),
          );
        }
        this.releasing = null;
        if (this.leases.size === 0) this.uninstall();
      });
    }
    return this.releasing;
  }

  /**
   * Which signals the registry handles. An app with its own signal handling
   * that closes its devices (and so releases their leases) passes `[]`; the
   * registry then still covers uncaught exceptions and exits.
   */
  setSignals(signals: NodeJS.Signals[]): void {
    const wasInstalled = this.installed;
    this.uninstall();
    this.signals = [...signals];
    if (wasInstalled) this.install();
  }

  /** Install the process handlers (idempotent; `add` does it). */
  install(): void {
    if (this.installed) return;
    for (const signal of this.signals) this.listen(signal, () => this.onSignal(signal));
    this.listen('uncaughtException', (error: unknown) => this.onUncaught(error));
    this.listen('beforeExit', () => {
      if (this.leases.size) void this.releaseAll();
    });
    this.listen('exit', () => {
      if (!this.leases.size) return;
      const held = [...this.leases].map((lease) => lease.description).join('; ');
      const items = [...this.leases]
        .map((lease) => lease.exitRecovery?.() ?? null)
        .filter((item): item is ExitRecovery => item !== null);
      const helped = items.length > 0 && this.spawnHelper(exitHelperPlan(this.host.pid, items));
      this.log(
        helped && items.length === this.leases.size
          ? `usbscsi: exiting while holding ${held}; it is given back as soon as this process ` +
              `is gone (if not, run \`usbscsi recover\`).`
          : `usbscsi: exiting while holding ${held}. The lease journal keeps it: run \`usbscsi ` +
              `recover\` to give the device back.`,
      );
    });
  }

  /** Remove the process handlers (tests; apps that handle signals themselves and call `releaseAll`). */
  uninstall(): void {
    for (const [event, listener] of this.listeners) this.host.removeListener(event, listener);
    this.listeners = [];
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  private listen(event: string, listener: (...args: any[]) => void): void {
    this.host.on(event, listener);
    this.listeners.push([event, listener]);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.signalled) {
      this.log(`usbscsi: ${signal} again: exiting without waiting; run \`usbscsi recover\` to give the device back.`);
      this.uninstall();
      this.host.kill(this.host.pid, signal);
      return;
    }
    this.signalled = true;
    if (this.leases.size) this.log(`usbscsi: ${signal}: giving the device back before exiting…`);
    void this.releaseAll().then(() => {
      this.uninstall();
      this.host.kill(this.host.pid, signal);
    });
  }

  private onUncaught(error: unknown): void {
    void this.releaseAll().then(() => {
      this.uninstall();
      this.rethrow(error);
    });
  }
}

/** The registry every lease joins unless told otherwise. */
export const processLeaseRegistry = new LeaseRegistry();
