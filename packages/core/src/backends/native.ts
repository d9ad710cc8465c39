/**
 * `UsbBackend` over the native addon (`@usbscsi/native`, libusb-1.0, events
 * handled on the JS thread). What it adds over node-usb: several URBs in flight,
 * true cancellation, stalls as results, and transfer plans (`exchange`): a BOT
 * command is one plan (CBW, multi-URB data phase, CSW) run in one native call,
 * into the caller's buffer or straight to/from a file descriptor. Plans are
 * validated and encoded here (native-exchange.ts); the engine reports facts.
 *
 * Loaded lazily ({@link loadNativeBackend}); a missing addon is a reason, not a
 * crash, unless the caller requires it (`E_NO_NATIVE`).
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import {
  TransferStatus,
  locationOf,
  type BotExchangeRequest,
  type BotExchangeResult,
  type BotJobRequest,
  type BotJobResult,
  type ControlResult,
  type ControlSetup,
  type StreamCommandRequest,
  type StreamCommandResult,
  type TransferBuffer,
  type TransferResult,
  type UsbBackend,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
  type UsbHandleCapabilities,
} from '../usb/backend.js';
import { attachStorageBindings, loadStorageBindings, type StorageBindingsFn } from '../topology/index.js';
import {
  NATIVE_BUILD_HINT,
  fromNativeError,
  loadNativeAddon,
  type NativeAddon,
  type NativeDeviceHandle,
  type NativeDeviceInfo,
} from './native-addon.js';
import { encodeStreamCommand, type StreamPlanLayout } from './native-uas.js';
import {
  EXCHANGE_BLOCK,
  decodeFacts,
  decodeJobDone,
  encodeBotJob,
  encodeBotPlan,
  encodePlan,
  giveBack,
  takeBlock,
  type ExchangeBlock,
  type ExchangeFacts,
  type ExchangePlan,
} from './native-exchange.js';
import { hex0x } from '../hex.js';

let nextOpId = 1;
function newOpId(): number {
  nextOpId = nextOpId >= 0x7fffffff ? 1 : nextOpId + 1;
  return nextOpId;
}

/** Runs an addon call; sync throws and rejections both become `UsbScsiError`s. */
async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNativeError(err, action);
  }
}

/**
 * Runs a cancellable operation: an aborted signal cancels it in the engine (it resolves
 * `cancelled`). Every BOT command goes through here: no abort closure without a signal and one
 * await, not two (the guest's perf profile of a TUR loop counted both).
 */
async function cancellable<T>(
  handle: NativeDeviceHandle,
  signal: AbortSignal | undefined,
  action: string,
  start: (opId: number) => Promise<T>,
): Promise<T> {
  const opId = newOpId();
  const onAbort = signal ? () => handle.cancel(opId) : undefined;
  if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(opId);
  } catch (err) {
    throw fromNativeError(err, action);
  } finally {
    if (onAbort) signal!.removeEventListener('abort', onAbort);
  }
}

/** The engine's status numbers are core's (native/src/common/exchange_block.h); anything else is a broken addon. */
function transferStatusOf(n: number): TransferStatus {
  if (Number.isInteger(n) && n >= TransferStatus.OK && n <= TransferStatus.CANCELLED) return n as TransferStatus;
  throw new UsbScsiError(
    ErrorCodes.IO,
    `the native addon reported an unknown transfer status ${n}; rebuild it (pnpm build)`,
  );
}

const hex = (n: number) => hex0x(n);

function checkStreamEndpoints(endpoints: number[]): void {
  if (!Array.isArray(endpoints) || endpoints.length < 1 || endpoints.length > 30)
    throw badInput('bulk streams need 1 to 30 endpoint addresses');
  for (const ep of endpoints) {
    if (!Number.isInteger(ep) || ep < 1 || ep > 0xff || (ep & 0x0f) === 0 || (ep & 0x70) !== 0)
      throw badInput(`not a bulk endpoint address: ${ep}`);
  }
}

/** The engine's largest URB (chunkSize): a stream transfer is one URB. */
const MAX_STREAM_TRANSFER = 64 << 20;
const resultOf = (phase: { status: number; actualLength: number } | undefined): TransferResult | undefined =>
  phase ? { status: transferStatusOf(phase.status), actualLength: phase.actualLength } : undefined;

