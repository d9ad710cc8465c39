import { describe, expect, it } from 'vitest';
import { parseSmartReturnStatus } from './ata-smart.js';
import { decodeSense, encodeFixedSense, senseKeyName } from './sense.js';
import { expectBadInput } from './test-support.js';

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/), (h) => parseInt(h, 16));

describe('senseKeyName', () => {
  it('names every key (SPC-5 table 53)', () => {
    expect(senseKeyName(0x5)).toBe('ILLEGAL REQUEST');
    expect(senseKeyName(0x6)).toBe('UNIT ATTENTION');
    expect(senseKeyName(0xe)).toBe('MISCOMPARE');
    expect(senseKeyName(0xf)).toBe('COMPLETED');
    expect(senseKeyName(0x15)).toBe('ILLEGAL REQUEST'); // only the low nibble is the key
  });
});

describe('decodeSense, fixed format', () => {
  it('QEMU scsi_build_sense() for SENSE_CODE(INVALID_OPCODE): 18 bytes, key 5, 20/00', () => {
    // hw/scsi/scsi-bus.c / util/scsi: buf[0]=0x70, buf[2]=key, buf[7]=10, buf[12]=asc, buf[13]=ascq.
    const s = decodeSense(hex('70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00'));
    expect(s).toMatchObject({
      format: 'fixed',
      responseCode: 0x70,
      deferred: false,
      senseKey: 5,
      senseKeyName: 'ILLEGAL REQUEST',
      asc: 0x20,
      ascq: 0x00,
      ascText: 'INVALID COMMAND OPERATION CODE',
      filemark: false,
      endOfMedium: false,
      incorrectLength: false,
    });
    expect(s.information).toBeUndefined();
    expect(s.senseKeySpecific).toBeUndefined();
    expect(s.fieldReplaceableUnit).toBeUndefined();
  });

  it('INVALID FIELD IN CDB with a field pointer to CDB byte 1 bit 3 (SPC-5 table 56)', () => {
    const s = decodeSense(hex('70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cb 00 01'));
    expect(s.ascText).toBe('INVALID FIELD IN CDB');
    expect(s.senseKeySpecific).toEqual({ raw: 0xcb0001, fieldPointer: { commandData: true, bitPointer: 3, field: 1 } });
  });

  it('NOT READY, FORMAT IN PROGRESS with a progress indication of 8000h = 50 %', () => {
    const s = decodeSense(hex('70 00 02 00 00 00 00 0a 00 00 00 00 04 04 00 80 80 00'));
    expect(s.ascText).toBe('LOGICAL UNIT NOT READY, FORMAT IN PROGRESS');
    expect(s.senseKeySpecific).toMatchObject({ progress: 0x8000, progressPercent: 50 });
  });

  it('MEDIUM ERROR with VALID information (the failing LBA), ILI, FRU and retry count', () => {
    const s = decodeSense(hex('f1 00 23 00 01 23 45 0a 11 22 33 44 11 00 07 80 00 05'));
    expect(s).toMatchObject({
      responseCode: 0x71,
      deferred: true,
      senseKeyName: 'MEDIUM ERROR',
      incorrectLength: true,
      information: 0x12345n,
      commandSpecific: 0x11223344n,
      fieldReplaceableUnit: 7,
      ascText: 'UNRECOVERED READ ERROR',
    });
    expect(s.senseKeySpecific?.actualRetryCount).toBe(5);
  });

  it('tolerates short and lying buffers: 8 bytes give the key only; ADDITIONAL SENSE LENGTH is honoured', () => {
    const short = decodeSense(hex('70 00 06 00 00 00 00 0a'));
    expect(short).toMatchObject({ senseKey: 6, asc: 0, ascq: 0 });
    // additional length 0: bytes past byte 7 are not sense (Linux scsi_normalize_sense does the same)
    const lying = decodeSense(hex('70 00 06 00 00 00 00 00 00 00 00 00 29 00 00 00 00 00'));
    expect(lying.asc).toBe(0);
    expect(decodeSense(hex('70 00 03')).senseKey).toBe(3);
  });

  it('refuses what is not sense data, saying why', () => {
    expectBadInput(() => decodeSense(new Uint8Array(0)), /no sense bytes/);
    expectBadInput(() => decodeSense(hex('00 00 05 00')), /response code 0x0 is not sense data/);
    expectBadInput(() => decodeSense(hex('70 00')), /at least 3 bytes/);
    expectBadInput(() => decodeSense(hex('72 05 20')), /at least 4 bytes/);
  });

  it(
    'fixed-format ATA PASS-THROUGH information (SAT-4 §12.2.5, 00/1D): registers from ' +
      'INFORMATION and COMMAND-SPECIFIC',
    () => {
      // ERROR 00, STATUS 50, DEVICE 40, COUNT 00; EXTEND clear, LBA(7:0) 00, (15:8) 4F, (23:16) C2
      const s = decodeSense(hex('70 00 01 00 50 40 00 0a 00 00 4f c2 00 1d 00 00 00 00'));
      expect(s.ascText).toBe('ATA PASS THROUGH INFORMATION AVAILABLE');
      expect(s.ataStatusReturn).toEqual({
        error: 0,
        status: 0x50,
        device: 0x40,
        count: 0,
        lba: 0xc24f00n,
        extend: false,
      });
      expect(parseSmartReturnStatus(s).status).toBe('passed');
    },
  );
});

