/**
 * A minimal pcapng writer: one Section Header Block, one Interface
 * Description Block, then Enhanced Packet Blocks. Everything is written in
 * the host's byte order, because the Linux usbmon header inside each packet
 * is host-endian and readers (Wireshark) interpret it in the byte order of
 * the section that holds it.
 */
import { endianness } from 'node:os';

/** LINKTYPE_USB_LINUX_MMAPPED: 64-byte usbmon header + data. */
export const LINKTYPE_USB_LINUX_MMAPPED = 220;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_SHB_USERAPPL = 4;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;

export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** Where the encoded blocks go (a file, a buffer in a test). */
export type PcapngSink = (chunk: Uint8Array) => void;

export interface PcapngWriterOptions {
  linkType?: number;
  /** 0 = no limit. */
  snapLength?: number;
  interfaceName?: string;
  application?: string;
  /** Defaults to the host's byte order. */
  littleEndian?: boolean;
}

const pad4 = (n: number): number => (n + 3) & ~3;

function encodeOptions(options: { code: number; value: Uint8Array }[], le: boolean): Uint8Array {
  if (options.length === 0) return new Uint8Array(0);
  const size = options.reduce((sum, o) => sum + 4 + pad4(o.value.length), 0) + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const o of options) {
    view.setUint16(at, o.code, le);
    view.setUint16(at + 2, o.value.length, le);
    out.set(o.value, at + 4);
    at += 4 + pad4(o.value.length);
  }
  view.setUint16(at, OPT_END, le);
  return out;
}

function block(type: number, body: Uint8Array, le: boolean): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, le);
  view.setUint32(4, total, le);
  out.set(body, 8);
  view.setUint32(total - 4, total, le);
  return out;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export class PcapngWriter {
  readonly littleEndian: boolean;
  readonly snapLength: number;
  private readonly sink: PcapngSink;

  constructor(sink: PcapngSink, options: PcapngWriterOptions = {}) {
    this.sink = sink;
    this.littleEndian = options.littleEndian ?? HOST_LITTLE_ENDIAN;
    this.snapLength = options.snapLength ?? 0;
    const le = this.littleEndian;

    const shbOptions = encodeOptions(
      options.application ? [{ code: OPT_SHB_USERAPPL, value: utf8(options.application) }] : [],
      le,
    );
    const shb = new Uint8Array(16 + shbOptions.length);
    const shbView = new DataView(shb.buffer);
    shbView.setUint32(0, BYTE_ORDER_MAGIC, le);
    shbView.setUint16(4, 1, le);
    shbView.setUint16(6, 0, le);
    shbView.setBigInt64(8, -1n, le); // section length unknown
    shb.set(shbOptions, 16);
    this.sink(block(BLOCK_SHB, shb, le));

    // microseconds
    const idbOpts: { code: number; value: Uint8Array }[] = [{ code: OPT_IF_TSRESOL, value: Uint8Array.of(6) }];
    if (options.interfaceName) idbOpts.unshift({ code: OPT_IF_NAME, value: utf8(options.interfaceName) });
    const idbOptions = encodeOptions(idbOpts, le);
    const idb = new Uint8Array(8 + idbOptions.length);
    const idbView = new DataView(idb.buffer);
    idbView.setUint16(0, options.linkType ?? LINKTYPE_USB_LINUX_MMAPPED, le);
    idbView.setUint16(2, 0, le);
    idbView.setUint32(4, this.snapLength, le);
    idb.set(idbOptions, 8);
    this.sink(block(BLOCK_IDB, idb, le));
  }

  /** One packet; `timestampUs` is microseconds since the epoch. */
  writePacket(packet: Uint8Array, timestampUs: bigint, originalLength = packet.length): void {
    const le = this.littleEndian;
    const body = new Uint8Array(20 + pad4(packet.length));
    const view = new DataView(body.buffer);
    view.setUint32(0, 0, le); // interface 0
    view.setUint32(4, Number(timestampUs >> 32n), le);
    view.setUint32(8, Number(timestampUs & 0xffffffffn), le);
    view.setUint32(12, packet.length, le);
    view.setUint32(16, originalLength, le);
    body.set(packet, 20);
    this.sink(block(BLOCK_EPB, body, le));
  }
}
