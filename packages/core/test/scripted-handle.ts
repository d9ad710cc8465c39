import { genericBotExchange } from '../src/bot/generic-exchange.js';
import {
  TransferStatus,
  type BotExchangeRequest,
  type BotExchangeResult,
  type ControlResult,
  type ControlSetup,
  type TransferResult,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
} from '../src/usb/backend.js';

/**
 * A USB handle that plays a script: each bulk/control call must match the
 * next expected step, which says what the "device" answers. It records every
 * call, so tests can assert on the exact wire sequence BOT produced.
 */
export type Step =
  | {
      op: 'bulkOut';
      endpoint?: number;
      status?: TransferStatus;
      actualLength?: number;
      expect?: (data: Uint8Array) => void;
      takesMs?: number;
    }
  | {
      op: 'bulkIn';
      endpoint?: number;
      status?: TransferStatus;
      reply?: Uint8Array | ((h: ScriptedHandle) => Uint8Array);
      actualLength?: number;
      takesMs?: number;
    }
  | { op: 'control'; request: number; status?: TransferStatus; reply?: Uint8Array }
  | { op: 'clearHalt'; endpoint: number };

export interface CallRecord {
  op: string;
  endpoint?: number;
  request?: number;
  length?: number;
  data?: Uint8Array;
  /** The timeout the transfer was given. */
  timeoutMs?: number;
}

export const BOT_DEVICE: UsbDeviceInfo = {
  backend: 'scripted',
  id: 'scripted-1',
  vendorId: 0x1234,
  productId: 0x5678,
  busNumber: 1,
  deviceAddress: 2,
  portNumbers: [1],
  speed: 'high',
  configurations: [
    {
      configurationValue: 1,
      interfaces: [
        {
          interfaceNumber: 0,
          alternateSetting: 0,
          interfaceClass: 8,
          interfaceSubClass: 6,
          interfaceProtocol: 0x50,
          endpoints: [
            { address: 0x81, transferType: 'bulk', maxPacketSize: 512 },
            { address: 0x02, transferType: 'bulk', maxPacketSize: 512 },
          ],
        },
      ],
    },
  ],
};

export class ScriptedHandle implements UsbDeviceHandle {
  readonly capabilities = { fdStreaming: false, kernelDriver: false };
  readonly calls: CallRecord[] = [];
  private script: Step[] = [];
  claimed: number[] = [];
  alt: Array<[number, number]> = [];
  closed = false;
  /** Called with a step's `takesMs`: tests with fake timers advance the clock here. */
  elapse: (ms: number) => void = () => {};

  constructor(readonly info: UsbDeviceInfo = BOT_DEVICE) {}

  play(...steps: Step[]): this {
    this.script.push(...steps);
    return this;
  }

  get remaining(): number {
    return this.script.length;
  }

  private next(op: Step['op'], detail: string): Step {
    const step = this.script.shift();
    if (!step) throw new Error(`script exhausted: unexpected ${op} ${detail}`);
    if (step.op !== op) throw new Error(`script expected ${step.op}, got ${op} ${detail}`);
    return step;
  }

  async claimInterface(n: number) {
    this.claimed.push(n);
  }
  async releaseInterface(n: number) {
    this.claimed = this.claimed.filter((c) => c !== n);
  }
  async setAlternateSetting(i: number, a: number) {
    this.alt.push([i, a]);
  }
  async kernelDriverActive() {
    return false;
  }
  async detachKernelDriver() {}
  async attachKernelDriver() {}
  async resetDevice() {}
  async close() {
    this.closed = true;
  }

  async controlTransfer(setup: ControlSetup, data: Uint8Array | number): Promise<ControlResult> {
    this.calls.push({ op: 'control', request: setup.request, length: typeof data === 'number' ? data : data.length });
    const step = this.next('control', `request 0x${setup.request.toString(16)}`) as Extract<Step, { op: 'control' }>;
    if (step.request !== setup.request)
      throw new Error(`script expected control 0x${step.request.toString(16)}, got 0x${setup.request.toString(16)}`);
    const status = step.status ?? TransferStatus.OK;
    return { status, actualLength: step.reply?.length ?? 0, ...(step.reply ? { data: step.reply } : {}) };
  }

  async bulkOut(endpoint: number, data: Uint8Array, timeoutMs?: number): Promise<TransferResult> {
    this.calls.push({ op: 'bulkOut', endpoint, length: data.length, data: data.slice(), timeoutMs });
    const step = this.next('bulkOut', `ep 0x${endpoint.toString(16)} ${data.length} bytes`) as Extract<
      Step,
      { op: 'bulkOut' }
    >;
    if (step.takesMs) this.elapse(step.takesMs);
    if (step.endpoint !== undefined && step.endpoint !== endpoint)
      throw new Error(`bulkOut on 0x${endpoint.toString(16)}, script says 0x${step.endpoint.toString(16)}`);
    step.expect?.(data);
    return {
      status: step.status ?? TransferStatus.OK,
      actualLength:
        step.actualLength ?? (step.status !== undefined && step.status !== TransferStatus.OK ? 0 : data.length),
    };
  }

  async bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs?: number): Promise<TransferResult> {
    this.calls.push({ op: 'bulkIn', endpoint, length: buffer.length, timeoutMs });
    const step = this.next('bulkIn', `ep 0x${endpoint.toString(16)} ${buffer.length} bytes`) as Extract<
      Step,
      { op: 'bulkIn' }
    >;
    if (step.takesMs) this.elapse(step.takesMs);
    const reply = typeof step.reply === 'function' ? step.reply(this) : (step.reply ?? new Uint8Array(0));
    const n = Math.min(reply.length, buffer.length);
    buffer.set(reply.subarray(0, n));
    return { status: step.status ?? TransferStatus.OK, actualLength: step.actualLength ?? n };
  }

  botExchange(request: BotExchangeRequest): Promise<BotExchangeResult> {
    return genericBotExchange(this, request);
  }

  async clearHalt(endpoint: number) {
    this.calls.push({ op: 'clearHalt', endpoint });
    const step = this.next('clearHalt', `ep 0x${endpoint.toString(16)}`) as Extract<Step, { op: 'clearHalt' }>;
    if (step.endpoint !== endpoint)
      throw new Error(`clearHalt 0x${endpoint.toString(16)}, script says 0x${step.endpoint.toString(16)}`);
  }
}

/** A CSW as a device would send it. */
export function csw(tag: number, status: number, residue = 0, signature = 0x53425355): Uint8Array {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, signature, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, residue, true);
  b[12] = status;
  return b;
}

/** A CSW step answering the most recent CBW. */
export function cswFor(status: number, residue = 0, signature?: number): (h: ScriptedHandle) => Uint8Array {
  return (h) => csw(lastTag(h), status, residue, signature);
}

/** The tag of the most recent CBW the handle saw. */
export function lastTag(handle: ScriptedHandle): number {
  for (let i = handle.calls.length - 1; i >= 0; i--) {
    const c = handle.calls[i]!;
    if (c.op === 'bulkOut' && c.length === 31 && c.data && c.data[0] === 0x55 && c.data[1] === 0x53) {
      return new DataView(c.data.buffer, c.data.byteOffset).getUint32(4, true);
    }
  }
  throw new Error('no CBW sent yet');
}
