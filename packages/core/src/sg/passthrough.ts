/**
 * `PassThroughTransport`: SCSI commands through Linux's own stack with SG_IO on
 * `/dev/sg*` or the block device. The kernel keeps the device (no detach, no
 * lease); the result is the same `ScsiResult` the BOT transport gives, sense
 * decoded. Host/driver failures become typed errors (sg-status.ts).
 *
 * The node is opened once, at open, and every command goes through that descriptor. Given an sg
 * node whose disk has a block device, READ and WRITE go through the block device instead: there
 * the block layer maps page-aligned memory in place, where the sg driver copies every data phase
 * through its own buffers (its direct IO is off unless root enables `allow_dio`). Other commands
 * stay on the sg node, which takes any CDB from a read-write descriptor (a block device filters
 * them for users without CAP_SYS_RAWIO) and answers small commands without a thread hop.
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
import type { TransferBuffer } from '../usb/backend.js';
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
import { blockNodeOfSg } from './block-node.js';

/** What the transport needs of one open node (the addon's `sgOpen`; a fake in tests). */
export interface SgNodeBinding {
  /** A block device (true) or an sg node. */
  readonly blockDevice?: boolean;
  execute(request: SgIoRequest): Promise<SgIoResult>;
  reset?(level?: 'device' | 'target' | 'bus' | 'host'): Promise<void>;
  close?(): void;
}

export interface PassThroughOptions {
  /** The queue's transfer limit (queue-limits.ts); null or absent when the kernel shows none. */
  limits?: QueueLimits | null;
  /** The disk's block device, open, for READ and WRITE; `path` names it in messages. */
  dataNode?: { path: string; node: SgNodeBinding };
  /** Page-aligned memory (the addon's `alignedBuffer`), for `allocateBuffer`. */
  alignedBuffer?: (bytes: number) => ArrayBuffer;
}

/** READ and WRITE (6, 10, 12, 16): the commands whose data a block device maps in place. */
const BLOCK_DATA_OPCODES = new Set([0x08, 0x0a, 0x28, 0x2a, 0xa8, 0xaa, 0x88, 0x8a]);

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
  readonly #dataNode: { path: string; node: SgNodeBinding } | undefined;
  readonly #alignedBuffer: ((bytes: number) => ArrayBuffer) | undefined;
  #closed = false;

  constructor(
    readonly path: string,
    private readonly node: SgNodeBinding,
    options: PassThroughOptions = {},
  ) {
    if (typeof path !== 'string' || !path.startsWith('/dev/'))
      throw badInput(`PassThroughTransport needs a device node such as /dev/sg0 or /dev/sda, got ${String(path)}`);
    this.#limits = options.limits ?? null;
    this.maxTransferBytes = this.#limits?.maxTransferBytes;
    this.#dataNode = options.dataNode;
    this.#alignedBuffer = options.alignedBuffer;
  }

  /** The node READ and WRITE go through (the block device when one is open beside an sg node). */
  get dataPath(): string {
    return this.#dataNode?.path ?? this.path;
  }

  /**
   * Over the native addon, with the node's queue limit; `E_NO_NATIVE` without it, `E_UNSUPPORTED`
   * off Linux. `blockDevice: false` keeps READ and WRITE on an sg node (for comparisons).
   */
  static async open(path: string, options: { blockDevice?: boolean } = {}): Promise<PassThroughTransport> {
    const loaded = loadNativeAddon();
    if (!loaded.ok)
      throw new UsbScsiError(
        ErrorCodes.NO_NATIVE,
        `SG_IO needs the native addon: ${loaded.reason}. ${NATIVE_BUILD_HINT}`,
      );
    const addon = loaded.addon;
    if (!addon.sgOpen)
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `SG_IO pass-through exists only on Linux (this addon is built for ${addon.platform}); ` +
          `use the BOT transport.`,
      );
    const open = async (node: string) => {
      try {
        return await addon.sgOpen!(node);
      } catch (err) {
        throw fromNativeError(err, `SG_IO: open ${node}`);
      }
    };
    const limits = await readQueueLimits(path);
    const node = await open(path);
    let dataNode: PassThroughOptions['dataNode'];
    const blockPath = options.blockDevice === false || node.blockDevice ? null : await blockNodeOfSg(path);
    // Without access to the block device (another udev rule), everything stays on the sg node.
    if (blockPath)
      dataNode = await open(blockPath).then(
        (n) => ({ path: blockPath, node: n }),
        () => undefined,
      );
    return new PassThroughTransport(path, node, {
      limits,
      ...(dataNode ? { dataNode } : {}),
      ...(addon.alignedBuffer ? { alignedBuffer: (bytes: number) => addon.alignedBuffer!(bytes) } : {}),
    });
  }

  /**
   * Page-aligned memory, which READ and WRITE move in place where they go through a block device
   * (`pinned: true`); null where nothing would be gained (no block device, no addon). Other memory
   * works too: the node copies it through an aligned buffer of its own. Freed when collected.
   */
  allocateBuffer(bytes: number): TransferBuffer | null {
    if (this.#closed || !this.#alignedBuffer || (!this.#dataNode && this.node.blockDevice !== true)) return null;
    return { bytes: new Uint8Array(this.#alignedBuffer(bytes)), pinned: true, release: () => undefined };
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
    const command: SgIoRequest = { cdb, direction, timeoutMs };
    if (data) command.buffer = data;
    const block = data !== undefined && data.length > 0 && BLOCK_DATA_OPCODES.has(cdb[0]!) ? this.#dataNode : undefined;
    const viaBlock = block !== undefined;
    const r = block ? await this.#sgIo(command, block.node, block.path) : await this.#sgIo(command);

    let sense = tryDecodeSense(r.sense);
    const failure = sgTransportError(
      viaBlock ? this.dataPath : this.path,
      r.hostStatus,
      r.driverStatus,
      r.status !== 0 || sense !== undefined,
    );
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

  async #sgIo(req: SgIoRequest, node = this.node, path = this.path): Promise<SgIoResult> {
    try {
      return await node.execute(req);
    } catch (err) {
      throw fromNativeError(err, `SG_IO on ${path}`);
    }
  }

  async #requestSense(timeoutMs: number): Promise<DecodedSense | undefined> {
    const buffer = new Uint8Array(REQUEST_SENSE_LENGTH);
    const cdb = Uint8Array.of(0x03, 0, 0, 0, REQUEST_SENSE_LENGTH, 0);
    const r = await this.#sgIo({ cdb, direction: 'in', buffer, timeoutMs });
    if (r.hostStatus !== 0 || r.status !== 0) return undefined;
    return tryDecodeSense(buffer.subarray(0, Math.max(0, REQUEST_SENSE_LENGTH - r.resid)));
  }

  /** SG_SCSI_RESET (device level). */
  async reset(): Promise<void> {
    if (!this.node.reset) throw new UsbScsiError(ErrorCodes.UNSUPPORTED, 'this SG_IO binding cannot reset');
    try {
      await this.node.reset('device');
    } catch (err) {
      throw fromNativeError(err, `SG_SCSI_RESET on ${this.path}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.node.close?.();
    this.#dataNode?.node.close?.();
  }
}
