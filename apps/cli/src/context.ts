/**
 * Per-run state shared by the commands: the global options, output in the
 * chosen mode (human / --json / --quiet), and the device session (selection,
 * tracing, closing). Protocol work is core's; this file only wires it.
 */
import type {
  BotEvent,
  HandoffPlatform,
  LeaseOptions,
  LeaseRegistry,
  ScsiDevice,
  TransportChoice,
  UasEvent,
  UsbBackend,
} from '@usbscsi/core';
import {
  ErrorCodes,
  LeaseJournal,
  TracingBackend,
  UsbScsiError,
  badInput,
  describeBotEvent,
  describeUasEvent,
  openDevice,
  openTraceFile,
  type TraceFile,
} from '@usbscsi/core';
import { connectVia } from './core-bridge.js';
import { toJson } from './format/json.js';
import type { CliIo } from './io.js';
import { parseIntOption } from './options.js';
import { createSimBackend, isSimSelector } from './sim.js';

export type BackendChoice = 'auto' | 'native' | 'node-usb' | 'sg';

export interface GlobalOptions {
  device?: string;
  lun?: string;
  backend: BackendChoice;
  transport?: TransportChoice;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  trace?: string;
  timeout?: string;
  via?: string;
  unmount?: boolean;
  remount?: boolean;
}

export interface CliDeps {
  /** Backend for `--device sim[:…]`; tests inject an emulator prepared with vendor handlers or faults. */
  simBackend?: (selector: string) => UsbBackend | Promise<UsbBackend>;
  /**
   * Lease journal and OS platform for `handoff` and for the lease a BOT open takes (tests inject a
   * temp journal, core's fake platform and, to keep signal handlers out of the test runner, no registry).
   */
  handoff?: () => Promise<{ journal: LeaseJournal; platform: HandoffPlatform; registry?: LeaseRegistry | null }>;
}

export class CliContext {
  constructor(
    readonly io: CliIo,
    readonly opts: GlobalOptions,
    readonly deps: CliDeps,
  ) {}

  get json(): boolean {
    return this.opts.json === true;
  }

  /** Command timeout in ms when --timeout was given. */
  timeoutMs(): number | undefined {
    return this.opts.timeout === undefined
      ? undefined
      : parseIntOption(this.opts.timeout, '--timeout', { min: 1, max: 3_600_000 });
  }

  /** Per-command timeout and Ctrl-C cancellation for the device API's transfer helpers. */
  transferOptions(): { timeoutMs?: number; signal?: AbortSignal } {
    const timeoutMs = this.timeoutMs();
    return { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(this.io.signal ? { signal: this.io.signal } : {}) };
  }

  /**
   * --unmount / --remount as core's lease options, checked before anything is opened. --remount alone
   * is refused rather than ignored: it can only give back what --unmount took.
   */
  async leaseOptions(): Promise<LeaseOptions> {
    if (this.opts.remount && !this.opts.unmount)
      throw badInput('--remount mounts again what --unmount unmounted: add --unmount.');
    const env = this.io.env['USBSCSI_LEASE_JOURNAL'];
    const handoff = this.deps.handoff
      ? await this.deps.handoff()
      : env
        ? { journal: new LeaseJournal({ path: env }) }
        : {};
    // A dead holder's lease recovered first is said on stderr, --json or not (stdout stays one document).
    const onNotice = (message: string) => {
      if (!this.opts.quiet) this.io.stderr.write(`usbscsi: ${message}\n`);
    };
    return { unmount: this.opts.unmount === true, remount: this.opts.remount === true, ...handoff, onNotice };
  }

  /** What the run names as its device before opening it, for statements made without the device. */
  selectorText(): string {
    const via = this.opts.via ?? this.io.env['USBSCSI_VIA'];
    const device = this.opts.device === undefined ? 'the only visible device' : `--device ${this.opts.device}`;
    return via ? `${device} via usbscsid at ${via}` : device;
  }

  lun(): number | undefined {
    return this.opts.lun === undefined ? undefined : parseIntOption(this.opts.lun, '--lun', { min: 0, max: 15 });
  }

  /** Prints the command's one JSON document, or its human text (unless --quiet). */
  emit(doc: unknown, human: () => string): void {
    if (this.json) this.io.stdout.write(toJson(doc));
    else if (!this.opts.quiet) this.io.stdout.write(human());
  }

  /** Human notes on stderr (what is about to happen, warnings); silent with --quiet or --json. */
  note(line: string): void {
    if (!this.opts.quiet && !this.json) this.io.stderr.write(line + '\n');
  }

  /** The USB backend for device listing: the simulator for `--device sim…`, else the one --backend names. */
  async listingBackend(): Promise<{
    backend: UsbBackend | 'auto' | 'native' | 'node-usb';
    dispose: () => Promise<void>;
  }> {
    const spec = this.opts.device;
    if (spec !== undefined && isSimSelector(spec)) {
      const backend = await createSimBackend(spec, this.deps);
      return { backend, dispose: async () => backend.dispose?.() };
    }
    const choice = this.opts.backend === 'sg' ? 'auto' : this.opts.backend;
    return { backend: choice, dispose: async () => {} };
  }

