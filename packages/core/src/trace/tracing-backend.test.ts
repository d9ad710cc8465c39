import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genericBotExchange } from '../bot/generic-exchange.js';
import {
  TransferStatus,
  type BotExchangeRequest,
  type BotExchangeResult,
  type TransferResult,
  type UsbBackend,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
} from '../usb/backend.js';
import { memoryTrace, openTraceFile } from './recorder.js';
import { TracingBackend } from './tracing-backend.js';

// A scripted device: bulk-out accepts everything, bulk-in hands out queued replies.
const INFO: UsbDeviceInfo = {
  backend: 'scripted',
  id: 'scripted-1',
  vendorId: 0x0781,
  productId: 0x5567,
  busNumber: 1,
  deviceAddress: 5,
  portNumbers: [2],
  speed: 'high',
  configurations: [
    {
      configurationValue: 1,
      interfaces: [
        {
          interfaceNumber: 0,
          alternateSetting: 0,
          interfaceClass: 0x08,
          interfaceSubClass: 0x06,
          interfaceProtocol: 0x50,
          endpoints: [
            { address: 0x81, transferType: 'bulk', maxPacketSize: 512 },
            { address: 0x02, transferType: 'bulk', maxPacketSize: 512 },
          ],
        },
      ],
    },
  ],
};

type Reply = Uint8Array | 'stall';

function scriptedBackend(replies: Reply[], withFastPath: boolean): UsbBackend {
  const handle: UsbDeviceHandle = {
    info: INFO,
    capabilities: { fdStreaming: true, kernelDriver: false },
    claimInterface: async () => {},
    releaseInterface: async () => {},
    setAlternateSetting: async () => {},
    kernelDriverActive: async () => false,
    detachKernelDriver: async () => {},
    attachKernelDriver: async () => {},
    controlTransfer: async (_setup, data) => ({
      status: TransferStatus.OK,
      actualLength: typeof data === 'number' ? 0 : data.length,
    }),
    bulkOut: async (_ep, data): Promise<TransferResult> => ({ status: TransferStatus.OK, actualLength: data.length }),
    bulkIn: async (_ep, buffer): Promise<TransferResult> => {
      const next = replies.shift();
      if (!next || next === 'stall') return { status: TransferStatus.STALL, actualLength: 0 };
      buffer.set(next.subarray(0, buffer.length));
      return { status: TransferStatus.OK, actualLength: Math.min(next.length, buffer.length) };
    },
    clearHalt: async () => {},
    resetDevice: async () => {},
    close: async () => {},
    botExchange: withFastPath
      ? async (req: BotExchangeRequest): Promise<BotExchangeResult> => {
          const result: BotExchangeResult = { cbw: { status: TransferStatus.OK, actualLength: 31 } };
          if (req.data && 'buffer' in req.data) {
            const r = replies.shift() as Uint8Array;
            req.data.buffer.set(r);
            result.data = { status: TransferStatus.OK, actualLength: r.length };
          }
          const csw = replies.shift() as Uint8Array;
          result.csw = { status: TransferStatus.OK, actualLength: 13, bytes: csw };
          return result;
        }
      : (req) => genericBotExchange(handle, req),
  };
  return { name: 'scripted', list: async () => [INFO], open: async () => handle };
}

function cbw(tag: number, length: number, dirIn: boolean, cdb: number[]): Uint8Array {
  const b = new Uint8Array(31);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x43425355, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, length, true);
  b[12] = dirIn ? 0x80 : 0;
  b[14] = cdb.length;
  b.set(cdb, 15);
  return b;
}
function csw(tag: number, status: number, residue = 0): Uint8Array {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x53425355, true);
  v.setUint32(4, tag, true);
  v.setUint32(8, residue, true);
  b[12] = status;
  return b;
}
const inquiryData = (() => {
  const b = new Uint8Array(36);
  b[2] = 0x06;
  b[3] = 0x02;
  b[4] = 31;
  b.set(new TextEncoder().encode('USBSCSI ' + 'TRACE TARGET    ' + '1.00'), 8);
  return b;
})();
const senseData = Uint8Array.from([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00, 0, 0, 0, 0]);

