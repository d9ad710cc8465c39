import { describe, expect, it } from 'vitest';
import { isUsbScsiError } from '../errors.js';
import {
  inquiryCdb,
  modeSense10Cdb,
  modeSense6Cdb,
  readBuffer10Cdb,
  receiveDiagnosticCdb,
  reportLunsCdb,
  requestSenseCdb,
  SelfTestCode,
  sendDiagnosticCdb,
  testUnitReadyCdb,
  writeBuffer10Cdb,
  WriteBufferMode,
} from './cdb-spc.js';

const bytes = (cdb: Uint8Array) => Array.from(cdb);
const badInput = (fn: () => unknown, text: RegExp) => {
  try {
    fn();
  } catch (err) {
    expect(isUsbScsiError(err, 'E_BAD_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected E_BAD_INPUT');
};

// Byte layouts: SPC-5 tables for each command (section named on each builder).
describe('INQUIRY', () => {
  it('standard data, 36 bytes: what `sg_raw /dev/sdX 12 00 00 00 24 00` sends', () => {
    expect(bytes(inquiryCdb())).toEqual([0x12, 0, 0, 0, 0x24, 0]);
  });
  it('VPD page with EVPD and a 16-bit allocation length', () => {
    expect(bytes(inquiryCdb({ vpdPage: 0x83, allocationLength: 0x200 }))).toEqual([0x12, 1, 0x83, 0x02, 0x00, 0]);
    expect(bytes(inquiryCdb({ vpdPage: 0x00 }))).toEqual([0x12, 1, 0, 0, 0xfc, 0]);
  });
  it('refuses lengths over 0xFFFF and pages over 0xFF', () => {
    badInput(() => inquiryCdb({ allocationLength: 0x10000 }), /allocationLength must be an integer from 0 to 65535/);
    badInput(() => inquiryCdb({ vpdPage: 0x100 }), /vpdPage/);
    badInput(() => inquiryCdb({ allocationLength: 1.5 }), /allocationLength/);
  });
});

describe('TEST UNIT READY / REQUEST SENSE', () => {
  it('TUR is six zero bytes', () => {
    expect(bytes(testUnitReadyCdb())).toEqual([0, 0, 0, 0, 0, 0]);
  });
  it('REQUEST SENSE with DESC and allocation length (max 255)', () => {
    expect(bytes(requestSenseCdb())).toEqual([0x03, 0, 0, 0, 252, 0]);
    expect(bytes(requestSenseCdb({ allocationLength: 18, descriptor: true }))).toEqual([0x03, 1, 0, 0, 18, 0]);
    badInput(() => requestSenseCdb({ allocationLength: 256 }), /0 to 255/);
  });
});

describe('MODE SENSE', () => {
  it('(6): DBD, page control, page and subpage', () => {
    expect(bytes(modeSense6Cdb())).toEqual([0x1a, 0, 0x3f, 0, 0xff, 0]);
    expect(
      bytes(
        modeSense6Cdb({ page: 0x08, pageControl: 'changeable', disableBlockDescriptors: true, allocationLength: 0x20 }),
      ),
    ).toEqual([0x1a, 0x08, 0x48, 0, 0x20, 0]);
    expect(bytes(modeSense6Cdb({ page: 0x3f, subpage: 0xff, pageControl: 'saved' }))).toEqual([
      0x1a, 0, 0xff, 0xff, 0xff, 0,
    ]);
  });
  it('(10): LLBAA and a 16-bit allocation length', () => {
    expect(
      bytes(
        modeSense10Cdb({ page: 0x1c, subpage: 0x01, pageControl: 'default', longLba: true, allocationLength: 0x1234 }),
      ),
    ).toEqual([0x5a, 0x10, 0x9c, 0x01, 0, 0, 0, 0x12, 0x34, 0]);
  });
  it('refuses a page over 0x3F, a 6-byte length over 255, LLBAA on (6), an unknown page control', () => {
    badInput(() => modeSense6Cdb({ page: 0x40 }), /page/);
    badInput(() => modeSense6Cdb({ allocationLength: 256 }), /allocationLength/);
    badInput(() => modeSense6Cdb({ longLba: true }), /MODE SENSE\(10\)/);
    badInput(() => modeSense10Cdb({ pageControl: 'bogus' as never }), /current, changeable, default, saved/);
    badInput(() => modeSense10Cdb({ allocationLength: 0x10000 }), /allocationLength/);
  });
});

describe('REPORT LUNS', () => {
  it('12 bytes, select report in byte 2, 32-bit allocation length in 6..9', () => {
    expect(bytes(reportLunsCdb({ allocationLength: 0x1000, selectReport: 2 }))).toEqual([
      0xa0, 0, 2, 0, 0, 0, 0, 0, 0x10, 0, 0, 0,
    ]);
  });
  it('refuses an allocation length under 16 (SPC-5 §6.33)', () => {
    badInput(() => reportLunsCdb({ allocationLength: 8 }), /at least 16/);
  });
});

describe('READ BUFFER / WRITE BUFFER (10)', () => {
  it('READ BUFFER descriptor mode (03h), buffer 0', () => {
    expect(bytes(readBuffer10Cdb({ mode: 0x03, length: 4 }))).toEqual([0x3c, 0x03, 0, 0, 0, 0, 0, 0, 4, 0]);
  });
  it('READ BUFFER data mode with 24-bit offset and length', () => {
    expect(bytes(readBuffer10Cdb({ mode: 0x02, bufferId: 1, offset: 0x123456, length: 0xabcdef }))).toEqual([
      0x3c, 0x02, 1, 0x12, 0x34, 0x56, 0xab, 0xcd, 0xef, 0,
    ]);
  });
  it('READ BUFFER error history (1Ch) with mode-specific bits', () => {
    expect(bytes(readBuffer10Cdb({ mode: 0x1c, modeSpecific: 1, bufferId: 0, length: 0x20 }))).toEqual([
      0x3c, 0x3c, 0, 0, 0, 0, 0, 0, 0x20, 0,
    ]);
  });
  it('WRITE BUFFER download microcode and save (05h): a 64 KiB image, length in bytes 6..8', () => {
    expect(
      bytes(writeBuffer10Cdb({ mode: WriteBufferMode.DOWNLOAD_MICROCODE_SAVE_ACTIVATE, length: 0x10000 })),
    ).toEqual([0x3b, 0x05, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0]);
  });
  it('WRITE BUFFER with offsets and save (07h), deferred (0Eh) and activate (0Fh)', () => {
    expect(bytes(writeBuffer10Cdb({ mode: 0x07, offset: 0x8000, length: 0x8000 }))).toEqual([
      0x3b, 0x07, 0, 0, 0x80, 0, 0, 0x80, 0, 0,
    ]);
    expect(bytes(writeBuffer10Cdb({ mode: 0x0e, offset: 0x10000, length: 0x1000 }))).toEqual([
      0x3b, 0x0e, 0, 0x01, 0, 0, 0, 0x10, 0, 0,
    ]);
    expect(bytes(writeBuffer10Cdb({ mode: 0x0f, length: 0 }))).toEqual([0x3b, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('refuses 24-bit overflow, a mode over 1Fh, and data with activate-deferred', () => {
    badInput(
      () => writeBuffer10Cdb({ mode: 0x07, offset: 0x1000000, length: 1 }),
      /offset must be an integer from 0 to 16777215/,
    );
    badInput(() => readBuffer10Cdb({ mode: 0x02, length: 0x1000000 }), /length/);
    badInput(() => readBuffer10Cdb({ mode: 0x20, length: 1 }), /mode/);
    badInput(() => writeBuffer10Cdb({ mode: 0x0f, length: 4 }), /carries no data/);
  });
});

describe('SEND DIAGNOSTIC / RECEIVE DIAGNOSTIC RESULTS', () => {
  it('default self-test: SELFTEST bit only (SPC-5 table 218, byte 1 bit 2)', () => {
    expect(bytes(sendDiagnosticCdb({ selfTest: true }))).toEqual([0x1d, 0x04, 0, 0, 0, 0]);
  });
  it('self-test codes in byte 1 bits 7-5 (SPC-5 table 219: 1 background short, 6 foreground extended)', () => {
    expect(bytes(sendDiagnosticCdb({ selfTestCode: SelfTestCode.BACKGROUND_SHORT }))).toEqual([0x1d, 0x20, 0, 0, 0, 0]);
    expect(bytes(sendDiagnosticCdb({ selfTestCode: SelfTestCode.FOREGROUND_EXTENDED }))).toEqual([
      0x1d, 0xc0, 0, 0, 0, 0,
    ]);
  });
  it('page format with a parameter list', () => {
    expect(bytes(sendDiagnosticCdb({ pageFormat: true, parameterListLength: 0x104 }))).toEqual([
      0x1d, 0x10, 0, 0x01, 0x04, 0,
    ]);
  });
  it('refuses a self-test code together with SELFTEST or a parameter list', () => {
    badInput(() => sendDiagnosticCdb({ selfTestCode: 1, selfTest: true }), /selfTest false/);
    badInput(() => sendDiagnosticCdb({ selfTestCode: 2, parameterListLength: 4 }), /parameterListLength 0/);
    badInput(() => sendDiagnosticCdb({ selfTestCode: 8 }), /selfTestCode/);
  });
  it('RECEIVE DIAGNOSTIC RESULTS page 0 with PCV', () => {
    expect(bytes(receiveDiagnosticCdb({ page: 0, allocationLength: 0xff }))).toEqual([0x1c, 1, 0, 0, 0xff, 0]);
    expect(bytes(receiveDiagnosticCdb())).toEqual([0x1c, 0, 0, 0x10, 0, 0]);
  });
});