export class NativeHandle implements UsbDeviceHandle {
  readonly capabilities: UsbHandleCapabilities;
  /**
   * Data phases in ordinary memory go through the engine's pinned (usbfs-mapped) buffers where
   * the platform has them (Linux): the host controller fills those in place and the engine
   * copies on its I/O pool, instead of the kernel allocating and copying per URB. The engine
   * falls back to the caller's memory, with a note, when usbfs refuses the mapping.
   */
  readonly #stage: boolean;
  /** Memory from allocTransferBuffer: already pinned, moved in place. */
  readonly #pinned = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly info: UsbDeviceInfo,
    private readonly handle: NativeDeviceHandle,
    platform: NodeJS.Platform = process.platform,
  ) {
    this.capabilities = { fdStreaming: true, kernelDriver: platform === 'linux' };
    this.#stage = platform === 'linux' && process.env.USBSCSI_NATIVE_STAGING !== '0';
  }

  #stageFor(buffer: Uint8Array | undefined): boolean {
    return this.#stage && buffer !== undefined && !this.#pinned.has(buffer.buffer);
  }

  claimInterface(n: number): Promise<void> {
    return call(`claiming interface ${n}`, () => this.handle.claimInterface(n));
  }
  releaseInterface(n: number): Promise<void> {
    return call(`releasing interface ${n}`, () => this.handle.releaseInterface(n));
  }
  setAlternateSetting(n: number, alt: number): Promise<void> {
    return call(`selecting alternate setting ${alt} of interface ${n}`, () => this.handle.setAlternateSetting(n, alt));
  }
  kernelDriverActive(n: number): Promise<boolean> {
    return call(`querying the kernel driver of interface ${n}`, () => this.handle.kernelDriverActive(n));
  }
  detachKernelDriver(n: number): Promise<void> {
    return call(`detaching the kernel driver of interface ${n}`, () => this.handle.detachKernelDriver(n));
  }
  attachKernelDriver(n: number): Promise<void> {
    return call(`re-attaching the kernel driver of interface ${n}`, () => this.handle.attachKernelDriver(n));
  }
  clearHalt(endpoint: number): Promise<void> {
    return call(`clearing halt on endpoint ${hex(endpoint)}`, () => this.handle.clearHalt(endpoint));
  }

  async controlTransfer(setup: ControlSetup, data: Uint8Array | number, timeoutMs: number): Promise<ControlResult> {
    const r = await cancellable(this.handle, undefined, 'control transfer', (opId) =>
      this.handle.controlTransfer(setup.requestType, setup.request, setup.value, setup.index, data, timeoutMs, opId),
    );
    const status = transferStatusOf(r.status);
    return r.data
      ? {
          status,
          actualLength: r.actualLength,
          data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
        }
      : { status, actualLength: r.actualLength };
  }

  bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    if (typeof endpoint === 'number' && !(endpoint & 0x80))
      return Promise.reject(badInput(`bulkIn needs an IN endpoint (bit 7 set), got ${hex(endpoint)}`));
    return this.#bulk(endpoint, buffer, timeoutMs, signal, 'IN');
  }

  bulkOut(endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    if (typeof endpoint === 'number' && endpoint & 0x80)
      return Promise.reject(badInput(`bulkOut needs an OUT endpoint (bit 7 clear), got ${hex(endpoint)}`));
    return this.#bulk(endpoint, data, timeoutMs, signal, 'OUT');
  }

  async #bulk(
    endpoint: number,
    buffer: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    dir: string,
  ): Promise<TransferResult> {
    if (signal?.aborted) return { status: TransferStatus.CANCELLED, actualLength: 0 };
    const r = await cancellable(this.handle, signal, `bulk ${dir} on endpoint ${hex(endpoint)}`, (opId) =>
      this.handle.bulkTransfer(endpoint, buffer, timeoutMs, opId),
    );
    return { status: transferStatusOf(r.status), actualLength: r.actualLength };
  }

  /**
   * One BOT command as a 3-phase plan (CBW at once; data after it; CSW after that), checked
   * and encoded once here. The facts come back as phases: the first that did not move every
   * byte with status ok is the last one present; what they mean is BotTransport's business.
   */
  async botExchange(request: BotExchangeRequest): Promise<BotExchangeResult> {
    const signal = request.signal;
    if (signal?.aborted) return { cbw: { status: TransferStatus.CANCELLED, actualLength: 0 } };
    const opId = newOpId();
    const b = takeBlock();
    let plan: { buffer: Uint8Array | undefined; hasData: boolean };
    try {
      const data = request.data;
      plan = encodeBotPlan(request, opId, b, this.#stageFor(data && 'buffer' in data ? data.buffer : undefined));
    } catch (err) {
      giveBack(b);
      throw err;
    }
    const notes = await this.#run(b, plan.buffer, opId, signal, 'BOT exchange');
    const facts = decodeFacts(b, plan.hasData ? 3 : 2, notes);
    giveBack(b);
    return this.#botFacts(facts, plan.hasData);
  }

  /**
   * BOT commands back to back in the engine (the next CBW from the previous CSW's completion),
   * each CSW compared with the expected bytes; the first command that differs ends the job and
   * comes back as botExchange would report it.
   */
  async botJob(request: BotJobRequest): Promise<BotJobResult> {
    const signal = request.signal;
    if (signal?.aborted) return { done: 0, stopped: { cbw: { status: TransferStatus.CANCELLED, actualLength: 0 } } };
    const opId = newOpId();
    const b = takeBlock();
    let job: { table: Uint8Array; buffer: Uint8Array | undefined };
    try {
      const data = request.data;
      job = encodeBotJob(request, opId, b, this.#stageFor(data && 'buffer' in data ? data.buffer : undefined));
    } catch (err) {
      giveBack(b);
      throw err;
    }
    const handle = this.handle;
    const onAbort = signal ? () => handle.cancel(opId) : undefined;
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
    let notes: string[] | undefined;
    try {
      notes = await handle.exchange(b.bytes, job.buffer, job.table);
    } catch (err) {
      giveBack(b);
      throw fromNativeError(err, 'BOT job');
    } finally {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
    const done = decodeJobDone(b);
    const out: BotJobResult = { done };
    if (done < request.commands.length) out.stopped = this.#botFacts(decodeFacts(b, 3, undefined), true);
    giveBack(b);
    if (notes?.length) out.notes = notes;
    return out;
  }

  /** BOT facts from a plan's phases (CBW, data if any, CSW). */
  #botFacts(facts: ExchangeFacts, hasData: boolean): BotExchangeResult {
    const [cbw, second, third] = facts.phases;
    const out: BotExchangeResult = {
      cbw: cbw
        ? { status: transferStatusOf(cbw.status), actualLength: cbw.actualLength }
        : { status: TransferStatus.CANCELLED, actualLength: 0 },
    };
    const cswFacts = hasData ? third : second;
    if (hasData && second) {
      out.data = { status: transferStatusOf(second.status), actualLength: second.actualLength };
      // Only a short packet ends a data phase with the device's next bytes behind it (its CSW).
      if (second.afterEnd && out.data.status === TransferStatus.OK) out.data.afterShort = second.afterEnd;
    }
    if (cswFacts)
      out.csw = {
        status: transferStatusOf(cswFacts.status),
        actualLength: cswFacts.actualLength,
        bytes: cswFacts.bytes ?? new Uint8Array(0),
      };
    if (facts.notes) out.notes = facts.notes;
    return out;
  }

  /**
   * Runs a general transfer plan (several may be in flight on one handle): facts per phase,
   * status as numbers. Bad plans are refused here with `E_BAD_INPUT` before the engine sees them.
   */
  async exchange(plan: ExchangePlan & { signal?: AbortSignal }): Promise<ExchangeFacts> {
    const opId = newOpId();
    const b = takeBlock();
    try {
      encodePlan({ ...plan, opId }, b);
    } catch (err) {
      giveBack(b);
      throw err;
    }
    if (plan.signal?.aborted) {
      giveBack(b);
      return { phases: [{ status: TransferStatus.CANCELLED, actualLength: 0 }] };
    }
    const notes = await this.#run(b, plan.buffer, opId, plan.signal, 'transfer plan');
    const facts = decodeFacts(b, plan.phases.length, notes);
    giveBack(b);
    return facts;
  }

  #run(
    b: ExchangeBlock,
    buffer: Uint8Array | undefined,
    opId: number,
    signal: AbortSignal | undefined,
    action: string,
  ): Promise<string[] | undefined> {
    if (signal) return this.#runCancellable(b, buffer, opId, signal, action);
    // Without a signal, the engine's own promise is awaited directly: one async layer less per
    // command (a TUR's whole cost is such layers and the URBs' wake-ups).
    const failed = (err: unknown): never => {
      giveBack(b);
      throw fromNativeError(err, action);
    };
    let pending: Promise<string[] | undefined>;
    try {
      pending = this.handle.exchange(b.bytes, buffer);
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(undefined, failed);
  }

  async #runCancellable(
    b: ExchangeBlock,
    buffer: Uint8Array | undefined,
    opId: number,
    signal: AbortSignal,
    action: string,
  ): Promise<string[] | undefined> {
    const handle = this.handle;
    const onAbort = () => handle.cancel(opId);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await handle.exchange(b.bytes, buffer);
    } catch (err) {
      giveBack(b);
      throw fromNativeError(err, action);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  allocTransferBuffer(bytes: number): TransferBuffer | null {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 0x7fff_ffff) {
      throw badInput(`a transfer buffer is 1 to 2147483647 bytes; got ${bytes}`);
    }
    let memory: ArrayBuffer | null;
    try {
      memory = this.handle.allocTransferBuffer(bytes);
    } catch (err) {
      throw fromNativeError(err, 'allocating a pinned transfer buffer');
    }
    if (memory === null) return null;
    this.#pinned.add(memory);
    const handle = this.handle;
    return {
      bytes: new Uint8Array(memory),
      pinned: true,
      release(): void {
        try {
          handle.releaseTransferBuffer(memory);
        } catch (err) {
          throw fromNativeError(err, 'releasing a pinned transfer buffer');
        }
      },
    };
  }

  /**
   * Bulk streams for plans that name a `streamId` (USB 3 UAS): resolves with the number
   * allocated per endpoint. A host controller or endpoint without streams is E_BAD_INPUT.
   */
  async allocStreams(count: number, endpoints: number[]): Promise<number> {
    if (!Number.isInteger(count) || count < 1 || count > 65533)
      throw badInput(`a stream count is 1 to 65533; got ${count}`);
    checkStreamEndpoints(endpoints);
    return call(`allocating ${count} bulk streams on ${endpoints.map(hex).join(', ')}`, () =>
      this.handle.allocStreams(count, endpoints),
    );
  }

  async freeStreams(endpoints: number[]): Promise<void> {
    checkStreamEndpoints(endpoints);
    return call(`freeing the bulk streams of ${endpoints.map(hex).join(', ')}`, () =>
      this.handle.freeStreams(endpoints),
    );
  }

  /** One single-phase plan on a stream: several may be in flight on one endpoint (one per stream). */
  async streamTransfer(
    endpoint: number,
    streamId: number,
    buffer: Uint8Array,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<TransferResult> {
    if (!(buffer instanceof Uint8Array) || buffer.length === 0)
      throw badInput('a stream transfer needs a non-empty Uint8Array');
    if (buffer.length > MAX_STREAM_TRANSFER)
      throw badInput(`a stream transfer is at most ${MAX_STREAM_TRANSFER} bytes (one URB); got ${buffer.length}`);
    // One URB per stream transfer, as Linux `uas` sends: QEMU's usb-uas holds one pending packet
    // per stream and asserts when a second one for the same stream comes before its command.
    const chunkSize = Math.ceil(buffer.length / 1024) * 1024;
    const facts = await this.exchange({
      phases: [
        {
          endpoint,
          start: 'at-once',
          streamId,
          chunkSize,
          depth: 1,
          source: { kind: 'buffer', offset: 0, length: buffer.length },
        },
      ],
      // The engine takes no "no timeout": its largest budget stands for it.
      timeoutMs: timeoutMs > 0 ? timeoutMs : 0x7fff_ffff,
      buffer,
      ...(signal ? { signal } : {}),
    });
    const phase = facts.phases[0];
    return phase
      ? { status: transferStatusOf(phase.status), actualLength: phase.actualLength }
      : { status: TransferStatus.CANCELLED, actualLength: 0 };
  }

  /**
   * One plan for a UAS command on streams (native-uas.ts): status read, data and Command IU
   * submitted together, the status read re-posted in the engine while it receives the Ready IU:
   * one call into the engine and one promise per command.
   */
  async streamCommand(request: StreamCommandRequest): Promise<StreamCommandResult> {
    const opId = newOpId();
    const b = takeBlock();
    let layout: StreamPlanLayout;
    try {
      layout = encodeStreamCommand(request, opId, b);
    } catch (err) {
      giveBack(b);
      throw err;
    }
    const { signal } = request;
    const data = layout.data === undefined ? undefined : request.data!.buffer;
    const cancelledResult = { status: TransferStatus.CANCELLED, actualLength: 0 };
    if (signal?.aborted) {
      giveBack(b);
      return {
        status: cancelledResult,
        readies: 0,
        command: cancelledResult,
        ...(data ? { data: cancelledResult } : {}),
      };
    }
    const handle = this.handle;
    const onAbort = signal ? () => handle.cancel(opId) : undefined;
    if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
    try {
      await handle.exchange(b.bytes, data, undefined, request.status);
    } catch (err) {
      giveBack(b);
      throw fromNativeError(err, `UAS command on stream ${request.streamId}`);
    } finally {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
    const facts = decodeFacts(b, layout.count, undefined);
    const readies = b.view.getUint32(EXCHANGE_BLOCK.reposts, true);
    giveBack(b);
    const at = (i: number | undefined) => (i === undefined ? undefined : resultOf(facts.phases[i])) ?? cancelledResult;
    return {
      status: at(layout.status),
      readies,
      command: at(layout.command),
      ...(data ? { data: at(layout.data) } : {}),
    };
  }

  resetDevice(): Promise<void> {
    return call('resetting the USB port', () => this.handle.resetDevice());
  }

  close(): Promise<void> {
    return call('closing the device', () => this.handle.close());
  }
}

export function nativeDeviceId(d: Pick<NativeDeviceInfo, 'busNumber' | 'portNumbers' | 'deviceAddress'>): string {
  return `${locationOf(d)}@${d.deviceAddress}`;
}

export class NativeBackend implements UsbBackend {
  readonly name = 'native';

  constructor(
    private readonly addon: NativeAddon,
    private readonly storageBindings: StorageBindingsFn | null = null,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  async list(): Promise<UsbDeviceInfo[]> {
    const raw = await call('listing USB devices', () => this.addon.list());
    return Promise.all(raw.map((d) => this.#infoOf(d)));
  }

  async #infoOf(d: NativeDeviceInfo): Promise<UsbDeviceInfo> {
    const info: UsbDeviceInfo = {
      backend: this.name,
      id: nativeDeviceId(d),
      vendorId: d.vendorId,
      productId: d.productId,
      busNumber: d.busNumber,
      deviceAddress: d.deviceAddress,
      portNumbers: [...d.portNumbers],
      speed: d.speed,
      configurations: d.configurations.map((c) => ({
        configurationValue: c.configurationValue,
        interfaces: c.interfaces.map((i) => ({ ...i, endpoints: i.endpoints.map((e) => ({ ...e })) })),
      })),
    };
    if (d.manufacturer !== undefined) info.manufacturer = d.manufacturer;
    if (d.product !== undefined) info.product = d.product;
    if (d.serialNumber !== undefined) info.serialNumber = d.serialNumber;
    return attachStorageBindings(info, this.storageBindings);
  }

  async open(device: UsbDeviceInfo): Promise<UsbDeviceHandle> {
    if (!device || typeof device.busNumber !== 'number' || typeof device.deviceAddress !== 'number') {
      throw badInput('open() needs a UsbDeviceInfo from list() (busNumber and deviceAddress)');
    }
    // Same bus and address but another device (the address was reused) is "gone" too.
    const fresh = (await call('listing USB devices', () => this.addon.list())).find(
      (d) =>
        d.busNumber === device.busNumber &&
        d.deviceAddress === device.deviceAddress &&
        d.vendorId === device.vendorId &&
        d.productId === device.productId,
    );
    if (!fresh) {
      throw new UsbScsiError(
        ErrorCodes.DEVICE_GONE,
        `USB device ${device.id ?? `${device.busNumber}:${device.deviceAddress}`} is no longer present; ` +
          'list devices and open it again.',
      );
    }
    const handle = await call(`opening USB device ${nativeDeviceId(fresh)}`, () =>
      this.addon.open(fresh.busNumber, fresh.deviceAddress),
    );
    return new NativeHandle(await this.#infoOf(fresh), handle, this.platform);
  }
}

export type NativeLoadResult = { backend: NativeBackend; reason?: undefined } | { backend: null; reason: string };

/**
 * Loads the addon. Without `required` a missing addon gives `backend: null`
 * and the reason; with it, throws `E_NO_NATIVE` saying how to build it.
 */
export async function loadNativeBackend(options: { required?: boolean } = {}): Promise<NativeLoadResult> {
  const loaded = loadNativeAddon();
  if (!loaded.ok) {
    if (options.required)
      throw new UsbScsiError(
        ErrorCodes.NO_NATIVE,
        `The native backend is not available: ${loaded.reason}. ${NATIVE_BUILD_HINT}`,
      );
    return { backend: null, reason: loaded.reason };
  }
  return { backend: new NativeBackend(loaded.addon, await loadStorageBindings()) };
}
