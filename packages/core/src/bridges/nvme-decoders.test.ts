import { describe, expect, it } from 'vitest';
import { adminCommandEffect, nvmeStatusText } from './nvme-admin.js';
import { isPlausibleIdentify, parseIdentifyController, parseIdentifyNamespace } from './nvme-identify.js';
import {
  criticalWarningText,
  parseErrorLog,
  parseFirmwareSlotLog,
  parseSelfTestLog,
  parseSmartLog,
} from './nvme-logs.js';

// Byte vectors laid out by hand at the offsets of the NVM Express Base Specification 2.0
// (Identify Controller Figure 275; SMART / Health log Figure 207; Error Information Figure 206;
// Firmware Slot Figure 208; Device Self-test Figures 211-212), which smartmontools'
// include/smartmon/nvme.h structs (nvme_id_ctrl, nvme_smart_log, nvme_error_log_page,
// nvme_self_test_log) follow too.

const put = (d: Uint8Array, at: number, bytes: number[]) => d.set(bytes, at);
const ascii = (d: Uint8Array, at: number, len: number, s: string) => {
  d.fill(0x20, at, at + len);
  d.set(Buffer.from(s, 'latin1'), at);
};

describe('Identify Controller', () => {
  it('decodes VID, serial, model, firmware, OUI, version, OACS, ELPE, thresholds, capacity, NN', () => {
    const d = new Uint8Array(4096);
    put(d, 0, [0x4d, 0x14, 0x4d, 0x14]); // VID / SSVID 144Dh
    ascii(d, 4, 20, 'S6XJNS0W413844M');
    ascii(d, 24, 40, 'Samsung Portable SSD T7');
    ascii(d, 64, 8, 'FXG42P2Q');
    put(d, 73, [0x38, 0x25, 0x00]); // OUI 002538h, least significant byte first
    put(d, 78, [0x05, 0x00]); // CNTLID
    put(d, 80, [0x00, 0x04, 0x01, 0x00]); // VER 1.4.0
    put(d, 256, [0x17, 0x00]); // OACS: security, format, firmware, self-test
    d[260] = 0x06; // FRMW: 3 slots
    d[262] = 0x3f; // ELPE 63 → 64 entries
    put(d, 266, [0x55, 0x01, 0x5f, 0x01]); // WCTEMP 341 K, CCTEMP 351 K
    put(d, 280, [0x00, 0x60, 0x11, 0xc1, 0xd1, 0x01]); // TNVMCAP 2,000,398,934,016 bytes
    put(d, 516, [0x01, 0x00, 0x00, 0x00]); // NN
    const id = parseIdentifyController(d);
    expect(id).toMatchObject({
      pciVendorId: 0x144d,
      serial: 'S6XJNS0W413844M',
      model: 'Samsung Portable SSD T7',
      firmware: 'FXG42P2Q',
      ieeeOui: 0x002538,
      controllerId: 5,
      versionString: '1.4',
      supportsSelfTest: true,
      supportsFirmwareDownload: true,
      supportsFormat: true,
      firmwareSlots: 3,
      errorLogEntries: 64,
      warningTempKelvin: 341,
      criticalTempKelvin: 351,
      totalCapacity: 2_000_398_934_016n,
      namespaces: 1,
    });
    expect(isPlausibleIdentify(id)).toBe(true);
    expect(
      isPlausibleIdentify(parseIdentifyController(new Uint8Array(4096))),
      'all zeros (a Realtek with a SATA drive)',
    ).toBe(false);
    expect(() => parseIdentifyController(new Uint8Array(512))).toThrow(/512 of 4096/);
  });

  it('Identify Namespace: sizes and the formatted LBA size', () => {
    const d = new Uint8Array(4096);
    put(d, 0, [0xb0, 0x6d, 0x70, 0x74, 0, 0, 0, 0]); // NSZE 1953525168
    d[25] = 1; // two formats
    d[26] = 1; // FLBAS: format 1
    d[130] = 9;
    d[134] = 12;
    const ns = parseIdentifyNamespace(d);
    expect(ns.size).toBe(1_953_525_168n);
    expect(ns.blockSize).toBe(4096);
    expect(ns.lbaFormats.map((f) => f.blockSize)).toEqual([512, 4096]);
  });
});

