import { describe, expect, it } from 'vitest';
import { ScsiDevice } from './device.js';
import { DEFAULT_TIMEOUT_MS, ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from './transport.js';

/** Answers every CDB GOOD with a plausible READ CAPACITY, and keeps what it was asked. */
class RecordingTransport implements ScsiTransport {
  readonly kind = 'bot' as const;
  readonly maxLun = 0;
  readonly sent: ScsiRequest[] = [];
  async execute(req: ScsiRequest): Promise<ScsiResult> {
    this.sent.push(req);
    const data = req.direction === 'in' ? (req.data ?? new Uint8Array(0)) : new Uint8Array(0);
    if (req.cdb[0] === 0x25) data.set([0, 0, 0x0f, 0xff, 0, 0, 2, 0]);
    if (req.cdb[0] === 0x03) data.set([0x70, 0, 0, 0, 0, 0, 0, 10]);
    return { status: ScsiStatus.GOOD, data, transferred: data.length, residue: 0, durationNs: 0 };
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('the command timeout a device is opened with', () => {
  it('reaches INQUIRY, READ CAPACITY, REQUEST SENSE, TEST UNIT READY and raw commands sent without one', async () => {
    const transport = new RecordingTransport();
    const device = new ScsiDevice(transport, { commandTimeoutMs: 1234 });
    await device.inquiry();
    await device.readCapacity();
    await device.requestSense();
    await device.testUnitReady();
    await device.execute(Uint8Array.of(0, 0, 0, 0, 0, 0));
    expect(transport.sent.map((r) => r.timeoutMs)).toEqual([1234, 1234, 1234, 1234, 1234]);
    // A command's own timeout still wins.
    await device.testUnitReady({ timeoutMs: 99 });
    expect(transport.sent.at(-1)!.timeoutMs).toBe(99);
  });

  it('is 20 s when not given, and refused when not a positive whole number', () => {
    const transport = new RecordingTransport();
    expect(() => new ScsiDevice(transport, { commandTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(() => new ScsiDevice(transport, { commandTimeoutMs: 1.5 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    return new ScsiDevice(transport)
      .inquiry()
      .then(() => expect(transport.sent[0]!.timeoutMs).toBe(DEFAULT_TIMEOUT_MS));
  });
  it(
    "reaches the CDBs an NVMe bridge sends, where the caller's own per-call timeout still " +
      'wins and the phase default comes last',
    async () => {
      const selfTest = async (device: ScsiDevice, transport: RecordingTransport, timeoutMs?: number) => {
        const nvme = await device.nvme({ bridge: 'jmicron' });
        const before = transport.sent.length;
        // The recording transport answers zeros, so the completion is refused: only what was sent matters here.
        await nvme
          .selfTest('short', { allowMediumWrite: true, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })
          .catch(() => undefined);
        return transport.sent.slice(before).map((r) => r.timeoutMs);
      };
      const opened = new RecordingTransport();
      const withTimeout = new ScsiDevice(opened, { commandTimeoutMs: 1234 });
      expect(await selfTest(withTimeout, opened)).toEqual([1234, 1234, 1234]);
      expect(await selfTest(withTimeout, opened, 77)).toEqual([77, 77, 77]);
      const plain = new RecordingTransport();
      // Without either, the JMicron command and completion phases have their own 15 s.
      expect(await selfTest(new ScsiDevice(plain), plain)).toEqual([15_000, DEFAULT_TIMEOUT_MS, 15_000]);
    },
  );
});
