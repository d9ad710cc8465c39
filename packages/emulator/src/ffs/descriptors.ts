/**
 * FunctionFS descriptor and string blobs for a Bulk-Only mass-storage
 * function (Linux include/uapi/linux/usb/functionfs.h, V2 format).
 * Written to ep0 once, descriptors first, then strings; the kernel then
 * creates ep1 (bulk IN 0x81) and ep2 (bulk OUT 0x02), numbered in the order
 * the endpoint addresses first appear.
 */

const DESCRIPTORS_MAGIC_V2 = 3;
const STRINGS_MAGIC = 2;
const HAS_FS_DESC = 1;
const HAS_HS_DESC = 2;
const HAS_SS_DESC = 4;

export const FFS_BULK_IN = 0x81;
export const FFS_BULK_OUT = 0x02;

/** Interface 08/06/50 (mass storage, SCSI transparent, Bulk-Only), two bulk endpoints. */
function interfaceDescriptor(): number[] {
  return [9, 0x04, 0, 0, 2, 0x08, 0x06, 0x50, 1];
}

function bulkEndpoint(address: number, maxPacket: number): number[] {
  return [7, 0x05, address, 0x02, maxPacket & 0xff, maxPacket >> 8, 0];
}

/** SuperSpeed endpoint companion: no bursts, no streams. */
function ssCompanion(): number[] {
  return [6, 0x30, 0, 0, 0, 0];
}

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** Full-, high- and SuperSpeed descriptor sets (max packet 64 / 512 / 1024). */
export function massStorageDescriptors(): Uint8Array {
  const fs = [interfaceDescriptor(), bulkEndpoint(FFS_BULK_IN, 64), bulkEndpoint(FFS_BULK_OUT, 64)];
  const hs = [interfaceDescriptor(), bulkEndpoint(FFS_BULK_IN, 512), bulkEndpoint(FFS_BULK_OUT, 512)];
  const ss = [
    interfaceDescriptor(),
    bulkEndpoint(FFS_BULK_IN, 1024),
    ssCompanion(),
    bulkEndpoint(FFS_BULK_OUT, 1024),
    ssCompanion(),
  ];
  const body = [...le32(fs.length), ...le32(hs.length), ...le32(ss.length), ...[fs, hs, ss].flat(2)];
  const length = 12 + body.length;
  return Uint8Array.from([
    ...le32(DESCRIPTORS_MAGIC_V2),
    ...le32(length),
    ...le32(HAS_FS_DESC | HAS_HS_DESC | HAS_SS_DESC),
    ...body,
  ]);
}

/** One language (en-US, 0x0409) with the given strings; string 1 names the interface. */
export function functionStrings(strings: string[]): Uint8Array {
  const encoded = strings.flatMap((s) => [...Buffer.from(s, 'utf8'), 0]);
  const body = [...le32(strings.length), ...le32(1), 0x09, 0x04, ...encoded];
  return Uint8Array.from([...le32(STRINGS_MAGIC), ...le32(8 + body.length), ...body]);
}
