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
 * A READ or WRITE range (`executeJob`, what ScsiDevice's reads and writes use) runs as one job in
 * the addon: SG_IO looped on a pool thread, no JavaScript per command, the engine stopping at the
 * first command that does not come back plain; that one is judged here as `execute` judges one.
 *
 * SG_IO cannot be cancelled once issued: an AbortSignal is honoured before the
 * command goes out (for a job: before its next command); afterwards the command's own timeout
 * bounds it.
 *
 * The queue's transfer limit is learned once, at open (queue-limits.ts): `ScsiDevice` splits
 * reads and writes to it, and a single command over it is refused before it is sent.
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import { decodeSense } from '../scsi/sense.js';
import type { DecodedSense } from '../scsi/sense-types.js';
import {
  DEFAULT_TIMEOUT_MS,
  ScsiStatus,
  type ScsiJob,
  type ScsiJobResult,
  type ScsiRequest,
  type ScsiResult,
  type ScsiTransport,
} from '../transport.js';
import type { TransferBuffer } from '../usb/backend.js';
import {
  NATIVE_BUILD_HINT,
  fromNativeError,
  loadNativeAddon,
  type SgIoRequest,
  type SgIoResult,
  type SgJobResult,
} from '../backends/native-addon.js';
import { opcodeName } from '../scsi/opcodes.js';
import { sgTransportError } from './sg-status.js';
import { readQueueLimits, type QueueLimits } from './queue-limits.js';
import { blockNodeOfSg } from './block-node.js';
import { SG_JOB_MAX_DEPTH, encodeSgJobTable } from './sg-job.js';
import { bindSgNode } from './sg-node-binding.js';

/** What the transport needs of one open node (the addon's `sgOpen`; a fake in tests). */
export interface SgNodeBinding {
  /** A block device (true) or an sg node. */
  readonly blockDevice?: boolean;
  execute(request: SgIoRequest): Promise<SgIoResult>;
  /** A run of READs or WRITEs with no JavaScript between them (the addon's `job`; sg-job.ts). */
  job?(
    table: Uint8Array,
    data: Uint8Array,
    options: { direction: 'in' | 'out'; timeoutMs: number; depth: number; jobId: number },
  ): Promise<SgJobResult>;
  cancelJob?(jobId: number): boolean;
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
  /** Commands a job keeps in flight at once (1..4, default {@link DEFAULT_JOB_DEPTH}). */
  jobDepth?: number;
}

/**
 * One command in flight. Two (the next one waiting in the block layer, as the kernel's own queue
 * does for O_DIRECT) ran at 0.05-0.1x as often as they ran faster on usb-storage (a busy host
 * requeues the second request, and the queue is re-run late): `pnpm bench` path sg-d2.
 */
export const DEFAULT_JOB_DEPTH = 1;

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
  readonly #jobDepth: number;
  /**
   * Where the native jobs' time went, summed since open (a profile for the bench): wall time in
   * `executeJob`, time inside SG_IO, time copying through the node's aligned buffers.
   */
  readonly jobProfile = { jobs: 0, commands: 0, bouncedCommands: 0, wallNs: 0, ioctlNs: 0, copyNs: 0 };
  #closed = false;
  #nextJobId = 1;

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
    const depth = options.jobDepth ?? DEFAULT_JOB_DEPTH;
    if (!Number.isSafeInteger(depth) || depth < 1 || depth > SG_JOB_MAX_DEPTH)
      throw badInput(`jobDepth is 1 to ${SG_JOB_MAX_DEPTH} commands in flight; got ${String(options.jobDepth)}`);
    this.#jobDepth = depth;
  }

  /** The node READ and WRITE go through (the block device when one is open beside an sg node). */
  get dataPath(): string {
    return this.#dataNode?.path ?? this.path;
  }

  /**
   * Over the native addon, with the node's queue limit; `E_NO_NATIVE` without it, `E_UNSUPPORTED`
   * off Linux. `blockDevice: false` keeps READ and WRITE on an sg node (for comparisons).
   */
  static async open(
    path: string,
    options: { blockDevice?: boolean; jobDepth?: number } = {},
  ): Promise<PassThroughTransport> {
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
    const open = async (node: string): Promise<SgNodeBinding> => {
      try {
        return bindSgNode(await addon.sgOpen!(node));
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
      ...(options.jobDepth !== undefined ? { jobDepth: options.jobDepth } : {}),
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
    const r = block ? await this.#sgIo(command, block.node, block.path) : await this.#sgIo(command);
    return this.#judge(r, direction, data, block?.path ?? this.path, request.autoSense !== false, timeoutMs);
  }

  /** The facts of one SG_IO command as a ScsiResult; a host or driver failure thrown as its typed error. */
  async #judge(
    r: SgIoResult,
    direction: 'none' | 'in' | 'out',
    data: Uint8Array | undefined,
    path: string,
    autoSense: boolean,
    timeoutMs: number,
  ): Promise<ScsiResult> {
    let sense = tryDecodeSense(r.sense);
    const failure = sgTransportError(path, r.hostStatus, r.driverStatus, r.status !== 0 || sense !== undefined);
    if (failure) throw failure;
    if (r.status === ScsiStatus.CHECK_CONDITION && !sense && autoSense) sense = await this.#requestSense(timeoutMs);

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

  /**
   * READs or WRITEs back to back in the engine (`SgNodeBinding.job`), on the block device when
   * every command is one (the node maps page-aligned memory in place and copies the rest through
   * aligned memory of its own). The engine stops at the first command that does not come back
   * plain and hands its facts back; it is judged here as `execute` judges one (typed errors, sense,
   * REQUEST SENSE). With `jobDepth` > 1 the commands after it that were already in flight may have
   * run too (as with the kernel's own queue); nothing later is sent. With the default depth 1
   * nothing after it is sent. A binding without jobs runs
   * the commands one `execute` at a time with the same rule.
   */
  async executeJob(job: ScsiJob): Promise<ScsiJobResult> {
    if (this.#closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `the SG_IO transport for ${this.path} is closed`);
    const { commands, direction, data, signal } = job;
    if (!Array.isArray(commands) || commands.length === 0) throw badInput('a job has at least one command');
    if (direction !== 'in' && direction !== 'out') throw badInput("a job's direction is 'in' or 'out'");
    if (job.dataFd !== undefined || !(data instanceof Uint8Array))
      throw badInput('an SG_IO job moves memory: give it data (a Uint8Array), not dataFd');
    if ((job.lun ?? 0) !== 0)
      throw badInput(`SG_IO addresses LUNs by node: ${this.path} is one LUN; open the sg node of LUN ${job.lun}`);
    let total = 0;
    for (const c of commands) {
      if (!(c.cdb instanceof Uint8Array) || c.cdb.length < 6 || c.cdb.length > 16)
        throw badInput('SG_IO needs a CDB of 6 to 16 bytes');
      if (!Number.isSafeInteger(c.length) || c.length < 1) throw badInput('a job command moves 1 byte or more');
      const max = this.#limits?.maxTransferBytes;
      if (max !== undefined && c.length > max)
        throw badInput(
          `${opcodeName(c.cdb)}: a data phase of ${c.length} bytes is more than ${this.path} takes in one ` +
            `command (${max} bytes); nothing was sent`,
        );
      total += c.length;
    }
    if (data.length !== total) throw badInput(`the job's data has ${data.length} bytes; its commands move ${total}`);
    if (signal?.aborted) throw new UsbScsiError(ErrorCodes.CANCELLED, 'the job was cancelled before it was sent');
    const timeoutMs = job.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const allBlockData = commands.every((c) => BLOCK_DATA_OPCODES.has(c.cdb[0]!));
    const target = allBlockData && this.#dataNode ? this.#dataNode : { path: this.path, node: this.node };
    if (!target.node.job) return this.#jobOneByOne(job, data, timeoutMs);

    const jobId = this.#nextJobId;
    this.#nextJobId = this.#nextJobId >= 0x7fffffff ? 1 : this.#nextJobId + 1;
    const onAbort = () => target.node.cancelJob?.(jobId);
    signal?.addEventListener('abort', onAbort, { once: true });
    let r: SgJobResult;
    const started = process.hrtime.bigint();
    try {
      r = await target.node.job(encodeSgJobTable(commands), data, {
        direction,
        timeoutMs,
        depth: this.#jobDepth,
        jobId,
      });
    } catch (err) {
      throw fromNativeError(err, `SG_IO on ${target.path}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const p = this.jobProfile;
    p.jobs++;
    p.commands += r.stopped ? r.done + 1 : r.done;
    p.bouncedCommands += r.bouncedCommands;
    p.wallNs += Number(process.hrtime.bigint() - started);
    p.ioctlNs += r.ioctlNs ?? 0;
    p.copyNs += r.copyNs ?? 0;
    if (r.cancelled)
      throw new UsbScsiError(
        ErrorCodes.CANCELLED,
        `the job was cancelled after ${r.done} of ${commands.length} commands (the rest were not sent)`,
        { details: { done: r.done } },
      );
    if (!r.stopped || r.done >= commands.length) return { done: commands.length };
    if (!r.result) throw new UsbScsiError(ErrorCodes.IO, 'the SG_IO engine stopped a job without its facts');
    let offset = 0;
    for (let i = 0; i < r.done; i++) offset += commands[i]!.length;
    const view = data.subarray(offset, offset + commands[r.done]!.length);
    return { done: r.done, result: await this.#judge(r.result, direction, view, target.path, true, timeoutMs) };
  }

  async #jobOneByOne(job: ScsiJob, data: Uint8Array, timeoutMs: number): Promise<ScsiJobResult> {
    let offset = 0;
    for (const [i, c] of job.commands.entries()) {
      const request: ScsiRequest = {
        cdb: c.cdb,
        direction: job.direction,
        data: data.subarray(offset, offset + c.length),
        timeoutMs,
      };
      if (job.signal) request.signal = job.signal;
      const result = await this.execute(request);
      if (result.status !== ScsiStatus.GOOD || result.residue !== 0 || result.sense) return { done: i, result };
      offset += c.length;
    }
    return { done: job.commands.length };
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
