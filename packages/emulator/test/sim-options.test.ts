import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileBlockStore, SimulatedDevice, createSimulatedBackend, parseSimOptions } from '../src/index.js';
import { ascii, command } from './raw-bot.js';

const dir = mkdtempSync(join(tmpdir(), 'usbscsi-emu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createSimulatedBackend', () => {
  it(
    'the default simulated disk: 1d6b:0104, SIM0001, USBSCSI SIMULATED DISK 0.1, 16 MiB ' + 'of 512-byte blocks',
    async () => {
      const backend = createSimulatedBackend();
      const [info] = await backend.list();
      expect([info!.vendorId, info!.productId, info!.serialNumber, info!.speed]).toEqual([
        0x1d6b,
        0x0104,
        'SIM0001',
        'high',
      ]);
      const h = await backend.open(info!);
      await h.claimInterface(0);
      const inq = await command(h, [0x12, 0, 0, 0, 36, 0], { in: 36 });
      expect(ascii(inq.bytes.subarray(8, 36))).toBe('USBSCSI SIMULATED DISK  0.1 ');
      const cap = await command(h, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 8 });
      expect(Buffer.from(cap.bytes).readUInt32BE(0) + 1).toBe(32768);
      expect(Buffer.from(cap.bytes).readUInt32BE(4)).toBe(512);
      await backend.dispose();
    },
  );
});

describe('parseSimOptions', () => {
  it('sim alone is the defaults', () => {
    expect(parseSimOptions('sim')).toEqual({ luns: [{ blockSize: 512, blockCount: 32768 }] });
  });

  it('parses blocks, bs, luns, file and identity keys', () => {
    const o = parseSimOptions(
      'sim:blocks=8192,bs=4096,luns=2,file=/tmp/x.img,vid=0x0bda,pid=9210,serial=XY,speed=super,removable',
    );
    expect(o).toEqual({
      luns: [
        { blockSize: 4096, file: '/tmp/x.img', blockCount: 8192, removable: true },
        { blockSize: 4096, blockCount: 8192, removable: true },
      ],
      vendorId: 0x0bda,
      productId: 0x9210,
      serial: 'XY',
      serialNumber: 'XY',
      speed: 'super',
    });
  });

  it.each([
    ['sim:color=blue', /unknown sim option "color"/],
    ['sim:bs=1000', /bs=1000/],
    ['sim:bs=100', /bs=100 must be/],
    ['sim:luns=17', /luns=17/],
    ['sim:blocks=-5', /blocks=-5/],
    ['sim:vid=xyz', /vid=xyz/],
    ['sim:speed=warp', /speed=warp/],
    ['sim:ro=maybe', /ro=maybe/],
    ['sim:bs=512,bs=512', /given twice/],
    ['disk0', /not a simulated device/],
  ])('%s is refused with E_BAD_INPUT', (spec, message) => {
    let error: unknown;
    try {
      const options = parseSimOptions(spec);
      new SimulatedDevice(options); // geometry errors surface when the device is built
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'E_BAD_INPUT' });
    expect(String((error as Error).message)).toMatch(message);
  });
});

describe('file-backed LUNs', () => {
  it('creates a sparse file of blocks × bs; data written over BOT lands in the file at LBA × bs', async () => {
    const file = join(dir, 'a.img');
    const backend = createSimulatedBackend(parseSimOptions(`sim:blocks=64,bs=4096,file=${file}`));
    expect(statSync(file).size).toBe(64 * 4096);
    const h = await backend.open((await backend.list())[0]!);
    await h.claimInterface(0);
    const data = new Uint8Array(4096).fill(0x5a);
    const w = await command(h, [0x2a, 0, 0, 0, 0, 3, 0, 0, 1, 0], { out: data });
    expect(w.csw.status).toBe(0);
    await backend.dispose();
    const onDisk = readFileSync(file);
    expect(onDisk.subarray(3 * 4096, 4 * 4096).every((b) => b === 0x5a)).toBe(true);
    expect(onDisk.subarray(0, 3 * 4096).every((b) => b === 0)).toBe(true);
  });

  it('an existing file gives the block count; it is never grown or truncated', async () => {
    const file = join(dir, 'b.img');
    writeFileSync(file, Buffer.alloc(10 * 512, 7));
    const store = new FileBlockStore(file, { blockSize: 512 });
    expect(store.blockCount).toBe(10n);
    expect(Array.from((await store.read(9n, 1)).subarray(0, 2))).toEqual([7, 7]);
    await store.close();
    expect(() => new FileBlockStore(file, { blockSize: 512, blockCount: 11n })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    expect(statSync(file).size).toBe(10 * 512);
  });

  it('a missing file without a block count is refused; a read-only LUN refuses writes', async () => {
    expect(() => new FileBlockStore(join(dir, 'none.img'), { blockSize: 512 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_INPUT' }),
    );
    const file = join(dir, 'c.img');
    writeFileSync(file, Buffer.alloc(8 * 512));
    const backend = createSimulatedBackend(parseSimOptions(`sim:file=${file},ro`));
    const h = await backend.open((await backend.list())[0]!);
    await h.claimInterface(0);
    expect((await command(h, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { out: new Uint8Array(512).fill(1) })).csw.status).toBe(
      1,
    );
    await backend.dispose();
    expect(readFileSync(file).every((b) => b === 0)).toBe(true);
  });
});