describe('decodeSense, descriptor format', () => {
  it('information (00h), command-specific (01h), SKS (02h), FRU (03h) and block-commands (05h) descriptors', () => {
    const s = decodeSense(
      hex(`72 03 11 00 00 00 00 2a
           00 0a 80 00 00 00 00 01 00 00 12 34
           01 0a 00 00 00 00 00 00 00 00 00 09
           02 06 00 00 80 00 03 00
           03 02 00 2a
           05 02 00 20`),
    );
    expect(s).toMatchObject({
      format: 'descriptor',
      senseKeyName: 'MEDIUM ERROR',
      ascText: 'UNRECOVERED READ ERROR',
      information: 0x100001234n,
      commandSpecific: 9n,
      fieldReplaceableUnit: 0x2a,
      incorrectLength: true,
    });
    expect(s.senseKeySpecific?.actualRetryCount).toBe(3);
    expect(s.descriptors?.map((d) => d.type)).toEqual([0x00, 0x01, 0x02, 0x03, 0x05]);
  });

  it('ATA Status Return descriptor (09h, SAT-4 table 207): SMART RETURN STATUS passed and failing', () => {
    // Sense key RECOVERED ERROR, 00/1D; LBA mid (byte 9) / LBA high (byte 11) of the descriptor.
    const passed = decodeSense(hex('72 01 00 1d 00 00 00 0e 09 0c 00 00 00 00 00 00 00 4f 00 c2 00 50'));
    expect(passed.ataStatusReturn).toEqual({
      extend: false,
      error: 0,
      count: 0,
      lba: 0xc24f00n,
      device: 0,
      status: 0x50,
    });
    expect(parseSmartReturnStatus(passed)).toEqual({ status: 'passed', lbaMid: 0x4f, lbaHigh: 0xc2 });
    const failing = decodeSense(hex('72 01 00 1d 00 00 00 0e 09 0c 00 00 00 00 00 00 00 f4 00 2c 00 50'));
    expect(parseSmartReturnStatus(failing)).toEqual({ status: 'failing', lbaMid: 0xf4, lbaHigh: 0x2c });
    expect(parseSmartReturnStatus(decodeSense(hex('72 05 24 00 00 00 00 00'))).status).toBe('unknown');
    expect(parseSmartReturnStatus(undefined).reason).toMatch(/CK_COND/);
  });

  it('48-bit ATA registers with EXTEND: LBA bytes interleave (31:24),(7:0),(39:32),(15:8),(47:40),(23:16)', () => {
    const s = decodeSense(hex('72 01 00 1d 00 00 00 0e 09 0c 01 04 01 02 56 bc 34 9a 12 78 40 51'));
    expect(s.ataStatusReturn).toEqual({
      extend: true,
      error: 4,
      count: 0x0102,
      lba: 0x123456789abcn,
      device: 0x40,
      status: 0x51,
    });
  });

  it('clips a truncated descriptor instead of reading past the end', () => {
    const s = decodeSense(hex('72 05 24 00 00 00 00 0c 00 0a 80 00 00 00'));
    expect(s.descriptors).toHaveLength(1);
    expect(s.descriptors?.[0]?.bytes.length).toBe(6);
    expect(s.information).toBeUndefined();
  });

  it('stream-commands descriptor (04h) carries FILEMARK/EOM/ILI', () => {
    const s = decodeSense(hex('72 00 00 01 00 00 00 04 04 02 00 c0'));
    expect(s).toMatchObject({
      filemark: true,
      endOfMedium: true,
      incorrectLength: false,
      ascText: 'FILEMARK DETECTED',
    });
  });
});

describe('encodeFixedSense', () => {
  it('builds the same 18 bytes QEMU returns for INVALID COMMAND OPERATION CODE', () => {
    expect(Array.from(encodeFixedSense({ key: 5, asc: 0x20, ascq: 0 }))).toEqual(
      Array.from(hex('70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00')),
    );
  });
  it('round-trips information, field pointer and progress through decodeSense', () => {
    const s = decodeSense(encodeFixedSense({ key: 3, asc: 0x11, ascq: 0, information: 0xdeadbeef }));
    expect(s).toMatchObject({ senseKey: 3, information: 0xdeadbeefn, ascText: 'UNRECOVERED READ ERROR' });
    expect(s.raw[0]).toBe(0xf0);
    const fp = decodeSense(
      encodeFixedSense({ key: 5, asc: 0x24, ascq: 0, fieldPointer: { commandData: true, field: 2, bitPointer: 7 } }),
    );
    expect(fp.senseKeySpecific?.fieldPointer).toEqual({ commandData: true, field: 2, bitPointer: 7 });
    const pr = decodeSense(encodeFixedSense({ key: 2, asc: 0x04, ascq: 0x04, progress: 0x4000, deferred: true }));
    expect(pr).toMatchObject({ deferred: true, senseKeySpecific: { progress: 0x4000, progressPercent: 25 } });
  });
});
