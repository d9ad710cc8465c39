/**
 * A scriptable in-memory device provider for the queue/cancel/timeout cases
 * that need exact control over when a command finishes. The emulator covers
 * SCSI itself; this covers the daemon's scheduling.
 */
import { ErrorCodes, UsbScsiError, type ScsiResult } from '@usbscsi/core';
import type { DeviceChange, DeviceProvider, DeviceSummary, ExecuteOptions, OpenedDevice } from '../src/provider.js';

export const SLOW_OPCODE = 0xc1; // vendor: wait cdb[1] * 10 ms, honouring abort

export class FakeDevice implements OpenedDevice {
  readonly blocks = new Map<number, Uint8Array>();
  executed: number[] = [];
  aborted = 0;
  closed = false;
  gone = false;
  private goneWaiters = new Set<(err: UsbScsiError) => void>();

  async execute(cdb: Uint8Array, options: ExecuteOptions): Promise<ScsiResult> {
    if (this.gone || this.closed) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, 'fake device gone');
    const op = cdb[0]!;
    this.executed.push(op);
    const t0 = process.hrtime.bigint();
    const done = (data: Uint8Array, transferred = data.length): ScsiResult => ({
      status: 0,
      data,
      transferred,
      residue: (options.length ?? 0) - (options.direction === 'in' ? transferred : 0),
      durationNs: Number(process.hrtime.bigint() - t0),
    });
    if (op === SLOW_OPCODE) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, cdb[1]! * 10);
        const onGone = (err: UsbScsiError) => {
          clearTimeout(timer);
          reject(err);
        };
        this.goneWaiters.add(onGone);
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            this.aborted++;
            this.goneWaiters.delete(onGone);
            reject(new UsbScsiError(ErrorCodes.CANCELLED, 'aborted'));
          },
          { once: true },
        );
      });
      return done(new Uint8Array(0));
    }
    if (op === 0x12)
      return done(
        new Uint8Array(Buffer.from('fake inquiry'.padEnd(options.length ?? 36))).subarray(0, options.length ?? 36),
      );
    if (op === 0x03) {
      return { status: 2, sense: undefined, data: new Uint8Array(0), transferred: 0, residue: 0, durationNs: 1 };
    }
    if (op === 0x2a) {
      if (!options.allowMediumWrite) throw new UsbScsiError(ErrorCodes.BAD_INPUT, 'WRITE(10) needs consent');
      const lba = Buffer.from(cdb).readUInt32BE(2);
      const data = options.data!;
      for (let i = 0; i * 512 < data.length; i++) this.blocks.set(lba + i, data.slice(i * 512, (i + 1) * 512));
      return { ...done(new Uint8Array(0)), transferred: data.length, residue: 0 };
    }
    if (op === 0x28) {
      const lba = Buffer.from(cdb).readUInt32BE(2);
      const count = Buffer.from(cdb).readUInt16BE(7);
      const out = new Uint8Array(count * 512);
      for (let i = 0; i < count; i++) out.set(this.blocks.get(lba + i) ?? new Uint8Array(512), i * 512);
      return done(out);
    }
    return done(new Uint8Array(0));
  }

  async reset(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  unplug(): void {
    this.gone = true;
    const err = new UsbScsiError(ErrorCodes.DEVICE_GONE, 'fake device unplugged mid-command');
    for (const w of this.goneWaiters) w(err);
    this.goneWaiters.clear();
  }
}

export class FakeProvider implements DeviceProvider {
  readonly name = 'fake';
  readonly devices = new Map<string, { summary: DeviceSummary; device: FakeDevice }>();
  opens = 0;
  private listeners = new Set<(c: DeviceChange) => void>();

  add(id: string): FakeDevice {
    const summary: DeviceSummary = {
      id,
      backend: 'fake',
      vendorId: 0x1234,
      productId: 0x5678,
      location: id,
      product: 'Fake',
    };
    const device = new FakeDevice();
    this.devices.set(id, { summary, device });
    for (const l of this.listeners) l({ type: 'arrived', device: summary });
    return device;
  }

  unplug(id: string): void {
    const entry = this.devices.get(id);
    if (!entry) return;
    this.devices.delete(id);
    entry.device.unplug();
    for (const l of this.listeners) l({ type: 'left', device: entry.summary });
  }

  async list(): Promise<DeviceSummary[]> {
    return [...this.devices.values()].map((d) => d.summary);
  }

  async open(id: string): Promise<OpenedDevice> {
    const entry = this.devices.get(id);
    if (!entry) throw new UsbScsiError(ErrorCodes.DEVICE_GONE, `fake ${id} gone`);
    this.opens++;
    entry.device.closed = false;
    return entry.device;
  }

  watch(listener: (c: DeviceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