describe('SMART / Health Information log (02h)', () => {
  it('decodes every field at its offset (128-bit counters little-endian)', () => {
    const d = new Uint8Array(512);
    d[0] = 0x05; // spare below threshold + reliability degraded
    put(d, 1, [0x41, 0x01]); // 321 K
    d[3] = 7;
    d[4] = 10;
    d[5] = 104;
    put(d, 32, [0x15, 0xcd, 0x5b, 0x07]); // data units read 123456789
    put(d, 48, [0x01, 0, 0, 0, 0, 0, 0, 0, 0x01]); // 2^64 + 1: above 64 bits
    put(d, 64, [0x10]);
    put(d, 80, [0x20]);
    put(d, 96, [0x30]);
    put(d, 112, [0x9c, 0x01]); // 412
    put(d, 128, [0x51, 0x07]); // 1873
    put(d, 144, [0x25]);
    put(d, 160, [0x03]);
    put(d, 176, [0x02]);
    put(d, 192, [0x0a, 0, 0, 0, 0x01, 0, 0, 0]);
    put(d, 200, [0x3b, 0x01, 0x41, 0x01]); // sensors 315 K, 321 K
    const s = parseSmartLog(d);
    expect(s).toMatchObject({
      criticalWarning: 5,
      temperatureKelvin: 321,
      availableSpare: 7,
      availableSpareThreshold: 10,
      percentageUsed: 104,
      dataUnitsRead: 123_456_789n,
      dataUnitsWritten: (1n << 64n) + 1n,
      hostReads: 16n,
      hostWrites: 32n,
      controllerBusyTime: 48n,
      powerCycles: 412n,
      powerOnHours: 1873n,
      unsafeShutdowns: 37n,
      mediaErrors: 3n,
      errorLogEntries: 2n,
      warningTempTime: 10,
      criticalTempTime: 1,
      temperatureSensorsKelvin: [315, 321],
    });
    expect(criticalWarningText(0x05)).toEqual([
      'available spare below threshold',
      'NVM subsystem reliability degraded',
    ]);
    expect(() => parseSmartLog(new Uint8Array(100))).toThrow(/100 of 512/);
  });
});

describe('Error Information (01h), Firmware Slot (03h), Device Self-test (06h)', () => {
  it('error log entries: count, SQID, CID, status without the phase tag, LBA, NSID; empty ones skipped', () => {
    const d = new Uint8Array(128);
    put(d, 0, [0x07]); // error count 7
    put(d, 8, [0x01, 0x00, 0x34, 0x12]); // SQID 1, CID 1234h
    put(d, 12, [0x05, 0x00]); // status field: SC 02h << 1 | phase 1
    put(d, 14, [0x28, 0x00]);
    put(d, 16, [0xff, 0x00]);
    put(d, 24, [0x01, 0, 0, 0]);
    const e = parseErrorLog(d);
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({
      errorCount: 7n,
      submissionQueueId: 1,
      commandId: 0x1234,
      status: 2,
      phaseTag: true,
      parameterErrorLocation: 0x28,
      lba: 255n,
      nsid: 1,
    });
    expect(e[0]!.statusText).toBe('Invalid Field in Command (SCT 0, SC 0x02)');
  });

  it('firmware slots: active and next slot in byte 0, revisions at 8 + 8n', () => {
    const d = new Uint8Array(512);
    d[0] = 0x21; // active 1, next reset 2
    ascii(d, 8, 8, 'FW100');
    ascii(d, 16, 8, 'FW200');
    expect(parseFirmwareSlotLog(d)).toEqual({
      activeSlot: 1,
      nextResetSlot: 2,
      slots: ['FW100', 'FW200', '', '', '', '', ''],
    });
  });

  it(
    'self-test log: current operation and percent, 28-byte results, unused entries (code ' + '0 / result Fh) skipped',
    () => {
      const d = new Uint8Array(564);
      d[0] = 0x2; // extended in progress
      d[1] = 40;
      d[4] = 0x17; // short, failed segments
      d[5] = 3; // segment
      d[6] = 0x0f; // NSID, FLBA, SCT, SC valid
      put(d, 8, [0x10, 0x27]); // POH 10000
      put(d, 16, [0x01, 0, 0, 0]);
      put(d, 20, [0x00, 0x10]); // LBA 4096
      d[28] = 0x2;
      d[29] = 0x81;
      d[32] = 0x10; // short, OK
      d[60] = 0x1f; // unused (result Fh)
      const log = parseSelfTestLog(d);
      expect(log).toMatchObject({
        currentOperation: 2,
        currentOperationText: 'Extended self-test in progress',
        currentCompletionPercent: 40,
        slotsRead: 20,
      });
      expect(log.results).toHaveLength(2);
      expect(log.results[0]).toMatchObject({
        codeText: 'Short',
        resultText: 'Completed: failed segments',
        segment: 3,
        powerOnHours: 10000n,
        nsid: 1,
        lba: 4096n,
        statusCodeType: 2,
        statusCode: 0x81,
      });
      expect(parseSelfTestLog(d.subarray(0, 0x218)).slotsRead).toBe(19);
    },
  );
});

describe('which admin commands change the medium (the consent allowlist)', () => {
  it.each([
    [0x06, 'in', 'read'],
    [0x02, 'in', 'read'],
    [0x0a, 'none', 'read'],
    [0x09, 'none', 'write'],
    [0x14, 'none', 'write'],
    [0x11, 'out', 'write'],
    [0x10, 'none', 'write'],
    [0x80, 'none', 'write'],
    [0x84, 'none', 'write'],
    [0x81, 'out', 'write'],
    [0xc0, 'in', 'write'],
    [0x7f, 'none', 'write'],
  ] as const)('opcode %i (%s) is %s', (opcode, direction, effect) => {
    expect(adminCommandEffect({ opcode, direction }).effect).toBe(effect);
  });

  it('a read-only opcode sending data is not read-only', () => {
    expect(adminCommandEffect({ opcode: 0x06, direction: 'out' }).effect).toBe('write');
  });

  it('status text names the command-specific codes', () => {
    expect(nvmeStatusText(0x11d)).toBe('Device Self-test In Progress (SCT 1, SC 0x1d)');
  });
});
