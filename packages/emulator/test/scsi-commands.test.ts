/** Every built-in command of the simulated target, and vendor handlers, seen through raw BOT bytes. */
import { afterEach, describe, expect, it } from 'vitest';
import { TransferStatus, type UsbDeviceHandle } from '@usbscsi/core';
import type { EmulatorBackend, FirmwareDownload, SimulatedDevice, SimulatedDeviceOptions } from '../src/index.js';
import { ascii, command, openSim, requestSense } from './raw-bot.js';

let backend: EmulatorBackend | undefined;
afterEach(async () => {
  await backend?.dispose();
  backend = undefined;
});

async function sim(options: SimulatedDeviceOptions = {}): Promise<{ device: SimulatedDevice; h: UsbDeviceHandle }> {
  const s = await openSim(options);
  backend = s.backend;
  return { device: s.device, h: s.handle };
}

/** Runs a command and returns the CSW status and data. */
async function run(h: UsbDeviceHandle, cdb: number[], opts: { in?: number; out?: Uint8Array; lun?: number } = {}) {
  const r = await command(h, cdb, opts);
  expect(r.csw.tag).toBe(r.tag);
  return { status: r.csw.status, residue: r.csw.residue, data: r.bytes };
}

/** Fixed-format sense after a failed command: [key, asc, ascq]. */
async function senseOf(h: UsbDeviceHandle, lun = 0): Promise<[number, number, number]> {
  const s = await requestSense(h, lun);
  expect(s[0]! & 0x7f).toBe(0x70);
  return [s[2]! & 0x0f, s[12]!, s[13]!];
}

const be32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
const be64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at);
const cdb10 = (op: number, lba: number, blocks: number) => [
  op,
  0,
  (lba >>> 24) & 0xff,
  (lba >>> 16) & 0xff,
  (lba >>> 8) & 0xff,
  lba & 0xff,
  0,
  blocks >> 8,
  blocks & 0xff,
  0,
];
const cdb16 = (op: number, lba: bigint, blocks: number) => {
  const c = new Uint8Array(16);
  c[0] = op;
  new DataView(c.buffer).setBigUint64(2, lba);
  new DataView(c.buffer).setUint32(10, blocks);
  return Array.from(c);
};
const fill = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