/** Drives the handle the way BotTransport does; returns the pcapng bytes or path. */
async function runSession(backend: UsbBackend) {
  const handle = await backend.open(INFO);
  const inq = new Uint8Array(36);
  await handle.bulkOut(0x02, cbw(1, 36, true, [0x12, 0, 0, 0, 36, 0]), 1000);
  await handle.bulkIn(0x81, inq, 1000);
  await handle.bulkIn(0x81, new Uint8Array(13), 1000);
  // TEST UNIT READY fails; REQUEST SENSE fetches the reason.
  await handle.bulkOut(0x02, cbw(2, 0, false, [0x00, 0, 0, 0, 0, 0]), 1000);
  await handle.bulkIn(0x81, new Uint8Array(13), 1000);
  await handle.bulkOut(0x02, cbw(3, 18, true, [0x03, 0, 0, 0, 18, 0]), 1000);
  await handle.bulkIn(0x81, new Uint8Array(18), 1000);
  await handle.bulkIn(0x81, new Uint8Array(13), 1000);
  // A stalled data phase, cleared.
  await handle.bulkOut(0x02, cbw(4, 512, true, [0x28, 0, 0, 0, 0, 9, 0, 0, 1, 0]), 1000);
  const stalled = await handle.bulkIn(0x81, new Uint8Array(512), 1000);
  await handle.clearHalt(0x81);
  await handle.bulkIn(0x81, new Uint8Array(13), 1000);
  // READ(10) through the handle's exchange (an engine's or the generic one).
  const read10 = cbw(5, 512, true, [0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0]);
  await handle.botExchange({
    cbw: read10,
    outEndpoint: 0x02,
    inEndpoint: 0x81,
    data: { direction: 'in', buffer: new Uint8Array(512) },
    timeoutMs: 1000,
  });
  await handle.close();
  return { handle, stalled };
}

const replies = (): Reply[] => [
  inquiryData,
  csw(1, 0),
  csw(2, 1),
  senseData,
  csw(3, 0),
  'stall',
  csw(4, 1, 512),
  new Uint8Array(512).fill(0xab),
  csw(5, 0),
];

/** Parses EPBs back out of a little/host-endian pcapng: the usbmon headers. */
function usbmonRecords(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = v.getUint32(8, true) === 0x1a2b3c4d;
  const out: {
    id: bigint;
    type: string;
    xfer: number;
    ep: number;
    status: number;
    length: number;
    lenCap: number;
    data: Uint8Array;
  }[] = [];
  let at = 0;
  while (at < bytes.length) {
    const type = v.getUint32(at, le);
    const total = v.getUint32(at + 4, le);
    if (type === 6) {
      const p = at + 28;
      out.push({
        id: v.getBigUint64(p, le),
        type: String.fromCharCode(bytes[p + 8]!),
        xfer: bytes[p + 9]!,
        ep: bytes[p + 10]!,
        status: v.getInt32(p + 28, le),
        length: v.getUint32(p + 32, le),
        lenCap: v.getUint32(p + 36, le),
        data: bytes.subarray(p + 64, p + 64 + v.getUint32(p + 36, le)),
      });
    }
    at += total;
  }
  return out;
}

