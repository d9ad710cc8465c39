import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { loadNativeAddon, type SgIoRequest, type SgIoResult } from '../backends/native-addon.js';
import { PassThroughTransport, type SgNodeBinding } from './passthrough.js';

const OK: SgIoResult = {
  status: 0,
  maskedStatus: 0,
  msgStatus: 0,
  hostStatus: 0,
  driverStatus: 0,
  resid: 0,
  durationMs: 1,
  durationNs: 1_234_567,
  info: 0,
  sense: new Uint8Array(0),
};
// Fixed-format sense: ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
const SENSE_5_20 = Uint8Array.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0]);

function binding(
  results: Array<Partial<SgIoResult> | Error>,
  onRequest?: (r: SgIoRequest) => void,
): SgNodeBinding & { calls: SgIoRequest[] } {
  const calls: SgIoRequest[] = [];
  return {
    calls,
    execute: vi.fn(async (req: SgIoRequest) => {
      calls.push(req);
      onRequest?.(req);
      const next = results.shift() ?? {};
      if (next instanceof Error) throw next;
      return { ...OK, ...next };
    }),
    reset: vi.fn(async () => {}),
    close: vi.fn(),
  };
}

const inquiry = Uint8Array.of(0x12, 0, 0, 0, 36, 0);

describe('PassThroughTransport (SG_IO) over a fake binding', () => {
  it('returns the ScsiResult shape: data view of what moved, residue from resid, duration', async () => {
    const b = binding([{ resid: 4 }], (req) => req.buffer!.fill(0xab, 0, 32));
    const t = new PassThroughTransport('/dev/sg0', b);
    const buf = new Uint8Array(36);
    const r = await t.execute({ cdb: inquiry, direction: 'in', data: buf, timeoutMs: 5000 });
    expect(b.calls[0]).toMatchObject({ direction: 'in', timeoutMs: 5000 });
    expect(b.calls[0]!.buffer).toBe(buf); // zero copy: the caller's buffer goes down
    expect(r).toMatchObject({ status: 0, transferred: 32, residue: 4, durationNs: 1_234_567 });
    expect(r.data.length).toBe(32);
    expect(r.data.buffer).toBe(buf.buffer);
    expect(t.kind).toBe('sg');
    expect(t.maxLun).toBe(0);
  });

  it('CHECK CONDITION is a result with decoded sense, not an error', async () => {
    const t = new PassThroughTransport(
      '/dev/sg0',
      binding([{ status: 2, maskedStatus: 1, driverStatus: 8, sense: SENSE_5_20 }]),
    );
    const r = await t.execute({ cdb: Uint8Array.of(0xc7, 0, 0, 0, 0, 0), direction: 'none' });
    expect(r.status).toBe(2);
    expect(r.sense).toMatchObject({ senseKey: 5, asc: 0x20, ascq: 0, senseKeyName: 'ILLEGAL REQUEST' });
    expect(r.transferred).toBe(0);
  });

  it('CHECK CONDITION without autosense bytes issues REQUEST SENSE itself (unless autoSense is false)', async () => {
    const b = binding([{ status: 2 }, {}], (req) => {
      if (req.cdb[0] === 0x03) req.buffer!.set(SENSE_5_20);
    });
    const r = await new PassThroughTransport('/dev/sg1', b).execute({
      cdb: inquiry,
      direction: 'in',
      data: new Uint8Array(36),
    });
    expect(b.calls[1]!.cdb[0]).toBe(0x03);
    expect(r.sense?.asc).toBe(0x20);
    const b2 = binding([{ status: 2 }]);
    const r2 = await new PassThroughTransport('/dev/sg1', b2).execute({
      cdb: inquiry,
      direction: 'in',
      data: new Uint8Array(36),
      autoSense: false,
    });
    expect(b2.calls).toHaveLength(1);
    expect(r2.sense).toBeUndefined();
  });

  it.each([
    [0x01, ErrorCodes.DEVICE_GONE, /DID_NO_CONNECT/],
    [0x03, ErrorCodes.TIMEOUT, /DID_TIME_OUT/],
    [0x05, ErrorCodes.TIMEOUT, /DID_ABORT/],
    [0x07, ErrorCodes.IO, /DID_ERROR/],
    [0x0f, ErrorCodes.DEVICE_GONE, /DID_TRANSPORT_FAILFAST/],
    [0x12, ErrorCodes.NO_MEMORY, /DID_ALLOC_FAILURE/],
    [0x7e, ErrorCodes.IO, /host status 0x7e/],
  ])('host status 0x%s → %s', async (hostStatus, code, text) => {
    const t = new PassThroughTransport('/dev/sg0', binding([{ hostStatus }]));
    const err = await t.execute({ cdb: inquiry, direction: 'in', data: new Uint8Array(36) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, details: { hostStatus, path: '/dev/sg0' } });
    expect((err as Error).message).toMatch(text);
  });

  it('DRIVER_TIMEOUT → E_TIMEOUT; a driver error with no status or sense → E_IO', async () => {
    await expect(
      new PassThroughTransport('/dev/sg0', binding([{ driverStatus: 0x06 }])).execute({
        cdb: inquiry,
        direction: 'none',
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT });
    await expect(
      new PassThroughTransport('/dev/sg0', binding([{ driverStatus: 0x04 }])).execute({
        cdb: inquiry,
        direction: 'none',
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.IO });
  });

  it('OS errors from the addon keep their code (EACCES → E_PERMISSION with the fix)', async () => {
    const eacces = Object.assign(new Error('SG_IO: open /dev/sg0: Permission denied; run as root, or ... udev rule'), {
      code: 'E_PERMISSION',
      errno: 13,
    });
    const err = await new PassThroughTransport('/dev/sg0', binding([eacces]))
      .execute({ cdb: inquiry, direction: 'none' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.PERMISSION, details: { errno: 13 } });
    expect((err as Error).message).toMatch(/udev rule/);
  });

  it('bad requests are E_BAD_INPUT and nothing is sent', async () => {
    const b = binding([]);
    const t = new PassThroughTransport('/dev/sg0', b);
    await expect(t.execute({ cdb: new Uint8Array(3), direction: 'none' })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    await expect(t.execute({ cdb: new Uint8Array(20), direction: 'none' })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    await expect(t.execute({ cdb: inquiry, direction: 'in' })).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    await expect(t.execute({ cdb: inquiry, direction: 'sideways' as never })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    await expect(t.execute({ cdb: inquiry, direction: 'none', lun: 1 })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    const ac = new AbortController();
    ac.abort();
    await expect(t.execute({ cdb: inquiry, direction: 'none', signal: ac.signal })).rejects.toMatchObject({
      code: ErrorCodes.CANCELLED,
    });
    expect(b.calls).toHaveLength(0);
    expect(() => new PassThroughTransport('sg0', b)).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_INPUT }));
  });

  it('reset() is SG_SCSI_RESET at device level; after close() commands are E_DEVICE_GONE', async () => {
    const b = binding([]);
    const t = new PassThroughTransport('/dev/sg0', b);
    await t.reset();
    expect(b.reset).toHaveBeenCalledWith('device');
    await t.close();
    expect(b.close).toHaveBeenCalledTimes(1);
    await expect(t.execute({ cdb: inquiry, direction: 'none' })).rejects.toMatchObject({
      code: ErrorCodes.DEVICE_GONE,
    });
  });
});

describe('PassThroughTransport with the block device beside its sg node', () => {
  const read10 = Uint8Array.of(0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0);
  const write10 = Uint8Array.of(0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0);

  it('READ and WRITE with data go through the block device; every other command through the sg node', async () => {
    const sg = binding([]);
    const sd = binding([]);
    const t = new PassThroughTransport('/dev/sg0', sg, { dataNode: { path: '/dev/sda', node: sd } });
    expect(t.dataPath).toBe('/dev/sda');
    await t.execute({ cdb: read10, direction: 'in', data: new Uint8Array(4096) });
    await t.execute({ cdb: write10, direction: 'out', data: new Uint8Array(4096) });
    await t.execute({
      cdb: Uint8Array.of(0x88, ...new Array<number>(15).fill(0)),
      direction: 'in',
      data: new Uint8Array(512),
    });
    await t.execute({ cdb: inquiry, direction: 'in', data: new Uint8Array(36) });
    await t.execute({ cdb: new Uint8Array(6), direction: 'none' });
    await t.execute({ cdb: Uint8Array.of(0xc7, 0, 0, 0, 0, 0), direction: 'out', data: new Uint8Array(512) });
    expect(sd.calls.map((c) => c.cdb[0])).toEqual([0x28, 0x2a, 0x88]);
    expect(sg.calls.map((c) => c.cdb[0])).toEqual([0x12, 0x00, 0xc7]);
    await t.close();
    await t.close();
    expect([sg.close, sd.close].map((f) => (f as ReturnType<typeof vi.fn>).mock.calls.length)).toEqual([1, 1]);
  });

  it('a host failure on the block device names the block device', async () => {
    const t = new PassThroughTransport('/dev/sg0', binding([]), {
      dataNode: { path: '/dev/sda', node: binding([{ hostStatus: 0x01 }]) },
    });
    await expect(t.execute({ cdb: read10, direction: 'in', data: new Uint8Array(4096) })).rejects.toMatchObject({
      code: ErrorCodes.DEVICE_GONE,
      details: { path: '/dev/sda' },
    });
  });

  it('allocateBuffer gives aligned memory (pinned) only where a block device moves it in place', () => {
    const alignedBuffer = vi.fn((bytes: number) => new ArrayBuffer(bytes));
    const withBlock = new PassThroughTransport('/dev/sg0', binding([]), {
      dataNode: { path: '/dev/sda', node: binding([]) },
      alignedBuffer,
    });
    const m = withBlock.allocateBuffer(8192);
    expect(m).toMatchObject({ pinned: true });
    expect(m!.bytes.length).toBe(8192);
    expect(alignedBuffer).toHaveBeenCalledWith(8192);
    const blockItself = new PassThroughTransport('/dev/sda', { ...binding([]), blockDevice: true }, { alignedBuffer });
    expect(blockItself.allocateBuffer(512)?.pinned).toBe(true);
    expect(new PassThroughTransport('/dev/sg0', binding([]), { alignedBuffer }).allocateBuffer(512)).toBeNull();
    expect(new PassThroughTransport('/dev/sda', { ...binding([]), blockDevice: true }).allocateBuffer(512)).toBeNull();
  });
});

const loaded = loadNativeAddon();
describe.skipIf(!loaded.ok || process.platform !== 'linux')(
  `PassThroughTransport over the real addon${loaded.ok ? '' : ` [SKIPPED: ${loaded.reason}]`}`,
  () => {
    it('a node that is not there is E_NOT_FOUND; a node that is not SCSI (/dev/null) is E_BAD_INPUT', async () => {
      await expect(PassThroughTransport.open('/dev/sg-none')).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
      await expect(PassThroughTransport.open('/dev/null')).rejects.toMatchObject({
        code: ErrorCodes.BAD_INPUT,
        message: expect.stringMatching(/not a SCSI node/),
      });
    });
  },
);