describe('INQUIRY', () => {
  it('standard data: direct-access, SPC-4, vendor / product / revision', async () => {
    const { h } = await sim();
    const { status, data } = await run(h, [0x12, 0, 0, 0, 36, 0], { in: 36 });
    expect(status).toBe(0);
    expect(data[0]).toBe(0x00);
    expect(data[2]).toBe(0x06);
    expect(data[3]! & 0x0f).toBe(2);
    expect(data[4]).toBe(31);
    expect(ascii(data.subarray(8, 36))).toBe('USBSCSI SIMULATED DISK  0.1 ');
  });

  it('is cut to the allocation length; RMB follows removable', async () => {
    const { h } = await sim({ luns: [{ removable: true }] });
    const { data, residue } = await run(h, [0x12, 0, 0, 0, 5, 0], { in: 36 });
    expect(data.length).toBe(5);
    expect(residue).toBe(31);
    expect(data[1]).toBe(0x80);
  });

  it(
    'VPD 0x00 lists 00 80 83 B0; 0x80 is the serial; 0x83 has NAA and T10 designators; ' + '0xB0 block limits',
    async () => {
      const { h } = await sim({ maxTransferBlocks: 2048 });
      const p0 = (await run(h, [0x12, 1, 0x00, 0, 255, 0], { in: 255 })).data;
      expect(Array.from(p0)).toEqual([0, 0, 0, 4, 0x00, 0x80, 0x83, 0xb0]);
      const p80 = (await run(h, [0x12, 1, 0x80, 0, 255, 0], { in: 255 })).data;
      expect(ascii(p80.subarray(4))).toBe('SIM0001');
      const p83 = (await run(h, [0x12, 1, 0x83, 0, 255, 0], { in: 255 })).data;
      expect(p83[1]).toBe(0x83);
      expect(p83[5]! & 0x0f).toBe(3); // NAA
      expect(p83[8]! >> 4).toBe(5); // NAA 5
      expect(p83[17]! & 0x0f).toBe(1); // T10 vendor ID
      expect(ascii(p83.subarray(20, 20 + p83[19]!))).toBe('USBSCSI SIMULATED DISK  SIM0001');
      const pb0 = (await run(h, [0x12, 1, 0xb0, 0, 255, 0], { in: 255 })).data;
      expect(pb0.length).toBe(64);
      expect(be32(pb0, 8)).toBe(2048);
    },
  );

  it('an unsupported VPD page, or a page code without EVPD, is INVALID FIELD IN CDB', async () => {
    const { h } = await sim();
    expect((await run(h, [0x12, 1, 0x99, 0, 255, 0], { in: 255 })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x24, 0x00]);
    expect((await run(h, [0x12, 0, 0x80, 0, 255, 0], { in: 255 })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('sense handling', () => {
  it(
    'an unsupported opcode is ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE, held ' + 'until REQUEST SENSE',
    async () => {
      const { h } = await sim();
      expect((await run(h, [0xd7, 0, 0, 0, 0, 0])).status).toBe(1);
      expect((await run(h, [0x00, 0, 0, 0, 0, 0])).status).toBe(0); // a good command in between does not clear it
      expect(await senseOf(h)).toEqual([0x5, 0x20, 0x00]);
      expect(await senseOf(h)).toEqual([0x0, 0x00, 0x00]); // consumed
    },
  );

  it('REQUEST SENSE with DESC=1 returns descriptor format (0x72)', async () => {
    const { h } = await sim();
    await run(h, cdb10(0x28, 0x7fffffff, 1), { in: 512 });
    const s = await requestSense(h, 0, true);
    expect(s[0]).toBe(0x72);
    expect([s[1]! & 0x0f, s[2], s[3]]).toEqual([0x5, 0x21, 0x00]);
    expect(s[8]).toBe(0x00); // information descriptor
    expect(new DataView(s.buffer, s.byteOffset).getBigUint64(12)).toBe(0x7fffffffn);
  });

  it('fixed sense carries the failing LBA in INFORMATION (VALID set)', async () => {
    const { h } = await sim();
    await run(h, cdb10(0x28, 40000, 1), { in: 512 });
    const s = await requestSense(h);
    expect(s[0]).toBe(0xf0);
    expect(be32(s, 3)).toBe(40000);
    expect(s.length).toBe(18);
  });

  it(
    'a LUN that does not exist: INQUIRY says qualifier 011b / type 1Fh, REQUEST SENSE ' + 'says 05/25/00, others fail',
    async () => {
      const { h } = await sim();
      const inq = await run(h, [0x12, 0, 0, 0, 36, 0], { in: 36, lun: 2 });
      expect([inq.status, inq.data[0]]).toEqual([0, 0x7f]);
      const s = await requestSense(h, 2);
      expect([s[2]! & 0xf, s[12], s[13]]).toEqual([0x5, 0x25, 0x00]);
      expect((await run(h, [0, 0, 0, 0, 0, 0], { lun: 2 })).status).toBe(1);
    },
  );

  it('sense is per LUN', async () => {
    const { h } = await sim({ luns: [{}, {}] });
    await run(h, [0xd7, 0, 0, 0, 0, 0], { lun: 1 });
    expect(await senseOf(h, 0)).toEqual([0, 0, 0]);
    expect(await senseOf(h, 1)).toEqual([0x5, 0x20, 0x00]);
  });
});

describe('capacity and block I/O', () => {
  it('READ CAPACITY(10) and (16) report the last LBA and block size', async () => {
    const { h } = await sim({ luns: [{ blockSize: 4096, blockCount: 8192 }] });
    const c10 = (await run(h, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 8 })).data;
    expect([be32(c10, 0), be32(c10, 4)]).toEqual([8191, 4096]);
    const c16 = (await run(h, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], { in: 32 })).data;
    expect([be64(c16, 0), be32(c16, 8)]).toEqual([8191n, 4096]);
  });

  it(
    'READ CAPACITY(10) says 0xFFFFFFFF past 2 TiB; READ(16)/WRITE(16) reach beyond 32-bit ' + 'LBAs (sparse RAM)',
    async () => {
      const blocks = (1n << 32n) + 100n;
      const { h, device } = await sim({ luns: [{ blockCount: blocks }] });
      expect(be32((await run(h, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 8 })).data, 0)).toBe(0xffffffff);
      const c16 = (await run(h, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], { in: 32 })).data;
      expect(be64(c16, 0)).toBe(blocks - 1n);
      const lba = (1n << 32n) + 5n;
      expect((await run(h, cdb16(0x8a, lba, 1), { out: fill(512, 9) })).status).toBe(0);
      expect(Array.from((await run(h, cdb16(0x88, lba, 1), { in: 512 })).data)).toEqual(Array.from(fill(512, 9)));
      expect((device.lun(0).store as { residentBytes?: number }).residentBytes).toBeLessThan(1024 * 1024);
    },
  );

  it('WRITE(6)/READ(6), WRITE(10)/READ(10) round-trip the data', async () => {
    const { h } = await sim();
    expect((await run(h, [0x0a, 0, 0, 7, 2, 0], { out: fill(1024, 6) })).status).toBe(0);
    expect(Array.from((await run(h, [0x08, 0, 0, 7, 2, 0], { in: 1024 })).data)).toEqual(Array.from(fill(1024, 6)));
    expect((await run(h, cdb10(0x2a, 100, 3), { out: fill(1536, 10) })).status).toBe(0);
    expect(Array.from((await run(h, cdb10(0x28, 100, 3), { in: 1536 })).data)).toEqual(Array.from(fill(1536, 10)));
  });

  it('READ(6) with transfer length 0 means 256 blocks', async () => {
    const { h } = await sim();
    const r = await run(h, [0x08, 0, 0, 0, 0, 0], { in: 256 * 512 });
    expect(r.status).toBe(0);
    expect(r.data.length).toBe(256 * 512);
  });

  it('an LBA range past the end is LOGICAL BLOCK ADDRESS OUT OF RANGE, nothing transferred', async () => {
    const { h } = await sim({ luns: [{ blockCount: 100 }] });
    const r = await run(h, cdb10(0x28, 99, 2), { in: 1024 });
    expect(r.status).toBe(1);
    expect(r.residue).toBe(1024);
    expect(await senseOf(h)).toEqual([0x5, 0x21, 0x00]);
    expect((await run(h, cdb10(0x2a, 100, 1), { out: fill(512, 1) })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x21, 0x00]);
  });

  it('a read-only LUN refuses writes with DATA PROTECT / WRITE PROTECTED and MODE SENSE sets WP', async () => {
    const { h } = await sim({ luns: [{ readOnly: true }] });
    expect((await run(h, cdb10(0x2a, 0, 1), { out: fill(512, 1) })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x7, 0x27, 0x00]);
    expect((await run(h, [0x1a, 0, 0x3f, 0, 255, 0], { in: 255 })).data[2]).toBe(0x80);
  });

  it('SYNCHRONIZE CACHE(10)/(16) succeed in range and fail out of range', async () => {
    const { h } = await sim({ luns: [{ blockCount: 100 }] });
    expect((await run(h, [0x35, 0, 0, 0, 0, 0, 0, 0, 10, 0])).status).toBe(0);
    expect((await run(h, cdb16(0x91, 0n, 0))).status).toBe(0);
    expect((await run(h, [0x35, 0, 0, 0, 0, 99, 0, 0, 10, 0])).status).toBe(1);
  });
});

describe('MODE SENSE', () => {
  it('(6) caching page 0x08 with WCE, block descriptor with block count and size', async () => {
    const { h } = await sim({ luns: [{ blockCount: 1000, blockSize: 512 }] });
    const d = (await run(h, [0x1a, 0, 0x08, 0, 255, 0], { in: 255 })).data;
    expect(d[0]).toBe(d.length - 1);
    expect(d[3]).toBe(8);
    expect((d[5]! << 16) | (d[6]! << 8) | d[7]!).toBe(1000);
    expect((d[9]! << 16) | (d[10]! << 8) | d[11]!).toBe(512);
    expect([d[12], d[13], d[14]! & 0x04]).toEqual([0x08, 0x12, 0x04]);
  });

  it('(10) control page 0x0A with DBD; all pages 0x3F has 08 then 0A', async () => {
    const { h } = await sim();
    const c = (await run(h, [0x5a, 0x08, 0x0a, 0, 0, 0, 0, 0, 255, 0], { in: 255 })).data;
    expect((c[0]! << 8) | c[1]!).toBe(c.length - 2);
    expect((c[6]! << 8) | c[7]!).toBe(0); // no block descriptor
    expect([c[8], c[9]]).toEqual([0x0a, 0x0a]);
    const all = (await run(h, [0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0, 255, 0], { in: 255 })).data;
    expect([all[8], all[28]]).toEqual([0x08, 0x0a]);
    expect(all.length).toBe(8 + 20 + 12);
  });

  it('(10) with LLBAA gives a 16-byte block descriptor', async () => {
    const { h } = await sim();
    const d = (await run(h, [0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0], { in: 255 })).data;
    expect(d[4]! & 1).toBe(1);
    expect((d[6]! << 8) | d[7]!).toBe(16);
    expect(be64(d, 8)).toBe(32768n);
  });

  it('unknown page → INVALID FIELD IN CDB; saved values → SAVING PARAMETERS NOT SUPPORTED', async () => {
    const { h } = await sim();
    expect((await run(h, [0x1a, 0, 0x1c, 0, 255, 0], { in: 255 })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x24, 0x00]);
    expect((await run(h, [0x1a, 0, 0xc8, 0, 255, 0], { in: 255 })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x39, 0x00]);
  });
});

describe('START STOP UNIT, PREVENT ALLOW, REPORT LUNS', () => {
  it('stop → NOT READY (initializing command required); start → ready', async () => {
    const { h } = await sim();
    expect((await run(h, [0x1b, 0, 0, 0, 0x00, 0])).status).toBe(0);
    expect((await run(h, [0x00, 0, 0, 0, 0, 0])).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x2, 0x04, 0x02]);
    expect((await run(h, [0x1b, 0, 0, 0, 0x01, 0])).status).toBe(0);
    expect((await run(h, [0x00, 0, 0, 0, 0, 0])).status).toBe(0);
  });

  it('eject of a removable medium is refused while PREVENT is set, then allowed', async () => {
    const { h } = await sim({ luns: [{ removable: true }] });
    expect((await run(h, [0x1e, 0, 0, 0, 1, 0])).status).toBe(0);
    expect((await run(h, [0x1b, 0, 0, 0, 0x02, 0])).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x53, 0x02]);
    expect((await run(h, [0x1e, 0, 0, 0, 0, 0])).status).toBe(0);
    expect((await run(h, [0x1b, 0, 0, 0, 0x02, 0])).status).toBe(0);
    expect((await run(h, [0x00, 0, 0, 0, 0, 0])).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x2, 0x3a, 0x00]);
  });

  it('REPORT LUNS lists every LUN; an allocation length under 16 is refused', async () => {
    const { h } = await sim({ luns: [{}, {}] });
    const d = (await run(h, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { in: 256 })).data;
    expect(be32(d, 0)).toBe(16);
    expect(Array.from(d.subarray(8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect((await run(h, [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], { in: 8 })).status).toBe(1);
  });
});

describe('READ / WRITE BUFFER', () => {
  it('data mode round trip; descriptor mode gives the capacity', async () => {
    const { h } = await sim({ bufferCapacity: 4096 });
    const payload = fill(100, 3);
    expect((await run(h, [0x3b, 0x02, 0, 0, 0, 16, 0, 0, 100, 0], { out: payload })).status).toBe(0);
    const back = (await run(h, [0x3c, 0x02, 0, 0, 0, 16, 0, 0, 100, 0], { in: 100 })).data;
    expect(Array.from(back)).toEqual(Array.from(payload));
    const desc = (await run(h, [0x3c, 0x03, 0, 0, 0, 0, 0, 0, 4, 0], { in: 4 })).data;
    expect(Array.from(desc)).toEqual([0, 0, 0x10, 0x00]);
    expect((await run(h, [0x3b, 0x02, 0, 0, 0x10, 0, 0, 0, 100, 0], { out: payload })).status).toBe(1); // past capacity
  });

  it(
    'download microcode with offsets (mode 0x07) calls the firmware hook per segment ' + 'with the assembled image',
    async () => {
      const seen: FirmwareDownload[] = [];
      const { h } = await sim({ onFirmware: (d) => void seen.push({ ...d, image: d.image.slice() }) });
      const image = fill(1024, 42);
      for (let off = 0; off < 1024; off += 512) {
        const r = await run(h, [0x3b, 0x07, 0, (off >> 16) & 0xff, (off >> 8) & 0xff, off & 0xff, 0, 0x02, 0x00, 0], {
          out: image.subarray(off, off + 512),
        });
        expect(r.status).toBe(0);
      }
      expect(seen.map((s) => [s.mode, s.offset, s.segment.length, s.save, s.activate])).toEqual([
        [7, 0, 512, true, true],
        [7, 512, 512, true, true],
      ]);
      expect(Array.from(seen[1]!.image)).toEqual(Array.from(image));
    },
  );

  it('a hook that returns sense fails the command; without a hook microcode modes are refused', async () => {
    const { h } = await sim({ onFirmware: () => ({ key: 0x5, asc: 0x26, ascq: 0x00 }) });
    expect((await run(h, [0x3b, 0x05, 0, 0, 0, 0, 0, 0, 16, 0], { out: fill(16, 0) })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x26, 0x00]);
    await backend!.dispose();
    const plain = await sim();
    expect((await run(plain.h, [0x3b, 0x05, 0, 0, 0, 0, 0, 0, 16, 0], { out: fill(16, 0) })).status).toBe(1);
    expect(await senseOf(plain.h)).toEqual([0x5, 0x24, 0x00]);
  });
});

describe('SEND / RECEIVE DIAGNOSTIC', () => {
  it('default self-test passes; page 0 lists supported pages', async () => {
    const { h } = await sim();
    expect((await run(h, [0x1d, 0x04, 0, 0, 0, 0])).status).toBe(0);
    expect((await run(h, [0x1d, 0x10, 0, 0, 4, 0], { out: Uint8Array.of(0, 0, 0, 0) })).status).toBe(0);
    const d = (await run(h, [0x1c, 0, 0, 0, 255, 0], { in: 255 })).data;
    expect(Array.from(d)).toEqual([0, 0, 0, 1, 0]);
    expect((await run(h, [0x1c, 1, 0x40, 0, 255, 0], { in: 255 })).status).toBe(1);
  });
});

describe('ATA PASS-THROUGH (SAT bridge to a simulated SATA disk)', () => {
  // ATA PASS-THROUGH(16): PIO data-in (protocol 4), T_DIR=1, BYTE_BLOCK=1, T_LENGTH=2 (count), count 1
  const pt16 = (command: number, features = 0, lbaMid = 0, lbaHigh = 0, ckCond = false, protocol = 4) => [
    0x85,
    protocol << 1,
    (ckCond ? 0x20 : 0) | (protocol === 3 ? 0 : 0x0e),
    0,
    features,
    0,
    1,
    0,
    0,
    0,
    lbaMid,
    0,
    lbaHigh,
    0xa0,
    command,
    0,
  ];
  const sum = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);
  const ataString = (b: Uint8Array, from: number, words: number) => {
    let s = '';
    for (let i = 0; i < words; i++) s += String.fromCharCode(b[from + 2 * i + 1]!, b[from + 2 * i]!);
    return s.trim();
  };

  it('IDENTIFY DEVICE (16 and 12): model, serial, LBA48 capacity, valid checksum', async () => {
    const { h } = await sim({ ata: { model: 'WDC WD40EFRX-68N32N0', serial: 'WD-WCC7K0XXXXXX' } });
    const d = (await run(h, pt16(0xec), { in: 512 })).data;
    expect(d.length).toBe(512);
    expect(ataString(d, 54, 20)).toBe('WDC WD40EFRX-68N32N0');
    expect(ataString(d, 20, 10)).toBe('WD-WCC7K0XXXXXX');
    expect(d[510]).toBe(0xa5);
    expect(sum(d)).toBe(0);
    expect(new DataView(d.buffer, d.byteOffset).getUint32(200, true)).toBe(32768); // words 100-101: 16 MiB / 512
    const d12 = (await run(h, [0xa1, 4 << 1, 0x0e, 0, 1, 0, 0, 0, 0xa0, 0xec, 0, 0], { in: 512 })).data;
    expect(Array.from(d12)).toEqual(Array.from(d));
  });

  it('SMART READ DATA and READ THRESHOLDS: attribute table, checksums', async () => {
    const { h } = await sim();
    const data = (await run(h, pt16(0xb0, 0xd0, 0x4f, 0xc2), { in: 512 })).data;
    expect(sum(data)).toBe(0);
    const ids = Array.from({ length: 30 }, (_, i) => data[2 + 12 * i]).filter(Boolean);
    expect(ids).toEqual([1, 5, 9, 12, 194, 197, 198, 199]);
    const temp = 2 + 12 * ids.indexOf(194);
    expect(data[temp + 5]).toBe(35);
    const thr = (await run(h, pt16(0xb0, 0xd1, 0x4f, 0xc2), { in: 512 })).data;
    expect(sum(thr)).toBe(0);
    expect([thr[2], thr[3]]).toEqual([1, 6]);
  });

  it(
    'SMART RETURN STATUS with CK_COND: RECOVERED ERROR 00/1D and an ATA Status Return ' +
      'descriptor (4F/C2 healthy, F4/2C failing)',
    async () => {
      const { h, device } = await sim();
      const cdb = pt16(0xb0, 0xda, 0x4f, 0xc2, true, 3);
      expect((await run(h, cdb)).status).toBe(1);
      const s = await requestSense(h);
      expect([s[0], s[1]! & 0xf, s[2], s[3]]).toEqual([0x72, 0x1, 0x00, 0x1d]);
      expect([s[8], s[9]]).toEqual([0x09, 0x0c]);
      expect([s[8 + 9], s[8 + 11], s[8 + 13]]).toEqual([0x4f, 0xc2, 0x50]);
      device.target.ataDisk!.smartFailing = true;
      await run(h, cdb);
      const f = await requestSense(h);
      expect([f[8 + 9], f[8 + 11]]).toEqual([0xf4, 0x2c]);
    },
  );

  it('SMART without the 4F/C2 key, or an unknown ATA command, is ABORTED COMMAND with ATA ERR/ABRT', async () => {
    const { h } = await sim();
    expect((await run(h, pt16(0xb0, 0xd0, 0, 0), { in: 512 })).status).toBe(1);
    const s = await requestSense(h);
    expect([s[0], s[1]! & 0xf]).toEqual([0x72, 0xb]);
    expect([s[8 + 3], s[8 + 13]]).toEqual([0x04, 0x51]);
  });

  it('ata:false makes 85h/A1h unsupported opcodes', async () => {
    const { h } = await sim({ ata: false });
    expect((await run(h, pt16(0xec), { in: 512 })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x20, 0x00]);
  });
});

describe('vendor command handlers', () => {
  it('data-in: the handler sees the CDB and returns bytes', async () => {
    const { h, device } = await sim();
    device.onCommand(0xc0, ({ cdb, hostLength }) =>
      Uint8Array.from({ length: Math.min(cdb[1]!, hostLength) }, (_, i) => i),
    );
    const r = await run(h, [0xc0, 8, 0, 0, 0, 0], { in: 64 });
    expect(r.status).toBe(0);
    expect(Array.from(r.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.residue).toBe(56);
  });

  it('data-out: the handler receives the bytes; sense makes CHECK CONDITION held for REQUEST SENSE', async () => {
    const { h, device } = await sim();
    let got: number[] = [];
    device.onCommand(0xc1, async ({ dataOut }) => {
      got = Array.from(dataOut);
      return got[0] === 0xff ? { sense: { key: 0x5, asc: 0x26, ascq: 0x00 } } : undefined;
    });
    expect((await run(h, [0xc1, 0, 0, 0, 0, 0], { out: Uint8Array.of(1, 2, 3) })).status).toBe(0);
    expect(got).toEqual([1, 2, 3]);
    expect((await run(h, [0xc1, 0, 0, 0, 0, 0], { out: Uint8Array.of(0xff) })).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x5, 0x26, 0x00]);
  });

  it('overrides a built-in; builtin() runs the original; unregistering restores it', async () => {
    const { h, device } = await sim();
    const off = device.onCommand(0x12, async ({ builtin }) => {
      const original = await builtin();
      const data = original.data.slice();
      data.set(Buffer.from('PATCHED '), 8);
      return { data };
    });
    expect(ascii((await run(h, [0x12, 0, 0, 0, 36, 0], { in: 36 })).data.subarray(8, 16))).toBe('PATCHED ');
    off();
    expect(ascii((await run(h, [0x12, 0, 0, 0, 36, 0], { in: 36 })).data.subarray(8, 16))).toBe('USBSCSI ');
  });

  it('a handler that throws reports HARDWARE ERROR / INTERNAL TARGET FAILURE, and the device carries on', async () => {
    const { h, device } = await sim();
    device.onCommand(0xc2, () => {
      throw new Error('bug in a test handler');
    });
    expect((await run(h, [0xc2, 0, 0, 0, 0, 0])).status).toBe(1);
    expect(await senseOf(h)).toEqual([0x4, 0x44, 0x00]);
    expect(String(device.target.internalErrors.at(-1))).toContain('bug in a test handler');
    expect((await run(h, [0x00, 0, 0, 0, 0, 0])).status).toBe(0);
  });

  it('a slow async handler delays the CSW, not the CBW', async () => {
    const { h, device } = await sim();
    device.onCommand(0xc3, () => new Promise((r) => setTimeout(() => r(Uint8Array.of(9)), 80)));
    const started = Date.now();
    const r = await run(h, [0xc3, 0, 0, 0, 0, 0], { in: 1 });
    expect(Array.from(r.data)).toEqual([9]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
  });

  it('a plan option lets the device know the data phase (Ho > Do is then case 11)', async () => {
    const { h, device } = await sim();
    device.onCommand(0xc4, ({ dataOut }) => void expect(dataOut.length).toBe(4), {
      plan: () => ({ direction: 'out', length: 4 }),
    });
    const r = await command(h, [0xc4, 0, 0, 0, 0, 0], { out: new Uint8Array(16) });
    expect(r.data).toEqual({ status: TransferStatus.STALL, actualLength: 4 });
    expect(r.csw).toMatchObject({ status: 0, residue: 12 });
  });

  it('a lun filter limits the handler to one LUN; other LUNs keep the built-in', async () => {
    const { h, device } = await sim({ luns: [{}, {}] });
    device.onCommand(0x00, () => ({ sense: { key: 0x2, asc: 0x04, ascq: 0x03 } }), { lun: 1 });
    expect((await run(h, [0, 0, 0, 0, 0, 0], { lun: 0 })).status).toBe(0);
    expect((await run(h, [0, 0, 0, 0, 0, 0], { lun: 1 })).status).toBe(1);
  });

  it('refuses an opcode that is not a byte', async () => {
    const { device } = await sim();
    expect(() => device.onCommand(0x100, () => undefined)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });
});