describe('TracingBackend records usbmon submit/complete pairs', () => {
  it(
    'pairs every submit with a complete of the same URB id, -115 on submit, -32 on a ' + 'stall, IN data on complete',
    async () => {
      const trace = memoryTrace();
      const { stalled } = await runSession(new TracingBackend(scriptedBackend(replies(), false), trace.recorder));
      expect(stalled.status).toBe(TransferStatus.STALL);
      const recs = usbmonRecords(trace.bytes());
      // 2 descriptor exchanges, 14 bulk transfers, 1 CLEAR_FEATURE.
      expect(recs).toHaveLength(2 * (2 + 14 + 1));
      for (let i = 0; i < recs.length; i += 2) {
        expect(recs[i]!.type).toBe('S');
        expect(recs[i + 1]!.type).toBe('C');
        expect(recs[i + 1]!.id).toBe(recs[i]!.id);
        expect(recs[i]!.status).toBe(-115);
      }
      const config = recs[3]!;
      expect(config.xfer).toBe(2);
      expect([...config.data.subarray(9, 18)]).toEqual([9, 4, 0, 0, 2, 8, 6, 0x50, 0]);
      const stallComplete = recs.find((r) => r.type === 'C' && r.status === -32);
      expect(stallComplete?.ep).toBe(0x81);
      const inquiryComplete = recs[7]!;
      expect(inquiryComplete.lenCap).toBe(36);
      expect(Buffer.from(inquiryComplete.data.subarray(8, 16)).toString()).toBe('USBSCSI ');
      const cbwSubmit = recs[4]!;
      expect(cbwSubmit.ep).toBe(0x02);
      expect(cbwSubmit.lenCap).toBe(31);
    },
  );

  it('hides fd streaming but runs the wrapped engine exchange, writing its phases as bulk URBs', async () => {
    const trace = memoryTrace();
    const backend = new TracingBackend(scriptedBackend(replies(), true), trace.recorder);
    const handle = await backend.open(INFO);
    expect(handle.capabilities).toMatchObject({ fdStreaming: false });
    expect(typeof handle.botExchange).toBe('function');
  });

  it('reports a file it cannot create as E_BAD_INPUT naming --trace', () => {
    expect(() => openTraceFile('/nonexistent-dir/x.pcapng')).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT', message: expect.stringContaining('--trace') }),
    );
  });
});

const tshark = spawnSync('tshark', ['--version']).status === 0;

describe.skipIf(!tshark)(
  `tshark decodes the trace${tshark ? '' : ' (SKIPPED: tshark is not installed; apt-get install tshark)'}`,
  () => {
    for (const fastPath of [false, true]) {
      it(
        `CBWs, opcodes, INQUIRY vendor, sense key (` + `${fastPath ? 'engine exchange' : 'generic exchange'})`,
        async () => {
          const dir = mkdtempSync(join(tmpdir(), 'usbscsi-trace-'));
          const file = openTraceFile(join(dir, 't.pcapng'));
          await runSession(new TracingBackend(scriptedBackend(replies(), fastPath), file.recorder));
          file.close();
          expect(readFileSync(file.path).length).toBeGreaterThan(500);
          // tshark prints a warning on stderr when run as root: only stdout and the exit code matter.
          const out = execFileSync(
            'tshark',
            [
              '-r',
              file.path,
              '-T',
              'fields',
              '-E',
              'separator=|',
              '-e',
              'usbms.dCBWTag',
              '-e',
              'scsi_sbc.opcode',
              '-e',
              'scsi.inquiry.vendor_id',
              '-e',
              'scsi.sns.key',
            ],
            {
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'ignore'],
            },
          );
          const rows = out
            .trim()
            .split('\n')
            .map((l) => l.split('|'));
          const opcodes = rows.map((r) => r[1]).filter(Boolean);
          expect(opcodes).toEqual(expect.arrayContaining(['0x12', '0x00', '0x03', '0x28']));
          expect(rows.some((r) => r[2]?.trim() === 'USBSCSI')).toBe(true);
          expect(rows.some((r) => r[3] === '0x05')).toBe(true);
          const tags = new Set(rows.map((r) => r[0]).filter(Boolean));
          expect(tags).toEqual(new Set(['0x00000001', '0x00000002', '0x00000003', '0x00000004', '0x00000005']));
        },
      );
    }
  },
);
