/**
 * Turns USB transfers into usbmon submit/complete records in a pcapng
 * stream. One recorder per trace file; several handles may share it (each
 * record carries its own bus and device number).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ErrorCodes, UsbScsiError, isUsbScsiError } from '../errors.js';
import { TransferStatus, type ControlSetup, type UsbDeviceInfo } from '../usb/backend.js';
import { buildConfigurationDescriptor, buildDeviceDescriptor } from './descriptors.js';
import { PcapngWriter, type PcapngSink, type PcapngWriterOptions } from './pcapng.js';
import { USBMON_HEADER_LENGTH, UrbStatus, UsbmonXfer, encodeUsbmon } from './usbmon.js';

export const URB_STATUS_OF: Record<TransferStatus, number> = {
  [TransferStatus.OK]: UrbStatus.OK,
  [TransferStatus.STALL]: UrbStatus.EPIPE,
  [TransferStatus.TIMEOUT]: UrbStatus.ETIMEDOUT,
  [TransferStatus.CANCELLED]: UrbStatus.ENOENT,
  [TransferStatus.OVERFLOW]: UrbStatus.EOVERFLOW,
};

/** URB status for a transfer that threw instead of resolving. */
export function urbStatusOfError(err: unknown): number {
  if (isUsbScsiError(err, ErrorCodes.DEVICE_GONE)) return UrbStatus.ENODEV;
  if (isUsbScsiError(err, ErrorCodes.TIMEOUT)) return UrbStatus.ETIMEDOUT;
  if (isUsbScsiError(err, ErrorCodes.CANCELLED)) return UrbStatus.ENOENT;
  return UrbStatus.EIO;
}

export interface DeviceAddressing {
  busNumber: number;
  deviceAddress: number;
}

export interface TransferSubmit {
  xferType: number;
  endpoint: number;
  length: number;
  setup?: Uint8Array;
  /** OUT data (captured on submit, as usbmon does). */
  data?: Uint8Array;
}

export interface TransferComplete {
  status: number;
  actualLength: number;
  /** IN data (captured on completion). */
  data?: Uint8Array;
}

export interface UsbTraceRecorderOptions {
  /** Bytes per record kept (header included); 0 = everything. */
  snapLength?: number;
  /** Microseconds since the epoch; injectable for tests. */
  clockUs?: () => bigint;
}

function wallClockUs(): () => bigint {
  const startWall = BigInt(Date.now()) * 1000n;
  const startMono = process.hrtime.bigint();
  return () => startWall + (process.hrtime.bigint() - startMono) / 1000n;
}

export function setupBytes(setup: ControlSetup, length: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = setup.requestType;
  b[1] = setup.request;
  v.setUint16(2, setup.value, true);
  v.setUint16(4, setup.index, true);
  v.setUint16(6, length, true);
  return b;
}

export class UsbTraceRecorder {
  private readonly writer: PcapngWriter;
  private readonly clockUs: () => bigint;
  private nextUrbId = 0xffff_8880_0000_1000n;
  /** Records written so far (both S and C). */
  records = 0;

  constructor(writer: PcapngWriter, options: UsbTraceRecorderOptions = {}) {
    this.writer = writer;
    this.clockUs = options.clockUs ?? wallClockUs();
  }

  /** Writes the submit record and returns the URB id its completion must carry. */
  submit(dev: DeviceAddressing, t: TransferSubmit): bigint {
    const urbId = this.nextUrbId;
    this.nextUrbId += 0x100n;
    const isIn = (t.endpoint & 0x80) !== 0;
    this.emit({
      urbId,
      type: 'S',
      xferType: t.xferType,
      endpoint: t.endpoint,
      ...dev,
      ...(t.setup ? { setup: t.setup } : {}),
      status: UrbStatus.EINPROGRESS,
      length: t.length,
      ...(t.data && !isIn ? { data: t.data } : { noDataFlag: isIn ? '<' : '-' }),
    });
    return urbId;
  }

  complete(urbId: bigint, dev: DeviceAddressing, xferType: number, endpoint: number, c: TransferComplete): void {
    const isIn = (endpoint & 0x80) !== 0;
    this.emit({
      urbId,
      type: 'C',
      xferType,
      endpoint,
      ...dev,
      status: c.status,
      length: c.actualLength,
      ...(c.data && isIn ? { data: c.data.subarray(0, c.actualLength) } : { noDataFlag: isIn ? '-' : '>' }),
    });
  }

  /**
   * The GET_DESCRIPTOR(DEVICE) and GET_DESCRIPTOR(CONFIGURATION) exchanges a
   * real enumeration would show, rebuilt from `info`, so that Wireshark knows
   * the interface is mass storage and decodes data, CSWs and sense.
   */
  describeDevice(info: UsbDeviceInfo): void {
    const dev = { busNumber: info.busNumber, deviceAddress: info.deviceAddress };
    const exchanges: [number, Uint8Array | undefined][] = [
      [0x0100, buildDeviceDescriptor(info)],
      [0x0200, buildConfigurationDescriptor(info)],
    ];
    for (const [value, descriptor] of exchanges) {
      if (!descriptor) continue;
      const setup = setupBytes({ requestType: 0x80, request: 0x06, value, index: 0 }, descriptor.length);
      const id = this.submit(dev, { xferType: UsbmonXfer.CONTROL, endpoint: 0x80, length: descriptor.length, setup });
      this.complete(id, dev, UsbmonXfer.CONTROL, 0x80, {
        status: UrbStatus.OK,
        actualLength: descriptor.length,
        data: descriptor,
      });
    }
  }

  private emit(record: Omit<Parameters<typeof encodeUsbmon>[0], 'timestampUs'>): void {
    const timestampUs = this.clockUs();
    const packet = encodeUsbmon({ ...record, timestampUs }, this.writer.littleEndian, this.writer.snapLength);
    this.writer.writePacket(packet, timestampUs, USBMON_HEADER_LENGTH + (record.data?.length ?? 0));
    this.records++;
  }
}

export interface TraceFile {
  readonly path: string;
  readonly recorder: UsbTraceRecorder;
  close(): void;
}

/**
 * Creates (truncates) `path` and writes the pcapng header. Every record is
 * written through at once, so a crash leaves a readable trace up to the last
 * transfer.
 */
export function openTraceFile(
  path: string,
  options: UsbTraceRecorderOptions & Omit<PcapngWriterOptions, 'linkType'> = {},
): TraceFile {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (err) {
    throw new UsbScsiError(
      ErrorCodes.BAD_INPUT,
      `Cannot create trace file ${path}: ${(err as Error).message}. Choose a writable path for --trace.`,
      {
        cause: err,
        details: { path },
      },
    );
  }
  let open = true;
  const sink: PcapngSink = (chunk) => {
    if (open) writeSync(fd, chunk);
  };
  const writer = new PcapngWriter(sink, { application: 'usbscsi', interfaceName: 'usbmon (usbscsi)', ...options });
  const recorder = new UsbTraceRecorder(writer, options);
  return {
    path,
    recorder,
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** A recorder writing into memory (tests, the daemon's trace download). */
export function memoryTrace(options: UsbTraceRecorderOptions & Omit<PcapngWriterOptions, 'linkType'> = {}): {
  recorder: UsbTraceRecorder;
  bytes(): Uint8Array;
} {
  const chunks: Uint8Array[] = [];
  const writer = new PcapngWriter((c) => chunks.push(c), options);
  return { recorder: new UsbTraceRecorder(writer, options), bytes: () => Buffer.concat(chunks) };
}