  /**
   * Opens the selected device, runs `fn`, and always closes the device (releasing any lease) and the trace.
   * `reopen` opens the same selection again on the same backend (a device that re-enumerated); the
   * caller closes what it returns. Absent through the daemon.
   */
  async withDevice<T>(fn: (device: ScsiDevice, reopen?: () => Promise<ScsiDevice>) => Promise<T>): Promise<T> {
    // Checked before anything is opened: a bad --timeout is a usage error, nothing sent.
    const commandTimeoutMs = this.timeoutMs();
    const via = this.opts.via ?? this.io.env['USBSCSI_VIA'];
    if (via) return this.withRemoteDevice(via, commandTimeoutMs, fn);
    const spec = this.opts.device;
    const lun = this.lun();
    const lease = await this.leaseOptions();
    let trace: TraceFile | undefined;
    let backend: UsbBackend | undefined;
    let device: ScsiDevice | undefined;
    try {
      if (spec !== undefined && isSimSelector(spec)) {
        if (this.opts.backend !== 'auto') {
          throw badInput(
            `--backend ${this.opts.backend} does not apply to the simulated device; drop --backend ` +
              `or choose a real device.`,
          );
        }
        backend = await createSimBackend(spec, this.deps);
      }
      const asked = this.opts.transport ?? 'auto';
      if (this.opts.backend === 'sg' && asked !== 'auto' && asked !== 'sg') {
        throw badInput(
          `--backend sg sends commands through the kernel (SG_IO) and cannot carry --transport ${asked}: ` +
            `use --backend native (or auto) with --transport ${asked}.`,
        );
      }
      const sg = this.opts.backend === 'sg' || asked === 'sg';
      if (this.opts.trace && sg) {
        throw new UsbScsiError(
          ErrorCodes.UNSUPPORTED,
          '--trace records USB transfers, and SG_IO (--backend sg / --transport sg) sends commands ' +
            'through the kernel with none; use --transport bot or uas to trace.',
        );
      }
      if (this.opts.trace) trace = openTraceFile(this.opts.trace);
      const recorder = trace?.recorder;
      // Tracing needs BOT: SG_IO sends no USB transfers this process could see.
      const transport: TransportChoice = sg
        ? 'sg'
        : asked !== 'auto'
          ? asked
          : this.opts.backend === 'auto' && !trace
            ? 'auto'
            : 'bot';
      const openOptions = {
        ...(spec !== undefined && !isSimSelector(spec) ? { selector: spec } : {}),
        backend: backend ?? (this.opts.backend === 'sg' ? 'auto' : this.opts.backend),
        transport,
        ...(lun !== undefined ? { lun } : {}),
        lease,
        ...(commandTimeoutMs !== undefined ? { commandTimeoutMs } : {}),
        ...(recorder ? { wrapBackend: (inner: UsbBackend) => new TracingBackend(inner, recorder) } : {}),
        // --verbose: one stderr line per thing BOT did besides the commands (stdout stays the result).
        ...(this.opts.verbose
          ? {
              onBotEvent: (event: BotEvent) => void this.io.stderr.write(`usbscsi: bot: ${describeBotEvent(event)}\n`),
              onUasEvent: (event: UasEvent) => void this.io.stderr.write(`usbscsi: uas: ${describeUasEvent(event)}\n`),
            }
          : {}),
      } as const;
      device = await openDevice(openOptions);
      if (this.opts.verbose)
        this.io.stderr.write(`usbscsi: transport: ${device.transportKind} (backend ${device.description.backend})\n`);
      return await fn(device, () => openDevice(openOptions));
    } finally {
      try {
        await device?.close();
      } finally {
        trace?.close();
        await backend?.dispose?.();
      }
    }
  }

  private async withRemoteDevice<T>(
    via: string,
    commandTimeoutMs: number | undefined,
    fn: (device: ScsiDevice) => Promise<T>,
  ): Promise<T> {
    if (this.opts.trace) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        '--trace cannot record through the daemon (--via / USBSCSI_VIA): the USB transfers ' +
          'happen in usbscsid. Run without --via to trace.',
      );
    }
    if (this.opts.unmount || this.opts.remount) {
      throw badInput(
        '--unmount / --remount apply to devices this process opens; through usbscsid the ' +
          'daemon decides (start it with --unmount).',
      );
    }
    const lun = this.lun();
    const device = await connectVia(via, {
      ...(this.opts.device !== undefined ? { selector: this.opts.device } : {}),
      ...(lun !== undefined ? { lun } : {}),
      ...(commandTimeoutMs !== undefined ? { commandTimeoutMs } : {}),
      env: this.io.env,
    });
    try {
      return await fn(device);
    } finally {
      await device.close();
    }
  }
}
