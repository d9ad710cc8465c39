import { describe, expect, it } from 'vitest';
import { ScsiDevice } from './device.js';
import { ErrorCodes } from './errors.js';
import { ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from './transport.js';
import type { MediumWriteClaim } from './usb/backend.js';

// ScsiDevice holds the medium's claim (claimMedium; on Linux SG_IO the disk's exclusive claim,
// which keeps a mount from starting) from before the first WRITE of a call until after its last,
// and refuses a medium that is mounted or held by something else without sending anything.

/** The medium's claim as a counter: how many are held, and what each WRITE saw. */
class Medium {
  taken = 0;
  held = 0;
  answer: Pick<MediumWriteClaim, 'mounts' | 'heldBy'> = { mounts: [], heldBy: [] };
  claim = async (): Promise<MediumWriteClaim> => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    this.taken++;
    const refused = this.answer.mounts.length > 0 || this.answer.heldBy.length > 0;
    if (!refused) this.held++;
    let kept = !refused;
    return {
      ...this.answer,
      release: () => {
        if (kept) this.held--;
        kept = false;
      },
    };
  };
}

/** 512-byte blocks, 1024 of them; a WRITE records whether the claim was held, or fails when told. */
class Transport implements ScsiTransport {
  readonly kind = 'bot' as const;
  readonly maxLun = 0;
  readonly heldAtWrite: number[] = [];
  sent = 0;
  failWrites = false;
  constructor(private readonly medium: Medium) {}
  async execute(req: ScsiRequest): Promise<ScsiResult> {
    const data = req.direction === 'in' ? (req.data ?? new Uint8Array(0)) : new Uint8Array(0);
    if (req.cdb[0] === 0x25) data.set([0, 0, 0x03, 0xff, 0, 0, 2, 0]);
    else this.sent++;
    if (req.cdb[0] === 0x2a || req.cdb[0] === 0x55) {
      this.heldAtWrite.push(this.medium.held);
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (this.failWrites) throw Object.assign(new Error('pipe'), { code: ErrorCodes.IO });
    }
    return { status: ScsiStatus.GOOD, data, transferred: req.data?.length ?? 0, residue: 0, durationNs: 0 };
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

function setup() {
  const medium = new Medium();
  const transport = new Transport(medium);
  const device = new ScsiDevice(transport, { claimMedium: medium.claim, maxTransferBytes: 4096 });
  return { medium, transport, device };
}

describe('the medium claim held for a write', () => {
  it('write(): held from before the first WRITE to after the last, released when it fails too', async () => {
    const { medium, transport, device } = setup();
    await device.write(0, new Uint8Array(16 * 512), { allowMediumWrite: true });
    expect(transport.heldAtWrite).toEqual([1, 1]);
    expect(medium.held).toBe(0);
    transport.failWrites = true;
    await expect(device.write(0, new Uint8Array(512), { allowMediumWrite: true })).rejects.toThrow();
    expect(medium.held).toBe(0);
  });

  it('write calls running at once share one claim (a second exclusive claim would find the first)', async () => {
    const { medium, transport, device } = setup();
    await Promise.all([
      device.write(0, new Uint8Array(512), { allowMediumWrite: true }),
      device.write(8, new Uint8Array(512), { allowMediumWrite: true }),
      device.execute(Uint8Array.of(0x55, 0x10, 0, 0, 0, 0, 0, 0, 0, 0), { allowMediumWrite: true }),
    ]);
    expect(medium.taken).toBe(1);
    expect(transport.heldAtWrite).toEqual([1, 1, 1]);
    expect(medium.held).toBe(0);
    await device.write(0, new Uint8Array(512), { allowMediumWrite: true });
    expect(medium.taken).toBe(2); // let go when the last holder was done, taken again
  });

  it('execute() of a command that needs consent holds it; one that does not never takes it', async () => {
    const { medium, transport, device } = setup();
    await device.execute(Uint8Array.of(0x55, 0x10, 0, 0, 0, 0, 0, 0, 0, 0), { allowMediumWrite: true });
    await device.execute(Uint8Array.of(0, 0, 0, 0, 0, 0));
    expect(transport.heldAtWrite).toEqual([1]);
    expect(medium.taken).toBe(1);
    expect(medium.held).toBe(0);
  });

  it('refuses a mounted medium (E_MOUNTED) and one held by md or swap (E_BUSY), sending nothing', async () => {
    const { medium, transport, device } = setup();
    medium.answer = { mounts: [{ device: '/dev/sdb1', mountPoint: '/media/stick' }], heldBy: [] };
    await expect(device.write(0, new Uint8Array(512), { allowMediumWrite: true })).rejects.toMatchObject({
      code: ErrorCodes.MOUNTED,
      message: expect.stringContaining('/dev/sdb1 on /media/stick'),
    });
    medium.answer = { mounts: [], heldBy: [{ device: '/dev/sdb1', user: 'swap' }] };
    const busy = device.execute(Uint8Array.of(0x55, 0x10, 0, 0, 0, 0, 0, 0, 0, 0), { allowMediumWrite: true });
    await expect(busy).rejects.toMatchObject({
      code: ErrorCodes.BUSY,
      message: expect.stringMatching(/^refusing MODE SELECT\(10\): the medium is in use by swap on \/dev\/sdb1; stop/),
      details: { heldBy: [{ device: '/dev/sdb1', user: 'swap' }] },
    });
    await expect(device.rangeWriter(0, 8, { allowMediumWrite: true })).rejects.toMatchObject({
      code: ErrorCodes.BUSY,
    });
    expect(transport.sent).toBe(0);
    expect(medium.held).toBe(0);
  });

  it('rangeWriter: held until the last piece is written, or end(), or close()', async () => {
    const { medium, device } = setup();
    const whole = await device.rangeWriter(0, 16, { allowMediumWrite: true });
    expect(medium.held).toBe(1);
    await whole.write(new Uint8Array(8 * 512));
    expect(medium.held).toBe(1);
    await whole.write(new Uint8Array(8 * 512));
    expect(medium.held).toBe(0);
    const early = await device.rangeWriter(0, 16, { allowMediumWrite: true });
    await early.write(new Uint8Array(8 * 512));
    early.end();
    early.end();
    expect(medium.held).toBe(0);
    await device.rangeWriter(0, 16, { allowMediumWrite: true });
    expect(medium.held).toBe(1);
    await device.close();
    expect(medium.held).toBe(0);
  });
});
