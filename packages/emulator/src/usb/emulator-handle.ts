import { UsbScsiError, badInput } from '@usbscsi/core/errors';
import {
  TransferStatus,
  genericBotExchange,
  genericStreamCommand,
  type BotExchangeRequest,
  type BotExchangeResult,
  type ControlResult,
  type ControlSetup,
  type InterfaceDescriptor,
  type StreamCommandRequest,
  type StreamCommandResult,
  type TransferResult,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
  type UsbHandleCapabilities,
} from '@usbscsi/core/usb';
import type { BulkInOutcome, BulkOutOutcome } from '../bot/types.js';
import type { SimulatedDevice } from './simulated-device.js';

interface Pending {
  settle(result: TransferResult): void;
  fail(err: UsbScsiError): void;
}

/** Resolves on a later macrotask, like a real completion. */
const laterTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A handle on a {@link SimulatedDevice} that enforces the UsbBackend contract:
 * every call settles on a later tick, one pending transfer per endpoint,
 * close cancels, calls after close / unplug / reset throw E_DEVICE_GONE,
 * timeouts run on real timers, AbortSignal is honoured, and a bound
 * (simulated) kernel driver makes claiming fail with E_BUSY.
 */
export class EmulatorDeviceHandle implements UsbDeviceHandle {
  // The simulated device is ready again as soon as it has answered the class reset.
  readonly capabilities: UsbHandleCapabilities = { fdStreaming: false, kernelDriver: true, resetRecoveryMs: 0 };
  private readonly generation: number;
  private closed = false;
  private claimed = false;
  /** By endpoint, and by stream above bit 8. */
  private readonly pending = new Map<number, Pending>();
  private streamCount = 0;
  private readonly offGone: () => void;

  constructor(
    private readonly device: SimulatedDevice,
    readonly info: UsbDeviceInfo,
  ) {
    this.generation = device.generation;
    this.offGone = device.onGone(() => {
      const gone = this.goneError();
      for (const [endpoint, p] of [...this.pending]) {
        this.pending.delete(endpoint);
        p.fail(gone);
      }
    });
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    if (this.claimed) return;
    if (this.device.kernelDriver !== null) {
      throw new UsbScsiError(
        'E_BUSY',
        `kernel driver ${this.device.kernelDriver} holds interface ${interfaceNumber} of ` +
          `${this.device.id}; detach it first (detachKernelDriver)`,
        {
          details: { driver: this.device.kernelDriver },
        },
      );
    }
    if (this.device.claimedBy && this.device.claimedBy !== this)
      throw new UsbScsiError(
        'E_BUSY',
        `interface ${interfaceNumber} of ${this.device.id} is claimed by another handle`,
      );
    this.device.claimedBy = this;
    this.claimed = true;
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    if (!this.claimed) throw badInput(`interface ${interfaceNumber} is not claimed by this handle`);
    this.cancelAll();
    this.claimed = false;
    if (this.device.claimedBy === this) this.device.claimedBy = null;
  }

