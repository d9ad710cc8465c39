/**
 * `PassThroughTransport`: SCSI commands through Linux's own stack with SG_IO on
 * `/dev/sg*` or the block device. The kernel keeps the device (no detach, no
 * lease); the result is the same `ScsiResult` the BOT transport gives, sense
 * decoded. Host/driver failures become typed errors (sg-status.ts).
 *
 * SG_IO cannot be cancelled once issued: an AbortSignal is honoured before the
 * command goes out; afterwards the command's own timeout bounds it.
 *
 * The queue's transfer limit is learned once, at open (queue-limits.ts): `ScsiDevice` splits
 * reads and writes to it, and a single command over it is refused before it is sent.
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import { decodeSense } from '../scsi/sense.js';
import type { DecodedSense } from '../scsi/sense-types.js';
import { DEFAULT_TIMEOUT_MS, ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from '../transport.js';
import {
  NATIVE_BUILD_HINT,
  fromNativeError,
  loadNativeAddon,
  type SgIoRequest,
  type SgIoResult,
} from '../backends/native-addon.js';
import { opcodeName } from '../scsi/opcodes.js';
import { sgTransportError } from './sg-status.js';
import { readQueueLimits, type QueueLimits } from './queue-limits.js';

/** What the transport needs from the addon (a fake in tests). */
export interface SgIoBinding {
  sgIo(request: SgIoRequest): Promise<SgIoResult>;
  sgReset?(path: string, level?: 'device' | 'target' | 'bus' | 'host'): Promise<void>;
}

const REQUEST_SENSE_LENGTH = 252;

function tryDecodeSense(bytes: Uint8Array): DecodedSense | undefined {
  try {
    return bytes.length ? decodeSense(bytes) : undefined;
  } catch {
    return undefined; // not sense data (response code): leave it out rather than invent it
  }
}

export class PassThroughTransport implements ScsiTransport {
  readonly kind = 'sg' as const;
  /** An sg node addresses one LUN; open the node of another LUN to reach it. */
  readonly maxLun = 0;
  /** Largest data phase of one command (the kernel queue's limit), undefined when the kernel shows none. */
  readonly maxTransferBytes: number | undefined;
  readonly #limits: QueueLimits | null;
  #closed = false;

  constructor(
    readonly path: string,
    private readonly binding: SgIoBinding,
    limits: QueueLimits | null = null,
  ) {
    if (typeof path !== 'string' || !path.startsWith('/dev/'))
      throw badInput(`PassThroughTransport needs a device node such as /dev/sg0 or /dev/sda, got ${String(path)}`);
    this.#limits = limits;
    this.maxTransferBytes = limits?.maxTransferBytes;
  }

  /** Over the native addon, with the node's queue limit; `E_NO_NATIVE` without it, `E_UNSUPPORTED` off Linux. */
  static async open(path: string): Promise<PassThroughTransport> {
    const loaded = loadNativeAddon();
    if (!loaded.ok)
      throw new UsbScsiError(
        ErrorCodes.NO_NATIVE,
        `SG_IO needs the native addon: ${loaded.reason}. ${NATIVE_BUILD_HINT}`,
      );
    // The addon's functions are free functions (no `this`), as native/index.d.ts does not say.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- see the line above
    const { sgIo, sgReset } = loaded.addon;
    if (!sgIo)
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `SG_IO pass-through exists only on Linux (this addon is built for ${loaded.addon.platform}); ` +
          `use the BOT transport.`,
      );
    const limits = await readQueueLimits(path);
    return new PassThroughTransport(
      path,
      { sgIo: sgIo.bind(loaded.addon), ...(sgReset ? { sgReset: sgReset.bind(loaded.addon) } : {}) },
      limits,
    );
  }

  async execute(request: ScsiRequest): Promise<ScsiResult> {
    if (this.#closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `the SG_IO transport for ${this.path} is closed`);
    const { cdb, direction } = request;
    if (!(cdb instanceof Uint8Array) || cdb.length < 6 || cdb.length > 16)
      throw badInput('SG_IO needs a CDB of 6 to 16 bytes');
    if (direction !== 'none' && direction !== 'in' && direction !== 'out')
      throw badInput(`direction must be 'none', 'in' or 'out'`);
    if (direction !== 'none' && !(request.data instanceof Uint8Array))
      throw badInput(`direction '${direction}' needs request.data (a Uint8Array)`);
    if ((request.lun ?? 0) !== 0)
      throw badInput(`SG_IO addresses LUNs by node: ${this.path} is one LUN; open the sg node of LUN ${request.lun}`);
    if (request.signal?.aborted)
      throw new UsbScsiError(ErrorCodes.CANCELLED, 'the command was cancelled before it was sent');
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const data = direction === 'none' ? undefined : request.data!;
    const limits = this.#limits;
    if (data && limits && data.length > limits.maxTransferBytes) {
      throw new UsbScsiError(
        ErrorCodes.BAD_INPUT,
        `${opcodeName(cdb)}: a data phase of ${data.length} bytes is more than ${this.path} ` +
          `takes in one command (${limits.maxTransferBytes} bytes, from ${limits.source}); ` +
          `nothing was sent. Split it into commands of at most ${limits.maxTransferBytes} bytes ` +
          `(read and write split by themselves).`,
        {
          details: {
            path: this.path,
            requested: data.length,
            maxTransferBytes: limits.maxTransferBytes,
            source: limits.source,
          },
        },
      );
    }
    const r = await this.#sgIo({ path: this.path, cdb, direction, ...(data ? { buffer: data } : {}), timeoutMs });

    let sense = tryDecodeSense(r.sense);
    const failure = sgTransportError(this.path, r.hostStatus, r.driverStatus, r.status !== 0 || sense !== undefined);
    if (failure) throw failure;
    if (r.status === ScsiStatus.CHECK_CONDITION && !sense && request.autoSense !== false)
      sense = await this.#requestSense(timeoutMs);

    const length = data?.length ?? 0;
    const residue = Math.max(0, Math.min(length, r.resid));
    const transferred = length - residue;
    return {
      status: r.status,
      ...(sense ? { sense } : {}),
      data: direction === 'in' && data ? data.subarray(0, transferred) : new Uint8Array(0),
      transferred,
      residue,
      durationNs: r.durationNs,
    };
  }

  async #sgIo(req: SgIoRequest): Promise<SgIoResult> {
    try {
      return await this.binding.sgIo(req);
    } catch (err) {
      throw fromNativeError(err, `SG_IO on ${req.path}`);
    }
  }

  async #requestSense(timeoutMs: number): Promise<DecodedSense | undefined> {
    const buffer = new Uint8Array(REQUEST_SENSE_LENGTH);
    const cdb = Uint8Array.of(0x03, 0, 0, 0, REQUEST_SENSE_LENGTH, 0);
    const r = await this.#sgIo({ path: this.path, cdb, direction: 'in', buffer, timeoutMs });
    if (r.hostStatus !== 0 || r.status !== 0) return undefined;
    return tryDecodeSense(buffer.subarray(0, Math.max(0, REQUEST_SENSE_LENGTH - r.resid)));
  }

  /** SG_SCSI_RESET (device level). */
  async reset(): Promise<void> {
    if (!this.binding.sgReset) throw new UsbScsiError(ErrorCodes.UNSUPPORTED, 'this SG_IO binding cannot reset');
    try {
      await this.binding.sgReset(this.path, 'device');
    } catch (err) {
      throw fromNativeError(err, `SG_SCSI_RESET on ${this.path}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true; // each command opens and closes the node: nothing else to release
  }
}
