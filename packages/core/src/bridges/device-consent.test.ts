import { describe, expect, it } from 'vitest';
import { ScsiDevice } from '../device.js';
import { ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from '../transport.js';
import { detectBridge } from './detect.js';

// Consent through ScsiDevice: a bridge's vendor CDBs carry the effect of the NVMe command they
// hold. Read-only admin commands go out without --yes even as vendor data-out CDBs (ASMedia
// EAh, Realtek E5h), writes need consent and are refused on a mounted medium.

/** Answers every CDB GOOD; data-in is zeros except a 16-byte completion with DW0 = 0x157. */
class RecordingTransport implements ScsiTransport {
  readonly kind = 'bot' as const;
  readonly maxLun = 0;
  readonly sent: ScsiRequest[] = [];
  constructor(private readonly answer: (req: ScsiRequest) => Partial<ScsiResult> | undefined = () => undefined) {}
  async execute(req: ScsiRequest): Promise<ScsiResult> {
    this.sent.push(req);
    const length = req.direction === 'in' ? (req.data?.length ?? 0) : 0;
    const data = req.direction === 'in' ? (req.data ?? new Uint8Array(0)) : new Uint8Array(0);
    if (length === 16) data.set([0x57, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    return { status: ScsiStatus.GOOD, data, transferred: length, residue: 0, durationNs: 0, ...this.answer(req) };
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('NVMe admin consent through ScsiDevice', () => {
  it.each(['asmedia', 'realtek'] as const)(
    '%s: Get Features (read-only) needs no consent although its command CDB is a vendor data-out',
    async (bridge) => {
      const transport = new RecordingTransport();
      const device = new ScsiDevice(transport);
      // The same vendor data-out CDB sent raw is refused without consent: only the bridge's declaration lets it
      // through.
      const nvme = await device.nvme({ bridge });
      expect(await nvme.getFeature(0x04)).toBe(0x157);
      expect(transport.sent[0]!.direction).toBe('out');
      expect(transport.sent[0]!.cdb[0]).toBeGreaterThanOrEqual(0xc0);
      await expect(
        device.execute(transport.sent[0]!.cdb, { direction: 'out', data: transport.sent[0]!.data! }),
      ).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    },
  );

  it('Device Self-test without consent is refused before anything is sent', async () => {
    const transport = new RecordingTransport();
    const nvme = await new ScsiDevice(transport).nvme({ bridge: 'realtek' });
    await expect(nvme.selfTest('short')).rejects.toMatchObject({
      code: 'E_BAD_INPUT',
      message: expect.stringMatching(/--yes/),
    });
    expect(transport.sent).toEqual([]);
  });

  it('Device Self-test with consent is refused on a mounted medium, nothing sent', async () => {
    const transport = new RecordingTransport();
    const device = new ScsiDevice(transport, {
      mounts: async () => [{ device: '/dev/sda1', mountPoint: '/media/ssd' }],
    });
    const nvme = await device.nvme({ bridge: 'realtek' });
    await expect(nvme.selfTest('short', { allowMediumWrite: true })).rejects.toMatchObject({ code: 'E_MOUNTED' });
    expect(transport.sent).toEqual([]);
    // A read-only command still works on the mounted medium.
    expect(await nvme.getFeature(0x04)).toBe(0x157);
  });
});

describe('detection on a device with no USB descriptors (SG_IO, the daemon)', () => {
  it(
    'asks SAT, then INQUIRY, then Realtek, then JMicron; never ASMedia E6h; refuses with ' + 'every step listed',
    async () => {
      const transport = new RecordingTransport((req) =>
        req.cdb[0] === 0x12
          ? undefined
          : { status: ScsiStatus.CHECK_CONDITION, transferred: 0, data: new Uint8Array(0) },
      );
      const device = new ScsiDevice(transport);
      const err = await detectBridge({
        exchange: (cdb, r) => device.execute(cdb, { ...r, allowMediumWrite: true }),
        ataIdentify: () => device.ataIdentify(),
      }).then(
        () => null,
        (e: { code: string; details: { steps: string[] } }) => e,
      );
      expect(err?.code).toBe('E_UNSUPPORTED');
      expect(transport.sent.map((r) => r.cdb[0])).toEqual([0x85, 0x12, 0xe4, 0xa1]);
      expect(err?.details.steps.at(-1)).toMatch(/not probing ASMedia E6h: its interfaces are unknown/);
    },
  );
});
