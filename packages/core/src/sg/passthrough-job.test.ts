import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../errors.js';
import type { SgIoRequest, SgIoResult, SgJobResult } from '../backends/native-addon.js';
import { ScsiDevice } from '../device.js';
import { PassThroughTransport, type SgNodeBinding } from './passthrough.js';
import { SG_JOB_ENTRY_BYTES, encodeSgJobTable } from './sg-job.js';

const OK: SgIoResult = {
  status: 0,
  maskedStatus: 0,
  msgStatus: 0,
  hostStatus: 0,
  driverStatus: 0,
  resid: 0,
  durationMs: 1,
  durationNs: 1000,
  info: 0,
  sense: new Uint8Array(0),
};
const SENSE_3_11 = Uint8Array.from([0x70, 0, 3, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0]);
const read10 = (lba: number, blocks: number) => Uint8Array.of(0x28, 0, 0, 0, lba >> 8, lba & 0xff, 0, 0, blocks, 0);

type JobCall = { table: Uint8Array; data: Uint8Array; options: Parameters<NonNullable<SgNodeBinding['job']>>[2] };

/** A block device binding whose `job` answers with `outcome` (the facts the engine would give). */
function jobNode(outcome: Partial<SgJobResult> | Error | ((call: JobCall) => Promise<SgJobResult>)) {
  const calls: JobCall[] = [];
  const executes: SgIoRequest[] = [];
  const node: SgNodeBinding & { calls: JobCall[]; executes: SgIoRequest[] } = {
    calls,
    executes,
    blockDevice: true,
    execute: vi.fn(async (req: SgIoRequest) => {
      executes.push(req);
      return OK;
    }),
    job: vi.fn(async (table, data, options) => {
      const call = { table, data, options };
      calls.push(call);
      if (typeof outcome === 'function') return outcome(call);
      if (outcome instanceof Error) throw outcome;
      return { done: 0, stopped: false, cancelled: false, bouncedCommands: 0, ioctlNs: 0, copyNs: 0, ...outcome };
    }),
    cancelJob: vi.fn(() => true),
    close: vi.fn(),
  };
  return node;
}

function sgWith(dataNode: SgNodeBinding, sgResults: Partial<SgIoResult>[] = []) {
  const sgCalls: SgIoRequest[] = [];
  const sg: SgNodeBinding = {
    execute: vi.fn(async (req: SgIoRequest) => {
      sgCalls.push(req);
      return { ...OK, ...(sgResults.shift() ?? {}) };
    }),
  };
  return { t: new PassThroughTransport('/dev/sg0', sg, { dataNode: { path: '/dev/sda', node: dataNode } }), sgCalls };
}

const commands = [
  { cdb: read10(0, 8), length: 4096 },
  { cdb: read10(8, 8), length: 4096 },
  { cdb: read10(16, 8), length: 4096 },
];

describe('SG_IO jobs: the command table', () => {
  it('holds each CDB with its length and data length, 24 bytes per command', () => {
    const table = encodeSgJobTable([
      { cdb: read10(0, 8), length: 4096 },
      { cdb: new Uint8Array(16).fill(0x88), length: 0x01020304 },
    ]);
    expect(table.length).toBe(2 * SG_JOB_ENTRY_BYTES);
    expect(table[0]).toBe(10);
    expect(Array.from(table.subarray(4, 8))).toEqual([0x00, 0x10, 0, 0]);
    expect(Array.from(table.subarray(8, 18))).toEqual(Array.from(read10(0, 8)));
    expect(table[24]).toBe(16);
    expect(Array.from(table.subarray(28, 32))).toEqual([4, 3, 2, 1]);
    expect(Array.from(table.subarray(32, 48))).toEqual(new Array(16).fill(0x88));
  });
});

