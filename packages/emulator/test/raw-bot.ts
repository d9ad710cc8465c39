/**
 * Raw-byte BOT host for the emulator's tests, written here on purpose: the
 * tests check the device against the spec's byte layout, not against core's codec.
 */
import { TransferStatus, type TransferResult, type UsbDeviceHandle } from '@usbscsi/core';
import { EmulatorBackend, SimulatedDevice, type SimulatedDeviceOptions } from '../src/index.js';

export const IN = 0x81;
export const OUT = 0x02;

let nextTag = 0x1000;

export function rawCbw(opts: {
  tag?: number;
  length: number;
  dirIn: boolean;
  lun?: number;
  cdb: ArrayLike<number>;
}): Uint8Array {
  const b = new Uint8Array(31);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x43425355, true);
  v.setUint32(4, opts.tag ?? nextTag++, true);
  v.setUint32(8, opts.length, true);
  b[12] = opts.dirIn ? 0x80 : 0x00;
  b[13] = opts.lun ?? 0;
  b[14] = opts.cdb.length;
  b.set(Array.from(opts.cdb), 15);
  return b;
}

export interface RawCsw {
  signature: number;
  tag: number;
  residue: number;
  status: number;
}

export function parseRawCsw(bytes: Uint8Array): RawCsw {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    signature: v.getUint32(0, true),
    tag: v.getUint32(4, true),
    residue: v.getUint32(8, true),
    status: v.getUint8(12),
  };
}

export interface RawExchange {
  tag: number;
  cbw: TransferResult;
  data?: TransferResult;
  /** data-in bytes received */
  bytes: Uint8Array;
  cswFirst?: TransferResult;
  cswResult: TransferResult;
  cswBytes: Uint8Array;
  csw: RawCsw;
  /** Endpoints we had to clear. */
  cleared: number[];
}

/**
 * One command, spec-style: CBW, data, CSW; a stalled data phase is cleared and the CSW still read, a stalled CSW
 * retried once.
 */
export async function command(
  handle: UsbDeviceHandle,
  cdb: ArrayLike<number>,
  opts: { in?: number; out?: Uint8Array; lun?: number; timeoutMs?: number; hostLength?: number; dirIn?: boolean } = {},
): Promise<RawExchange> {
  const tag = nextTag++;
  const timeout = opts.timeoutMs ?? 2000;
  const length = opts.hostLength ?? opts.in ?? opts.out?.length ?? 0;
  const dirIn = opts.dirIn ?? opts.in !== undefined;
  const cleared: number[] = [];
  const cbw = await handle.bulkOut(OUT, rawCbw({ tag, length, dirIn, lun: opts.lun ?? 0, cdb }), timeout);
  let data: TransferResult | undefined;
  let bytes = new Uint8Array(0);
  if (opts.in !== undefined) {
    const buf = new Uint8Array(opts.in);
    data = await handle.bulkIn(IN, buf, timeout);
    bytes = buf.subarray(0, data.actualLength);
    if (data.status === TransferStatus.STALL) {
      await handle.clearHalt(IN);
      cleared.push(IN);
    }
  } else if (opts.out !== undefined) {
    data = await handle.bulkOut(OUT, opts.out, timeout);
    if (data.status === TransferStatus.STALL) {
      await handle.clearHalt(OUT);
      cleared.push(OUT);
    }
  }
  const cswBuf = new Uint8Array(13);
  let cswResult = await handle.bulkIn(IN, cswBuf, timeout);
  let cswFirst: TransferResult | undefined;
  if (cswResult.status === TransferStatus.STALL) {
    cswFirst = cswResult;
    await handle.clearHalt(IN);
    cleared.push(IN);
    cswResult = await handle.bulkIn(IN, cswBuf, timeout);
  }
  return {
    tag,
    cbw,
    ...(data ? { data } : {}),
    bytes,
    ...(cswFirst ? { cswFirst } : {}),
    cswResult,
    cswBytes: cswBuf.subarray(0, cswResult.actualLength),
    csw: parseRawCsw(cswBuf),
    cleared,
  };
}

/** Reset recovery as §5.3.4 says: class reset, then clear halt on both bulk endpoints. */
export async function resetRecovery(handle: UsbDeviceHandle): Promise<void> {
  const r = await handle.controlTransfer(
    { requestType: 0x21, request: 0xff, value: 0, index: 0 },
    new Uint8Array(0),
    1000,
  );
  if (r.status !== TransferStatus.OK) throw new Error(`reset stalled`);
  await handle.clearHalt(IN);
  await handle.clearHalt(OUT);
}

export async function requestSense(handle: UsbDeviceHandle, lun = 0, desc = false): Promise<Uint8Array> {
  const r = await command(handle, [0x03, desc ? 1 : 0, 0, 0, 252, 0], { in: 252, lun });
  return r.bytes;
}

export async function openSim(
  options: SimulatedDeviceOptions = {},
): Promise<{ backend: EmulatorBackend; device: SimulatedDevice; handle: UsbDeviceHandle }> {
  const device = new SimulatedDevice(options);
  const backend = new EmulatorBackend({ devices: [device] });
  const [info] = await backend.list();
  const handle = await backend.open(info!);
  await handle.claimInterface(0);
  await handle.setAlternateSetting(0, 0);
  return { backend, device, handle };
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
export const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');
