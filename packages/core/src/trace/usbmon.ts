/**
 * The Linux usbmon binary ("mmapped", 64-byte) packet header, as
 * LINKTYPE_USB_LINUX_MMAPPED carries it (include/uapi/linux/usb/... mon_bin.c
 * `struct mon_bin_hdr`). Host byte order, matching the pcapng section.
 */

export const USBMON_HEADER_LENGTH = 64;

export const UsbmonXfer = { ISO: 0, INTERRUPT: 1, CONTROL: 2, BULK: 3 } as const;

/** Linux errno values usbmon reports as URB status. */
export const UrbStatus = {
  OK: 0,
  /** Submit records always carry -EINPROGRESS. */
  EINPROGRESS: -115,
  /** Endpoint stalled. */
  EPIPE: -32,
  ETIMEDOUT: -110,
  /** URB killed (cancelled). */
  ENOENT: -2,
  EOVERFLOW: -75,
  ENODEV: -19,
  EIO: -5,
} as const;

export interface UsbmonRecord {
  urbId: bigint;
  type: 'S' | 'C' | 'E';
  xferType: number;
  /** Endpoint address with bit 7 = IN. */
  endpoint: number;
  deviceAddress: number;
  busNumber: number;
  /** 8-byte setup packet (control submits only). */
  setup?: Uint8Array;
  timestampUs: bigint;
  status: number;
  /** URB length: requested on submit, actual on complete. */
  length: number;
  /** The bytes captured (at most `length`); absent = none. */
  data?: Uint8Array;
  /** Why no data was captured: '<' IN submit, '>' OUT complete (usbmon convention). */
  noDataFlag?: string;
}

export function encodeUsbmon(record: UsbmonRecord, littleEndian: boolean, snapLength = 0): Uint8Array {
  const full = record.data ?? new Uint8Array(0);
  const captured =
    snapLength > USBMON_HEADER_LENGTH && full.length > snapLength - USBMON_HEADER_LENGTH
      ? full.subarray(0, snapLength - USBMON_HEADER_LENGTH)
      : full;
  const out = new Uint8Array(USBMON_HEADER_LENGTH + captured.length);
  const v = new DataView(out.buffer);
  const le = littleEndian;
  v.setBigUint64(0, record.urbId, le);
  v.setUint8(8, record.type.charCodeAt(0));
  v.setUint8(9, record.xferType);
  v.setUint8(10, record.endpoint & 0xff);
  v.setUint8(11, record.deviceAddress & 0x7f);
  v.setUint16(12, record.busNumber & 0xffff, le);
  v.setUint8(14, record.setup ? 0 : '-'.charCodeAt(0));
  v.setUint8(15, record.data ? 0 : (record.noDataFlag ?? '-').charCodeAt(0));
  v.setBigInt64(16, record.timestampUs / 1_000_000n, le);
  v.setInt32(24, Number(record.timestampUs % 1_000_000n), le);
  v.setInt32(28, record.status, le);
  v.setUint32(32, record.length, le);
  v.setUint32(36, captured.length, le);
  if (record.setup) out.set(record.setup.subarray(0, 8), 40);
  // interval, start_frame, xfer_flags, ndesc stay 0.
  out.set(captured, USBMON_HEADER_LENGTH);
  return out;
}
