import { describe, expect, it } from 'vitest';
import { isUsbScsiError } from '../errors.js';
import {
  parseBlockLimits,
  parseDeviceIdentification,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseVpdPage,
} from './parse-vpd.js';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const page = (code: number, payload: number[]) =>
  Uint8Array.from([0x00, code, payload.length >> 8, payload.length & 0xff, ...payload]);

describe('VPD 00h / 80h', () => {
  it('supported pages as QEMU scsi-hd lists them (00, 80, 83, B0, B1, B2)', () => {
    expect(parseSupportedVpdPages(page(0x00, [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]))).toEqual([
      0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2,
    ]);
  });
  it('unit serial number, trimmed (USB devices pad with spaces)', () => {
    expect(parseUnitSerialNumber(page(0x80, ascii('  QM00001   ')))).toBe('QM00001');
  });
  it('checks the page code and the header', () => {
    let caught: unknown;
    try {
      parseUnitSerialNumber(page(0x83, []));
    } catch (err) {
      caught = err;
    }
    expect(isUsbScsiError(caught, 'E_BAD_INPUT')).toBe(true);
    expect((caught as Error).message).toMatch(/expected page 0x80, got 0x83/);
    expect(() => parseSupportedVpdPages(Uint8Array.of(0, 0, 0))).toThrow(/at least 4 bytes/);
  });
  it('clips the payload to what arrived when PAGE LENGTH claims more', () => {
    const short = Uint8Array.from([0x00, 0x00, 0x00, 0x10, 0x00, 0x80]);
    expect(parseSupportedVpdPages(short)).toEqual([0x00, 0x80]);
  });
});

describe('VPD 83h device identification', () => {
  // QEMU hw/scsi/scsi-disk.c case 0x83: ASCII vendor-specific device id, binary NAA wwn,
  // SAS/binary/PIV target-port NAA port_wwn (0x61 0x93), relative target port (0x61 0x94).
  const qemu = page(0x83, [
    0x02,
    0x00,
    0x00,
    0x07,
    ...ascii('QM00001'),
    0x01,
    0x03,
    0x00,
    0x08,
    0x50,
    0x00,
    0xc5,
    0x00,
    0x15,
    0xea,
    0x71,
    0xac,
    0x61,
    0x93,
    0x00,
    0x08,
    0x50,
    0x00,
    0xc5,
    0x00,
    0x15,
    0xea,
    0x71,
    0xad,
    0x61,
    0x94,
    0x00,
    0x04,
    0x00,
    0x00,
    0x00,
    0x01,
  ]);

  it('decodes QEMU designators: vendor specific, NAA (LU), NAA (target port, SAS), relative target port', () => {
    const ds = parseDeviceIdentification(qemu);
    expect(ds.map((d) => [d.typeName, d.associationName, d.codeSetName, d.value])).toEqual([
      ['vendor specific', 'logical unit', 'ASCII', 'QM00001'],
      ['NAA', 'logical unit', 'binary', '0x5000c50015ea71ac'],
      ['NAA', 'target port', 'binary', '0x5000c50015ea71ad'],
      ['relative target port', 'target port', 'binary', '1'],
    ]);
    expect(ds[2]?.protocolIdentifier).toBe(6); // SAS
    expect(ds[0]?.protocolIdentifier).toBeUndefined(); // PIV clear
  });

  it('T10 vendor ID (as Linux libata-scsi emits for SATA: "ATA" + model + serial), EUI-64, SCSI name string', () => {
    const ds = parseDeviceIdentification(
      page(0x83, [
        0x02,
        0x01,
        0x00,
        0x32,
        ...ascii('ATA     '),
        ...ascii('Samsung SSD 870 QVO 4TB '),
        ...ascii('S5STNF0W706332M   '),
        0x01,
        0x02,
        0x00,
        0x08,
        0x00,
        0x11,
        0x22,
        0x33,
        0x44,
        0x55,
        0x66,
        0x77,
        0x03,
        0x28,
        0x00,
        0x10,
        ...ascii('naa.5000C500A1B2'),
      ]),
    );
    expect(ds[0]).toMatchObject({
      typeName: 'T10 vendor ID',
      vendorId: 'ATA',
      value: 'ATA Samsung SSD 870 QVO 4TB S5STNF0W706332M',
    });
    expect(ds[1]).toMatchObject({ typeName: 'EUI-64', value: '0x0011223344556677' });
    expect(ds[2]).toMatchObject({
      typeName: 'SCSI name string',
      associationName: 'target device',
      codeSetName: 'UTF-8',
      value: 'naa.5000C500A1B2',
    });
  });

  it('clips a truncated last designator instead of throwing', () => {
    const truncated = qemu.subarray(0, 4 + 11 + 6);
    const ds = parseDeviceIdentification(truncated);
    expect(ds).toHaveLength(2);
    expect(ds[1]?.bytes.length).toBe(2);
  });

  it('parseVpdPage dispatches by page code', () => {
    expect(parseVpdPage(qemu).kind).toBe('device-identification');
    expect(parseVpdPage(page(0x80, ascii('X1')))).toEqual({
      kind: 'unit-serial-number',
      pageCode: 0x80,
      serialNumber: 'X1',
    });
    const raw = parseVpdPage(page(0xb1, [0x1c, 0x20]));
    expect(raw.kind).toBe('raw');
  });
});

describe('VPD B0h block limits (SBC-4 table 262)', () => {
  it('decodes a full 3Ch-byte page', () => {
    const p = new Array(0x3c).fill(0);
    p[0] = 0x01; // WSNZ
    p[1] = 0x01; // max compare and write length
    p[3] = 0x08; // optimal transfer length granularity 8
    p[6] = 0x08; // maximum transfer length 0x800
    p[11] = 0x80; // optimal transfer length 0x80
    p[16] = 0xff;
    p[17] = 0xff;
    p[18] = 0xff;
    p[19] = 0xff; // max unmap LBA count
    p[23] = 0x01; // max unmap block descriptor count
    p[27] = 0x08; // optimal unmap granularity
    p[28] = 0x80;
    p[31] = 0x02; // UGAVALID + alignment 2
    p[39] = 0x40; // max write same length 0x40
    const bl = parseBlockLimits(page(0xb0, p));
    expect(bl).toEqual({
      writeSameNonZero: true,
      maximumCompareAndWriteLength: 1,
      optimalTransferLengthGranularity: 8,
      maximumTransferLength: 0x800,
      optimalTransferLength: 0x80,
      maximumPrefetchLength: 0,
      maximumUnmapLbaCount: 0xffffffff,
      maximumUnmapBlockDescriptorCount: 1,
      optimalUnmapGranularity: 8,
      unmapGranularityAlignment: 2,
      maximumWriteSameLength: 0x40n,
    });
  });
  it('an older 0Ch-byte page leaves the later fields absent', () => {
    const p = new Array(0x0c).fill(0);
    p[6] = 0x01; // max transfer length 0x100
    const bl = parseBlockLimits(page(0xb0, p));
    expect(bl.maximumTransferLength).toBe(0x100);
    expect(bl.optimalTransferLength).toBe(0);
    expect(bl.maximumUnmapLbaCount).toBeUndefined();
    expect(bl.maximumWriteSameLength).toBeUndefined();
  });
});