describe('PassThroughTransport.executeJob', () => {
  it('runs READs as one job on the block device, one in flight by default, and counts them all done', async () => {
    const sd = jobNode({ done: 3, stopped: false });
    const { t, sgCalls } = sgWith(sd);
    const data = new Uint8Array(3 * 4096);
    await expect(t.executeJob({ commands, direction: 'in', data, timeoutMs: 777 })).resolves.toEqual({ done: 3 });
    expect(sd.calls).toHaveLength(1);
    expect(sd.calls[0]!.data).toBe(data);
    expect(sd.calls[0]!.options).toMatchObject({ direction: 'in', timeoutMs: 777, depth: 1 });
    expect(sd.calls[0]!.table).toEqual(encodeSgJobTable(commands));
    expect(sd.executes).toHaveLength(0);
    expect(sgCalls).toHaveLength(0);
  });

  it('judges the command that ended the job as execute would: sense decoded, the data of that command', async () => {
    const sd = jobNode({
      done: 1,
      stopped: true,
      result: { ...OK, status: 2, driverStatus: 8, sense: SENSE_3_11, resid: 4096 },
    });
    const { t } = sgWith(sd);
    const data = new Uint8Array(3 * 4096);
    const r = await t.executeJob({ commands, direction: 'in', data });
    expect(r.done).toBe(1);
    expect(r.result).toMatchObject({ status: 2, transferred: 0, residue: 4096 });
    expect(r.result!.sense).toMatchObject({ senseKey: 3, asc: 0x11 });
    expect(r.result!.data.byteOffset).toBe(4096);
  });

  it('a CHECK CONDITION without sense bytes gets REQUEST SENSE on the sg node', async () => {
    const sd = jobNode({ done: 2, stopped: true, result: { ...OK, status: 2 } });
    const sg: SgNodeBinding = {
      execute: vi.fn(async (req: SgIoRequest) => {
        req.buffer!.set(SENSE_3_11);
        return OK;
      }),
    };
    const t = new PassThroughTransport('/dev/sg0', sg, { dataNode: { path: '/dev/sda', node: sd } });
    const r = await t.executeJob({ commands, direction: 'in', data: new Uint8Array(3 * 4096) });
    expect(r).toMatchObject({ done: 2, result: { status: 2, sense: { senseKey: 3 } } });
    expect((sg.execute as ReturnType<typeof vi.fn>).mock.calls[0]![0].cdb[0]).toBe(0x03);
  });

  it('a host failure of the ending command is thrown as its typed error, naming the block device', async () => {
    const { t } = sgWith(jobNode({ done: 0, stopped: true, result: { ...OK, hostStatus: 0x01 } }));
    await expect(t.executeJob({ commands, direction: 'in', data: new Uint8Array(3 * 4096) })).rejects.toMatchObject({
      code: ErrorCodes.DEVICE_GONE,
      details: { path: '/dev/sda' },
    });
  });

  it('an ioctl failure keeps its code; a cancelled job is E_CANCELLED with how many were done', async () => {
    const eio = Object.assign(new Error('SG_IO on /dev/sda: Input/output error'), { code: 'E_IO', errno: 5 });
    await expect(
      sgWith(jobNode(eio)).t.executeJob({ commands, direction: 'in', data: new Uint8Array(3 * 4096) }),
    ).rejects.toMatchObject({ code: ErrorCodes.IO, details: { errno: 5 } });
    await expect(
      sgWith(jobNode({ done: 1, stopped: true, cancelled: true })).t.executeJob({
        commands,
        direction: 'in',
        data: new Uint8Array(3 * 4096),
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.CANCELLED, details: { done: 1 } });
  });

  it('an AbortSignal cancels the running job in the engine by its id', async () => {
    let release!: () => void;
    const sd = jobNode(
      (call) =>
        new Promise((resolve) => {
          release = () =>
            resolve({ done: 0, stopped: true, cancelled: true, bouncedCommands: 0, ioctlNs: 0, copyNs: 0 });
          void call;
        }),
    );
    const { t } = sgWith(sd);
    const ac = new AbortController();
    const run = t.executeJob({ commands, direction: 'in', data: new Uint8Array(3 * 4096), signal: ac.signal });
    await vi.waitFor(() => expect(sd.calls).toHaveLength(1));
    ac.abort();
    expect(sd.cancelJob).toHaveBeenCalledWith(sd.calls[0]!.options.jobId);
    release();
    await expect(run).rejects.toMatchObject({ code: ErrorCodes.CANCELLED });
  });

  it('refuses bad jobs before anything is sent', async () => {
    const sd = jobNode({ done: 3 });
    const { t } = sgWith(sd);
    const data = new Uint8Array(3 * 4096);
    for (const bad of [
      { commands: [], direction: 'in' as const, data },
      { commands, direction: 'none' as never, data },
      { commands, direction: 'in' as const, data: new Uint8Array(100) },
      { commands, direction: 'in' as const, dataFd: { fd: 1, position: 0 } },
      { commands: [{ cdb: new Uint8Array(3), length: 4096 }], direction: 'in' as const, data: new Uint8Array(4096) },
      { commands: [{ cdb: read10(0, 8), length: 0 }], direction: 'in' as const, data: new Uint8Array(0) },
      { commands, direction: 'in' as const, data, lun: 1 },
    ])
      await expect(t.executeJob(bad)).rejects.toMatchObject({ code: ErrorCodes.BAD_INPUT });
    const limited = new PassThroughTransport('/dev/sda', sd, { limits: { maxTransferBytes: 2048, source: 'test' } });
    await expect(limited.executeJob({ commands, direction: 'in', data })).rejects.toMatchObject({
      code: ErrorCodes.BAD_INPUT,
    });
    expect(() => new PassThroughTransport('/dev/sda', sd, { jobDepth: 5 })).toThrow(
      expect.objectContaining({ code: ErrorCodes.BAD_INPUT }),
    );
    expect(sd.calls).toHaveLength(0);
  });

  it('a binding without jobs runs the commands one by one and stops at the first that is not plain', async () => {
    const results: Partial<SgIoResult>[] = [{}, { resid: 512 }, {}];
    const node: SgNodeBinding = {
      blockDevice: true,
      execute: vi.fn(async () => ({ ...OK, ...results.shift() })),
    };
    const t = new PassThroughTransport('/dev/sda', node);
    const r = await t.executeJob({ commands, direction: 'in', data: new Uint8Array(3 * 4096) });
    expect(r).toMatchObject({ done: 1, result: { status: 0, residue: 512 } });
    expect(node.execute).toHaveBeenCalledTimes(2);
  });
});

describe('ScsiDevice over an SG_IO transport with jobs', () => {
  function device(sd: ReturnType<typeof jobNode>) {
    const sg: SgNodeBinding = {
      execute: vi.fn(async (req: SgIoRequest) => {
        if (req.cdb[0] === 0x25) req.buffer!.set([0, 0, 0xff, 0xff, 0, 0, 2, 0]); // READ CAPACITY(10): 512-byte blocks
        return OK;
      }),
    };
    const t = new PassThroughTransport('/dev/sg0', sg, {
      dataNode: { path: '/dev/sda', node: sd },
      limits: { maxTransferBytes: 64 * 1024, source: 'test' },
      alignedBuffer: (bytes) => new ArrayBuffer(bytes),
    });
    return new ScsiDevice(t, { mounts: async () => [] });
  }

  it('readInto sends the range as one job of max-transfer commands', async () => {
    const sd = jobNode(async (call) => ({
      done: call.table.length / SG_JOB_ENTRY_BYTES,
      stopped: false,
      cancelled: false,
      bouncedCommands: 0,
      ioctlNs: 0,
      copyNs: 0,
    }));
    await device(sd).readInto(0, new Uint8Array(256 * 1024));
    expect(sd.calls).toHaveLength(1);
    expect(sd.calls[0]!.table.length / SG_JOB_ENTRY_BYTES).toBe(4);
    expect(sd.executes).toHaveLength(0);
  });

  it('readToFd without fd streaming moves windows of several commands per job, in order', async () => {
    const { openSync, closeSync, readFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const sd = jobNode(async (call) => {
      const n = call.table.length / SG_JOB_ENTRY_BYTES;
      const view = new DataView(call.table.buffer);
      // Each block filled with its LBA's low byte, so the file shows the order.
      for (let i = 0, at = 0; i < n; i++) {
        const lba = view.getUint32(i * SG_JOB_ENTRY_BYTES + 8 + 2);
        const len = view.getUint32(i * SG_JOB_ENTRY_BYTES + 4, true);
        for (let b = 0; b < len / 512; b++) call.data.fill((lba + b) & 0xff, at + b * 512, at + (b + 1) * 512);
        at += len;
      }
      return { done: n, stopped: false, cancelled: false, bouncedCommands: 0, ioctlNs: 0, copyNs: 0 };
    });
    const dir = mkdtempSync(join(tmpdir(), 'sg-job-'));
    try {
      const path = join(dir, 'out.bin');
      const fd = openSync(path, 'w');
      const blocks = (9 << 20) / 512; // 9 MiB: windows of 4 MiB, 4 MiB, 1 MiB
      await device(sd).readToFd(0, blocks, fd);
      closeSync(fd);
      expect(sd.calls.map((c) => c.data.length)).toEqual([4 << 20, 4 << 20, 1 << 20]);
      expect(sd.executes).toHaveLength(0);
      const out = readFileSync(path);
      expect(out.length).toBe(9 << 20);
      for (const lba of [0, 1, 255, 8191, 8192, 18431]) expect(out[lba * 512]).toBe(lba & 0xff);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