  async setAlternateSetting(interfaceNumber: number, alternateSetting: number): Promise<void> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    if (!this.claimed) throw badInput(`claim interface ${interfaceNumber} before selecting an alternate setting`);
    if (!this.device.info().configurations[0]!.interfaces.some((i) => i.alternateSetting === alternateSetting)) {
      throw badInput(`interface ${interfaceNumber} has no alternate setting ${alternateSetting}`);
    }
    // A real SET_INTERFACE on ep0: the device decides what it does (f_mass_storage resets).
    const outcome = await this.device.control(
      { requestType: 0x01, request: 0x0b, value: alternateSetting, index: interfaceNumber },
      new Uint8Array(0),
    );
    this.assertUsable();
    if (outcome.status === 'stall')
      throw new UsbScsiError('E_IO', `SET_INTERFACE(${interfaceNumber}, ${alternateSetting}) was refused`);
  }

  async kernelDriverActive(interfaceNumber: number): Promise<boolean> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    return this.device.kernelDriver !== null;
  }

  async detachKernelDriver(interfaceNumber: number): Promise<void> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    this.device.detachDriver();
  }

  async attachKernelDriver(interfaceNumber: number): Promise<void> {
    await this.enter();
    this.interfaceOf(interfaceNumber);
    if (this.device.claimedBy)
      throw new UsbScsiError(
        'E_BUSY',
        `interface ${interfaceNumber} is claimed; release it before re-attaching the kernel driver`,
      );
    this.device.attachDriver();
  }

  async controlTransfer(setup: ControlSetup, data: Uint8Array | number, timeoutMs: number): Promise<ControlResult> {
    await this.enter();
    checkTimeout(timeoutMs);
    const deviceToHost = (setup.requestType & 0x80) !== 0;
    if (deviceToHost && (typeof data !== 'number' || !Number.isInteger(data) || data < 0 || data > 0xffff)) {
      throw badInput('an IN control transfer takes the number of bytes to read (0-65535)');
    }
    if (!deviceToHost && !(data instanceof Uint8Array))
      throw badInput('an OUT control transfer takes a Uint8Array of bytes to send');
    const recipient = setup.requestType & 0x1f;
    if (recipient === 1 || (setup.requestType & 0x60) === 0x20) {
      // interface requests need the interface (usbfs claims it implicitly, which a bound driver refuses)
      if (this.device.kernelDriver !== null)
        throw new UsbScsiError(
          'E_BUSY',
          `kernel driver ${this.device.kernelDriver} holds interface ${setup.index & 0xff}; detach it first`,
        );
    }
    const outcome = await this.device.control(setup, data);
    this.assertUsable();
    if (outcome.status === 'stall') return { status: TransferStatus.STALL, actualLength: 0 };
    const bytes = outcome.data ?? new Uint8Array(0);
    return deviceToHost
      ? { status: TransferStatus.OK, actualLength: bytes.length, data: bytes.slice() }
      : { status: TransferStatus.OK, actualLength: (data as Uint8Array).length };
  }

  async bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    await this.enter();
    if (!(buffer instanceof Uint8Array)) throw badInput('bulkIn needs a Uint8Array to read into');
    this.checkEndpoint(endpoint, true);
    checkTimeout(timeoutMs);
    return this.readInto(endpoint, 0, buffer, timeoutMs, signal);
  }

  private readInto(
    endpoint: number,
    stream: number,
    buffer: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<TransferResult> {
    const uas = this.currentAlt().interfaceProtocol === 0x62;
    return this.transfer(endpoint | (stream << 8), timeoutMs, signal, () => {
      const outcome: BulkInOutcome = uas
        ? this.device.uas.pollBulkIn(endpoint, stream, buffer.length)
        : this.device.bot.pollBulkIn(buffer.length);
      if (outcome.status === 'nak') return null;
      const n = Math.min(outcome.data.length, buffer.length);
      buffer.set(outcome.data.subarray(0, n));
      if (outcome.data.length > buffer.length) return { status: TransferStatus.OVERFLOW, actualLength: n };
      return { status: statusOf(outcome.status), actualLength: n };
    });
  }

  async bulkOut(endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    await this.enter();
    if (!(data instanceof Uint8Array)) throw badInput('bulkOut needs a Uint8Array to send');
    this.checkEndpoint(endpoint, false);
    checkTimeout(timeoutMs);
    return this.writeFrom(endpoint, 0, data, timeoutMs, signal);
  }

  private writeFrom(
    endpoint: number,
    stream: number,
    data: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<TransferResult> {
    const copy = data.slice();
    const uas = this.currentAlt().interfaceProtocol === 0x62;
    return this.transfer(endpoint | (stream << 8), timeoutMs, signal, () => {
      const outcome: BulkOutOutcome = uas
        ? this.device.uas.offerBulkOut(endpoint, stream, copy)
        : this.device.bot.offerBulkOut(copy);
      if (outcome.status === 'nak') return null;
      return { status: statusOf(outcome.status), actualLength: outcome.accepted };
    });
  }

  /** Streams exist only at SuperSpeed on a UAS device, as with libusb on xHCI (EHCI refuses: INVALID_PARAM). */
  async allocStreams(count: number, endpoints: number[]): Promise<number> {
    await this.enter();
    if (!Number.isInteger(count) || count < 1 || count > 65533)
      throw badInput(`a stream count is 1 to 65533; got ${count}`);
    for (const e of endpoints) this.checkEndpoint(e, (e & 0x80) !== 0);
    const offered = this.currentAlt().interfaceProtocol === 0x62 ? this.device.uas.streams : 0;
    if (offered === 0)
      throw badInput(
        `endpoints ${endpoints.map((e) => `0x${e.toString(16)}`).join(', ')} have no bulk streams on this link`,
      );
    this.streamCount = Math.min(count, offered);
    this.device.uas.useStreams(this.streamCount);
    return this.streamCount;
  }

  async freeStreams(endpoints: number[]): Promise<void> {
    await this.enter();
    for (const e of endpoints) this.checkEndpoint(e, (e & 0x80) !== 0);
    this.streamCount = 0;
    this.device.uas.useStreams(0);
  }

  async streamTransfer(
    endpoint: number,
    streamId: number,
    buffer: Uint8Array,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<TransferResult> {
    await this.enter();
    if (!(buffer instanceof Uint8Array)) throw badInput('a stream transfer needs a Uint8Array');
    const input = (endpoint & 0x80) !== 0;
    this.checkEndpoint(endpoint, input);
    checkTimeout(timeoutMs);
    if (!Number.isInteger(streamId) || streamId < 1 || streamId > this.streamCount)
      throw badInput(`stream ${streamId} is not allocated (streams 1..${this.streamCount})`);
    return input
      ? this.readInto(endpoint, streamId, buffer, timeoutMs, signal)
      : this.writeFrom(endpoint, streamId, buffer, timeoutMs, signal);
  }

  /** Core's over this handle's single transfers: the engine's rules without an engine. */
  streamCommand(request: StreamCommandRequest): Promise<StreamCommandResult> {
    return genericStreamCommand(this, request);
  }

  /** Core's generic exchange over this handle's single transfers, as node-usb does. */
  botExchange(request: BotExchangeRequest): Promise<BotExchangeResult> {
    return genericBotExchange(this, request);
  }

  async clearHalt(endpoint: number): Promise<void> {
    await this.enter();
    this.checkEndpoint(endpoint, (endpoint & 0x80) !== 0);
    const outcome = await this.device.control({ requestType: 0x02, request: 0x01, value: 0, index: endpoint }, 0);
    if (outcome.status === 'stall')
      throw new UsbScsiError('E_IO', `CLEAR_FEATURE(ENDPOINT_HALT) on 0x${endpoint.toString(16)} was refused`);
  }

  async resetDevice(): Promise<void> {
    await this.enter();
    this.cancelAll();
    this.device.portReset();
  }

  async close(): Promise<void> {
    await laterTick();
    if (this.closed) return; // idempotent: closing twice is harmless
    this.cancelAll();
    this.closed = true;
    this.offGone();
    if (this.device.claimedBy === this) this.device.claimedBy = null;
  }

  // ---- internals ------------------------------------------------------------

  /**
   * Parks the transfer until `attempt` gives a result (re-tried whenever the
   * device changes), the timeout fires, the signal aborts, or the handle
   * closes / the device goes.
   */
  private transfer(
    endpoint: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    attempt: () => TransferResult | null,
  ): Promise<TransferResult> {
    if (this.pending.has(endpoint)) {
      return Promise.reject(
        badInput(
          `a transfer is already pending on endpoint 0x${(endpoint & 0xff).toString(16)}` +
            `${endpoint > 0xff ? ` stream ${endpoint >> 8}` : ''}; wait for it ` +
            `(one generic transfer per endpoint)`,
        ),
      );
    }
    return new Promise<TransferResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let off: () => void = () => {};
      const done = () => {
        this.pending.delete(endpoint);
        if (timer) clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
      };
      const settle = (result: TransferResult) => {
        if (this.pending.get(endpoint) !== entry) return;
        done();
        resolve(result);
      };
      const entry: Pending = {
        settle,
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = () => settle({ status: TransferStatus.CANCELLED, actualLength: 0 });
      this.pending.set(endpoint, entry);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      const tryNow = () => {
        if (this.pending.get(endpoint) !== entry) return;
        const result = attempt();
        if (result) settle(result);
      };
      tryNow();
      if (this.pending.get(endpoint) !== entry) return;
      const offBot = this.device.bot.onChange(() => queueMicrotask(tryNow));
      const offUas = this.device.uas.onChange(() => queueMicrotask(tryNow));
      off = () => {
        offBot();
        offUas();
      };
      if (timeoutMs > 0)
        timer = setTimeout(() => settle({ status: TransferStatus.TIMEOUT, actualLength: 0 }), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private cancelAll(): void {
    for (const p of [...this.pending.values()]) p.settle({ status: TransferStatus.CANCELLED, actualLength: 0 });
  }

  /** Later tick, then the handle must still be usable. */
  private async enter(): Promise<void> {
    await laterTick();
    this.assertUsable();
  }

  private assertUsable(): void {
    if (this.closed)
      throw new UsbScsiError('E_DEVICE_GONE', `handle on ${this.device.id} is closed; open the device again`);
    if (!this.device.connected || this.device.generation !== this.generation) throw this.goneError();
  }

  private goneError(): UsbScsiError {
    return new UsbScsiError(
      'E_DEVICE_GONE',
      `simulated device ${this.info.id} was unplugged or reset; list and open it again`,
    );
  }

  private interfaceOf(interfaceNumber: number): void {
    if (interfaceNumber !== 0)
      throw badInput(`simulated device ${this.device.id} has only interface 0, not ${interfaceNumber}`);
  }

  private currentAlt(): InterfaceDescriptor {
    const interfaces = this.device.info().configurations[0]!.interfaces;
    return interfaces.find((i) => i.alternateSetting === this.device.alternateSetting) ?? interfaces[0]!;
  }

  private checkEndpoint(endpoint: number, wantIn: boolean): void {
    if (!Number.isInteger(endpoint) || endpoint < 0 || endpoint > 0xff)
      throw badInput(`endpoint ${endpoint} is not an endpoint address`);
    if (((endpoint & 0x80) !== 0) !== wantIn)
      throw badInput(`endpoint 0x${endpoint.toString(16)} is ${wantIn ? 'not an IN' : 'not an OUT'} endpoint`);
    if (!this.claimed) throw badInput(`claim interface 0 before using endpoint 0x${endpoint.toString(16)}`);
    const alt = this.currentAlt();
    if (!alt.endpoints.some((e) => e.address === endpoint))
      throw badInput(
        `endpoint 0x${endpoint.toString(16)} is not in the selected alternate setting ${alt.alternateSetting}`,
      );
  }
}

function statusOf(status: 'ok' | 'stall'): TransferStatus {
  return status === 'ok' ? TransferStatus.OK : TransferStatus.STALL;
}

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
    throw badInput(`timeout ${timeoutMs} must be a number of milliseconds >= 0 (0 = no timeout)`);
}
