import { describe, expect, it } from 'vitest';
import { isUsbScsiError } from '../errors.js';
import { parseInquiry, peripheralTypeName } from './parse-inquiry.js';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

// QEMU hw/scsi/scsi-disk.c scsi_disk_emulate_inquiry() for a scsi-hd with TCQ, 36-byte allocation:
// [0]=type 0, [1]=0 (not removable), [2]=5 (SPC-3), [3]=2|0x10 (format 2, HiSup), [4]=36-5,
// [7]=0x10|0x02 (Sync, CmdQue), vendor "QEMU", product "QEMU HARDDISK", version "2.5+".
const QEMU_INQUIRY = Uint8Array.from([
  0x00,
  0x00,
  0x05,
  0x12,
  0x1f,
  0x00,
  0x00,
  0x12,
  ...ascii('QEMU    '),
  ...ascii('QEMU HARDDISK   '),
  ...ascii('2.5+'),
]);

describe('parseInquiry', () => {
  it('decodes QEMU scsi-hd standard INQUIRY data', () => {
    const inq = parseInquiry(QEMU_INQUIRY);
    expect(inq).toMatchObject({
      peripheralQualifier: 0,
      peripheralType: 0,
      peripheralTypeName: 'direct access block device',
      removable: false,
      version: 5,
      versionName: 'SPC-3',
      responseDataFormat: 2,
      additionalLength: 31,
      vendor: 'QEMU',
      product: 'QEMU HARDDISK',
      revision: '2.5+',
    });
    expect(inq.flags).toMatchObject({ hierarchicalSupport: true, cmdQue: true, protect: false, multiPort: false });
    expect(inq.vendorSpecific).toBeUndefined();
  });

  it('a removable USB stick (RMB, SPC-4), with a vendor-specific serial past byte 36', () => {
    const data = Uint8Array.from([
      0x00,
      0x80,
      0x06,
      0x02,
      0x3b,
      0x00,
      0x00,
      0x00,
      ...ascii('SanDisk '),
      ...ascii('Cruzer Blade    '),
      ...ascii('1.00'),
      ...ascii('4C530001230508109451'),
      ...new Array(8).fill(0),
    ]);
    const inq = parseInquiry(data);
    expect(inq).toMatchObject({
      removable: true,
      versionName: 'SPC-4',
      vendor: 'SanDisk',
      product: 'Cruzer Blade',
      revision: '1.00',
      vendorSpecific: '4C530001230508109451',
    });
  });

  it('no device at this LUN: qualifier 3, type 1Fh', () => {
    const inq = parseInquiry(Uint8Array.from([0x7f, 0, 0, 0, 0]));
    expect(inq.peripheralQualifier).toBe(3);
    expect(inq.peripheralTypeName).toBe('unknown or no device type');
  });

  it('parses what a short response holds and never throws RangeError', () => {
    const inq = parseInquiry(QEMU_INQUIRY.subarray(0, 20));
    expect(inq.vendor).toBe('QEMU');
    expect(inq.product).toBe('QEMU');
    expect(inq.revision).toBe('');
  });

  it('throws E_BAD_INPUT below the 5-byte header', () => {
    let caught: unknown;
    try {
      parseInquiry(QEMU_INQUIRY.subarray(0, 4));
    } catch (err) {
      caught = err;
    }
    expect(isUsbScsiError(caught, 'E_BAD_INPUT')).toBe(true);
    expect((caught as Error).message).toMatch(/at least 5 bytes.*got 4/);
  });

  it('names device types per SPC-5 table 149', () => {
    expect(peripheralTypeName(0x05)).toBe('CD/DVD device');
    expect(peripheralTypeName(0x0e)).toBe('simplified direct access device');
    expect(peripheralTypeName(0x15)).toBe('reserved device type 0x15');
  });
});
