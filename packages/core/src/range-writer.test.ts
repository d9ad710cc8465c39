import { describe, expect, it } from 'vitest';
import { ScsiDevice } from './device.js';
import { ErrorCodes } from './errors.js';
import { ScsiStatus, type ScsiRequest, type ScsiResult, type ScsiTransport } from './transport.js';

// ScsiDevice.rangeWriter: a range written piece by piece as its bytes arrive (the daemon's streamed
// write) is checked once, like one write() of the whole buffer, and each piece lands after the last.

/** 512-byte blocks, 1024 of them; records the WRITEs. */
class RecordingTransport implements ScsiTransport {
  readonly kind = 'bot' as const;
  readonly maxLun = 0;
  readonly writes: { lba: number; blocks: number }[] = [];
  async execute(req: ScsiRequest): Promise<ScsiResult> {
    const data = req.direction === 'in' ? (req.data ?? new Uint8Array(0)) : new Uint8Array(0);
    if (req.cdb[0] === 0x25) data.set([0, 0, 0x03, 0xff, 0, 0, 2, 0]);
    if (req.cdb[0] === 0x2a) {
      const cdb = Buffer.from(req.cdb);
      this.writes.push({ lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) });
    }
    const transferred = req.data?.length ?? 0;
    return { status: ScsiStatus.GOOD, data, transferred, residue: 0, durationNs: 0 };
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('ScsiDevice.rangeWriter', () => {
  it('checks consent and mounts once for the range; pieces land one after another', async () => {
    const transport = new RecordingTransport();
    let mountChecks = 0;
    const device = new ScsiDevice(transport, {
      mounts: async () => {
        mountChecks++;
        return [];
      },
    });
    const writer = await device.rangeWriter(100, 24, { allowMediumWrite: true });
    await writer.write(new Uint8Array(8 * 512));
    await writer.write(new Uint8Array(8 * 512));
    await writer.write(new Uint8Array(8 * 512));
    expect(mountChecks).toBe(1);
    expect(transport.writes.map((w) => w.lba)).toEqual([100, 108, 116]);
    await expect(writer.write(new Uint8Array(512))).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
  });

  it('refuses without consent, on a mounted medium, and a piece that is not whole blocks', async () => {
    const transport = new RecordingTransport();
    await expect(new ScsiDevice(transport).rangeWriter(0, 8, { allowMediumWrite: false })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    const mounted = new ScsiDevice(transport, {
      mounts: async () => [{ device: '/dev/sda1', mountPoint: '/mnt' }],
    });
    await expect(mounted.rangeWriter(0, 8, { allowMediumWrite: true })).rejects.toMatchObject({
      code: ErrorCodes.MOUNTED,
    });
    const writer = await new ScsiDevice(transport).rangeWriter(0, 8, { allowMediumWrite: true });
    await expect(writer.write(new Uint8Array(100))).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    expect(transport.writes).toEqual([]);
  });
});
