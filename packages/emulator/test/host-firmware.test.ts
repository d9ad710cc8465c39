import { afterEach, describe, expect, it } from 'vitest';
import {
  BotTransport,
  ErrorCodes,
  ScsiDevice,
  UsbScsiError,
  ataFailure,
  downloadMicrocodeCdb,
  openDevice,
  type DownloadFirmwareOptions,
  type FirmwareReport,
} from '@usbscsi/core';
import {
  EmulatorBackend,
  SimulatedDevice,
  buildSimFirmwareImage,
  type FirmwareModelOptions,
  type SimulatedDeviceOptions,
} from '@usbscsi/emulator';

// Integration tier: core's downloadFirmware against the emulator's firmware model, for every mode
// and fault. After every fault the device must answer and run its old or its new firmware, never
// a mix: each case ends by reading the revision (and by downloading again where the old one runs).

let sim: SimulatedDevice;
let backend: EmulatorBackend;
let dev: ScsiDevice;
const opened: ScsiDevice[] = [];

async function setup(firmware: FirmwareModelOptions = {}, extra: SimulatedDeviceOptions = {}) {
  sim = new SimulatedDevice({
    revision: '0.1',
    ata: { firmware: 'ATA0.1' },
    firmware: { activationMs: 50, ...firmware },
    ...extra,
  });
  backend = new EmulatorBackend({ devices: [sim] });
  dev = await openDevice({ backend, transport: 'bot' });
  opened.push(dev);
  sim.resetStats();
}

/** Opens the device again (after a re-enumeration or a replug). */
const reopen = async () => {
  const d = await openDevice({ backend, transport: 'bot' });
  opened.push(d);
  return d;
};

afterEach(async () => {
  for (const d of opened.splice(0)) await d.close().catch(() => undefined);
});

const image = (revision: string, size = 40_000) =>
  buildSimFirmwareImage({ revision, ataRevision: `ATA${revision}`, size });
const writeBuffers = () => sim.stats.history.filter((h) => h.cdb[0] === 0x3b);
const ataDownloads = () =>
  sim.stats.history.filter((h) => h.cdb[0] === 0x85 && (h.cdb[14] === 0x92 || h.cdb[14] === 0x93));

async function errorOf(p: Promise<unknown>): Promise<UsbScsiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a typed error').toBeInstanceOf(UsbScsiError);
  return err as UsbScsiError;
}

/** The device answers and runs `revision` (after any unit attention it still owes). */
async function runs(device: ScsiDevice, revision: string) {
  await device.execute(Uint8Array.of(0, 0, 0, 0, 0, 0));
  expect((await device.inquiry()).revision).toBe(revision);
}

async function download(img: Uint8Array, options: Partial<DownloadFirmwareOptions> = {}): Promise<FirmwareReport> {
  return dev.downloadFirmware(img, { allowMediumWrite: true, reopen, activationTimeoutMs: 5000, ...options });
}

describe('firmwareInfo', () => {
  it(
    'reports the WRITE BUFFER modes (REPORT SUPPORTED OPERATION CODES), the offset boundary ' +
      'and buffer (READ BUFFER 03h) and the revision',
    async () => {
      await setup({ modes: [0x05, 0x07, 0x0e, 0x0f], offsetBoundary: 12, capacity: 256 * 1024 });
      const info = await dev.firmwareInfo();
      expect(info).toMatchObject({
        target: 'scsi',
        modes: [0x05, 0x07, 0x0e, 0x0f],
        modesSource: 'report-supported-operation-codes',
        offsetBoundary: 4096,
        bufferCapacity: 256 * 1024,
        revision: '0.1',
      });
      expect(writeBuffers()).toEqual([]);
    },
  );

  it(
    'a device without REPORT SUPPORTED OPERATION CODES: modes unknown, said in the notes; ' +
      'auto then picks 07h when asked to activate',
    async () => {
      await setup({}, { ata: false });
      sim.onCommand(0xa3, () => ({ sense: { key: 0x5, asc: 0x20, ascq: 0x00 } }));
      const info = await dev.firmwareInfo();
      expect(info.modes).toBeUndefined();
      expect(info.notes.join(' ')).toMatch(/REPORT SUPPORTED OPERATION CODES is not supported/);
      const r = await download(image('0.2'), { activate: true });
      expect([r.plan.mode, r.revisionAfter]).toEqual([0x07, '0.2']);
    },
  );
});

describe('downloadFirmware over WRITE BUFFER', () => {
  it(
    'mode 05h: the whole image in one command; the device activates it and reports 3F/01; ' +
      'revision before and after',
    async () => {
      await setup();
      const r = await download(image('0.2'), { mode: 0x05, activate: true });
      expect(r).toMatchObject({
        state: 'activated',
        revisionBefore: '0.1',
        revisionAfter: '0.2',
        chunksSent: 1,
        bytesSent: 40_000,
        cameBack: 'microcode-changed',
      });
      expect(writeBuffers().map((h) => h.cdb[1])).toEqual([0x05]);
      await runs(dev, '0.2');
    },
  );

  it(
    'mode 07h: aligned segments at increasing offsets, the last one short and not padded; ' +
      'activates after the last',
    async () => {
      await setup();
      const progress: number[] = [];
      const r = await download(image('0.3'), {
        mode: 0x07,
        chunkSize: 4096,
        activate: true,
        onProgress: (p) => p.phase === 'download' && progress.push(p.offset!),
      });
      expect(r.plan.chunks.map((c) => [c.offset, c.length]).slice(-2)).toEqual([
        [32768, 4096],
        [36864, 3136],
      ]);
      const wb = writeBuffers();
      expect(wb.length).toBe(10);
      expect(wb.map((h) => (h.cdb[3]! << 16) | (h.cdb[4]! << 8) | h.cdb[5]!)).toEqual(progress);
      expect(wb.at(-1)!.hostLength).toBe(3136);
      expect(r.revisionAfter).toBe('0.3');
    },
  );

  it('mode 0Eh without activate: saved, deferred, old firmware runs; a power cycle activates it', async () => {
    await setup();
    const r = await download(image('0.4'), { mode: 0x0e });
    expect([r.state, r.revisionAfter]).toEqual(['deferred', undefined]);
    await runs(dev, '0.1');
    sim.replug();
    const again = await reopen();
    await runs(again, '0.4');
  });

  it(
    'mode 0Eh with activate, and 0Dh (activation events power on + hard reset) with activate: ' +
      '0Fh follows the last segment',
    async () => {
      await setup();
      const r = await download(image('0.5'), { mode: 0x0e, activate: true });
      expect([r.state, r.revisionAfter]).toEqual(['activated', '0.5']);
      expect(writeBuffers().at(-1)!.cdb[1]).toBe(0x0f);
      const r2 = await download(image('0.6'), { mode: 0x0d, activate: true });
      expect(r2.revisionAfter).toBe('0.6');
      expect(
        writeBuffers()
          .filter((h) => (h.cdb[1]! & 0x1f) === 0x0d)
          .every((h) => h.cdb[1]! >> 5 === 0x06),
      ).toBe(true);
    },
  );

  it(
    'auto says what it chose: 0Eh (+0Fh) when the device has it, 07h or 05h otherwise; ' +
      'refuses to activate unasked',
    async () => {
      await setup();
      expect((await download(image('0.2'), { dryRun: true })).plan).toMatchObject({
        mode: 0x0e,
        activation: 'deferred',
        reason: expect.stringMatching(/reports modes 0x05, 0x07, 0x0d, 0x0e, 0x0f/),
      });
      expect((await download(image('0.2'), { dryRun: true, activate: true })).plan).toMatchObject({
        mode: 0x0e,
        activation: 'activate-command',
      });
      expect(writeBuffers()).toEqual([]);
      await setup({ modes: [0x05, 0x07] });
      expect((await download(image('0.2'), { dryRun: true, activate: true })).plan.mode).toBe(0x07);
      const e = await errorOf(download(image('0.2')));
      expect([e.code, e.message]).toEqual([ErrorCodes.UNSUPPORTED, expect.stringMatching(/add --activate/)]);
      await setup({ modes: [0x05] });
      expect((await download(image('0.2'), { activate: true })).plan.mode).toBe(0x05);
    },
  );

  it(
    'typed input errors, before anything is sent: consent, misaligned offset, image too ' +
      'large, bad chunk, unsupported mode',
    async () => {
      await setup({ capacity: 64 * 1024 });
      const cases: [Partial<DownloadFirmwareOptions> & { img?: Uint8Array }, string, string][] = [
        [{ allowMediumWrite: false }, ErrorCodes.BAD_INPUT, 'no-consent'],
        [{ mode: 0x07, activate: true, offset: 100 }, ErrorCodes.BAD_INPUT, 'misaligned-offset'],
        [{ mode: 0x07, activate: true, img: image('0.2', 100_000) }, ErrorCodes.BAD_INPUT, 'image-too-large'],
        [{ mode: 0x07, activate: true, chunkSize: 1000 }, ErrorCodes.BAD_INPUT, 'bad-chunk-size'],
        [{ mode: 0x07 }, ErrorCodes.BAD_INPUT, 'activation-not-allowed'],
      ];
      for (const [{ img, ...options }, code, reason] of cases) {
        const e = await errorOf(download(img ?? image('0.2'), options));
        expect([e.code, e.details['reason']], e.message).toEqual([code, reason]);
      }
      await setup({ modes: [0x05, 0x07] });
      const e = await errorOf(download(image('0.2'), { mode: 0x0e }));
      expect([e.code, e.details['reason']]).toEqual([ErrorCodes.UNSUPPORTED, 'mode-unsupported']);
      expect(writeBuffers()).toEqual([]);
      await runs(dev, '0.1');
    },
  );

  it('refused on a mounted medium, like every write', async () => {
    await setup();
    await dev.close();
    const handle = await backend.open((await backend.list())[0]!);
    const mounted = new ScsiDevice(await BotTransport.open(handle), {
      mounts: async () => [{ device: '/dev/sdz1', mountPoint: '/media/x' }],
    });
    opened.push(mounted);
    const e = await errorOf(mounted.downloadFirmware(image('0.2'), { allowMediumWrite: true, activate: true }));
    expect(e.code).toBe(ErrorCodes.MOUNTED);
    expect(writeBuffers()).toEqual([]);
  });
});

describe('faults: the device keeps its old or its new firmware, never half', () => {
  it(
    'segment N refused: CHECK CONDITION names the offset; old firmware runs; ' + 'a new download then succeeds',
    async () => {
      await setup({ refuseSegment: 3 });
      const e = await errorOf(download(image('0.2'), { mode: 0x07, chunkSize: 4096, activate: true }));
      expect(e.code).toBe(ErrorCodes.CHECK_CONDITION);
      expect(e.details).toMatchObject({
        reason: 'chunk-refused',
        chunk: 2,
        offset: 8192,
        deviceState: 'old-firmware',
        senseKey: 0x4,
      });
      expect(e.message).toMatch(/chunk 3 of 10 at buffer offset 8192.*old firmware/);
      expect(writeBuffers().length).toBe(3);
      await runs(dev, '0.1');
      expect((await download(image('0.2'), { mode: 0x07, chunkSize: 4096, activate: true })).revisionAfter).toBe('0.2');
    },
  );

  it('signal stops between chunks, never inside one, and says the old firmware still runs', async () => {
    await setup();
    const stop = new AbortController();
    const e = await errorOf(
      download(image('0.2'), {
        mode: 0x07,
        chunkSize: 4096,
        activate: true,
        signal: stop.signal,
        onProgress: (p) => p.chunk === 2 && stop.abort(),
      }),
    );
    expect(e.code).toBe(ErrorCodes.CANCELLED);
    expect(e.details).toMatchObject({ chunksSent: 2, offset: 8192, deviceState: 'old-firmware' });
    expect(e.message).toMatch(/after 2 of 10 chunks.*old firmware/);
    expect(writeBuffers().length).toBe(2);
    expect(sim.target.firmwareState!.pendingBytes).toBe(8192);
    await runs(dev, '0.1');
  });

  it('a deferred download stopped before 0Fh says the new firmware is saved, not active', async () => {
    await setup();
    const stop = new AbortController();
    const e = await errorOf(
      download(image('0.2'), {
        mode: 0x0e,
        activate: true,
        signal: stop.signal,
        onProgress: (p) => p.chunk === p.chunks && stop.abort(),
      }),
    );
    expect([e.code, e.details['deviceState']]).toEqual([ErrorCodes.CANCELLED, 'new-firmware-deferred']);
    await runs(dev, '0.1');
  });

  it(
    'activate (0Fh) refused with 2C/00 after every segment was accepted: old firmware ' +
      'runs, nothing saved, the reason names the activation',
    async () => {
      await setup();
      const junk = new Uint8Array(5000).map((_, i) => (i * 37 + 11) & 0xff);
      const e = await errorOf(download(junk, { activate: true }));
      expect(e.code).toBe(ErrorCodes.CHECK_CONDITION);
      expect(e.details).toMatchObject({
        reason: 'activate-refused',
        activate: true,
        chunksSent: 1,
        deviceState: 'old-firmware',
        deferredImage: 'none',
        senseKey: 0x05,
        asc: 0x2c,
      });
      expect(e.message).toMatch(
        /refused the activate command \(WRITE BUFFER mode 0x0f\).*still runs its old firmware; it holds no saved image/,
      );
      expect(e.message).not.toMatch(/is saved/);
      await runs(dev, '0.1');
    },
  );

  it(
    'the activate command (0Fh) lost in transport: the device runs either firmware (deviceState ' +
      'unknown), not "saved"',
    async () => {
      await setup();
      sim.faults.inject({ kind: 'no-response', phase: 'csw', opcode: 0x3b, skip: 1 });
      const e = await errorOf(download(image('0.2', 4096), { mode: 0x0e, activate: true, timeoutMs: 500 }));
      expect([e.code, e.details['activate'], e.details['deviceState']]).toEqual([ErrorCodes.TIMEOUT, true, 'unknown']);
      expect(e.message).toMatch(/during the activate command.*either its old or its new firmware/);
      expect(writeBuffers().map((h) => h.cdb[1])).toEqual([0x0e, 0x0f]);
    },
  );

  it(
    'disconnect mid-download: E_DEVICE_GONE with the offset; after the replug the old ' +
      'firmware runs and a new download works',
    async () => {
      await setup();
      sim.faults.inject({ kind: 'disconnect', opcode: 0x3b, skip: 2 });
      const e = await errorOf(download(image('0.2'), { mode: 0x07, chunkSize: 4096, activate: true }));
      expect(e.code).toBe(ErrorCodes.DEVICE_GONE);
      expect(e.details).toMatchObject({ offset: 8192, deviceState: 'old-firmware', chunksSent: 2 });
      sim.replug();
      dev = await reopen();
      await runs(dev, '0.1');
      expect((await download(image('0.2'), { mode: 0x07, chunkSize: 4096, activate: true })).revisionAfter).toBe('0.2');
    },
  );

  it(
    'activation that takes longer than the wait: E_TIMEOUT that says either firmware ' + 'runs; later the new one does',
    async () => {
      await setup({ activationMs: 1500 });
      const e = await errorOf(download(image('0.2'), { mode: 0x07, activate: true, activationTimeoutMs: 400 }));
      expect([e.code, e.details['reason']]).toEqual([ErrorCodes.TIMEOUT, 'did-not-come-back']);
      expect(e.message).toMatch(/old or its new firmware, never a mix/);
      await new Promise((r) => setTimeout(r, 1300));
      await runs(dev, '0.2');
    },
  );

  it('re-enumeration after activation: found again through reopen, new revision read there', async () => {
    await setup({ activation: 'reenumerate', activationMs: 150 });
    const address = sim.deviceAddress;
    const r = await download(image('0.7'), { mode: 0x0e, activate: true });
    expect([r.cameBack, r.revisionAfter]).toEqual(['re-enumerated', '0.7']);
    expect(sim.deviceAddress).not.toBe(address);
  });

  it(
    'device gone during the activate command (0Fh): taken as activation under way; found ' +
      'again, the saved image runs',
    async () => {
      await setup();
      sim.faults.inject({ kind: 'disconnect', opcode: 0x3b, skip: 5 });
      const plugBack = setTimeout(() => sim.replug(), 300);
      const r = await download(image('0.6'), { mode: 0x0e, chunkSize: 8192, activate: true });
      clearTimeout(plugBack);
      expect(writeBuffers().map((h) => h.cdb[1])).toEqual([0x0e, 0x0e, 0x0e, 0x0e, 0x0e, 0x0f]);
      expect([r.state, r.cameBack, r.revisionAfter]).toEqual(['activated', 're-enumerated', '0.6']);
    },
  );

  it(
    're-enumeration without reopen: E_DEVICE_GONE that says to open it again; it runs ' + 'the new firmware when found',
    async () => {
      await setup({ activation: 'reenumerate', activationMs: 100 });
      const e = await errorOf(
        dev.downloadFirmware(image('0.8'), {
          allowMediumWrite: true,
          mode: 0x07,
          activate: true,
          activationTimeoutMs: 3000,
        }),
      );
      expect([e.code, e.details['reason']]).toEqual([ErrorCodes.DEVICE_GONE, 'reenumerated']);
      await new Promise((r) => setTimeout(r, 200));
      await runs(await reopen(), '0.8');
    },
  );

  it(
    're-enumeration that never completes in time: E_TIMEOUT; the device comes back later ' + 'with the new firmware',
    async () => {
      await setup({ activation: 'reenumerate', activationMs: 1500 });
      const e = await errorOf(download(image('0.9'), { mode: 0x07, activate: true, activationTimeoutMs: 500 }));
      expect(e.code).toBe(ErrorCodes.TIMEOUT);
      await new Promise((r) => setTimeout(r, 1200));
      await runs(await reopen(), '0.9');
    },
  );
});

describe('downloadFirmware through a USB-SATA bridge (ATA DOWNLOAD MICROCODE)', () => {
  const ataImage = (rev: string) => image(rev, 40 * 512);
  const identifyFirmware = async (d: ScsiDevice) => (await d.ataIdentify()).firmware;

  it('info from IDENTIFY: modes 05h/07h, 512-byte offsets, segment limits from words 234/235', async () => {
    await setup({ ataMinBlocks: 2, ataMaxBlocks: 16 });
    const info = await dev.firmwareInfo({ target: 'ata' });
    expect(info).toMatchObject({
      target: 'ata',
      modes: [0x05, 0x07],
      modesSource: 'identify',
      offsetBoundary: 512,
      minSegment: 1024,
      maxSegment: 8192,
      revision: 'ATA0.1',
    });
  });

  it(
    'segmented (03h) in blocks, whole (07h), deferred (0Eh) + activate (0Fh), and the ' +
      'DMA command: IDENTIFY words 23-26 change',
    async () => {
      await setup({ ataMaxBlocks: 16 });
      const seg = await download(ataImage('1.1'), { target: 'ata', mode: 0x07, activate: true });
      expect([seg.plan.chunks.length, seg.revisionBefore, seg.revisionAfter]).toEqual([3, 'ATA0.1', 'ATA1.1']);
      expect(ataDownloads().map((h) => h.cdb[4])).toEqual([0x03, 0x03, 0x03]);
      expect(ataDownloads().map((h) => (h.cdb[10]! | (h.cdb[12]! << 8)) * 512)).toEqual([0, 8192, 16384]);
      const whole = await download(ataImage('1.2'), { target: 'ata', mode: 0x05, activate: true });
      expect(whole.revisionAfter).toBe('ATA1.2');
      const deferred = await download(ataImage('1.3'), { target: 'ata', mode: 0x0e, activate: true, ataDma: true });
      expect(deferred.revisionAfter).toBe('ATA1.3');
      expect(
        ataDownloads()
          .slice(-4)
          .map((h) => [h.cdb[14], h.cdb[4]]),
      ).toEqual([
        [0x93, 0x0e],
        [0x93, 0x0e],
        [0x93, 0x0e],
        [0x93, 0x0f],
      ]);
      expect(await identifyFirmware(dev)).toBe('ATA1.3');
      expect((await dev.inquiry()).revision).toBe('1.3');
    },
  );

  it(
    'whole image (07h) over 255 blocks: the 16-bit count in COUNT and LBA 7:0, the length ' +
      'taken from the transport (T_LENGTH 11b)',
    async () => {
      await setup();
      for (const [blocks, rev] of [
        [256, '2.1'],
        [400, '2.2'],
      ] as const) {
        const r = await download(image(rev, blocks * 512), { target: 'ata', mode: 0x05, activate: true });
        expect([r.plan.chunks.length, r.revisionAfter]).toEqual([1, `ATA${rev}`]);
        const cdb = ataDownloads().at(-1)!.cdb;
        expect([cdb[2]! & 0x03, cdb[6], cdb[8]]).toEqual([0x03, blocks & 0xff, blocks >> 8]);
      }
      // Within COUNT the common T_LENGTH 10b stays.
      await download(image('2.3', 255 * 512), { target: 'ata', mode: 0x05, activate: true });
      expect(ataDownloads().at(-1)!.cdb[2]! & 0x03).toBe(0x02);
    },
  );

  it(
    'the emulated drive aborts a whole image whose block count is not what the SATL moved ' +
      '(COUNT only, count over 255)',
    async () => {
      await setup();
      const cdb = downloadMicrocodeCdb({ subcommand: 0x07, blocks: 300, offsetBlocks: 0 });
      cdb[2] = (cdb[2]! & ~0x03) | 0x02;
      const r = await dev.execute(cdb, { data: image('2.4', 300 * 512), allowMediumWrite: true });
      expect(ataFailure(r)).toMatch(/aborted DOWNLOAD MICROCODE/);
      expect(await identifyFirmware(dev)).toBe('ATA0.1');
    },
  );

  it(
    'activate (0Fh) aborted by the drive: the old firmware runs, what it holds is unknown, ' +
      'the reason names the activation',
    async () => {
      await setup({ ataMaxBlocks: 16 });
      const junk = new Uint8Array(40 * 512).fill(0xa5);
      const e = await errorOf(download(junk, { target: 'ata', mode: 0x0e, activate: true }));
      expect(e.code).toBe(ErrorCodes.CHECK_CONDITION);
      expect(e.details).toMatchObject({
        reason: 'activate-refused',
        activate: true,
        deviceState: 'old-firmware',
        deferredImage: 'unknown',
      });
      expect(e.message).toMatch(
        /refused the activate command \(ATA DOWNLOAD MICROCODE subcommand 0x0f\).*still runs its old firmware/,
      );
      expect(e.message).not.toMatch(/is saved/);
      expect(await identifyFirmware(dev)).toBe('ATA0.1');
    },
  );

  it(
    'an image that is not whole 512-byte blocks is refused before sending; a refused ' +
      'segment names its offset and leaves the old firmware',
    async () => {
      await setup({ ataMaxBlocks: 16 });
      const e = await errorOf(download(image('1.1', 10_000), { target: 'ata', mode: 0x07, activate: true }));
      expect([e.code, e.details['reason']]).toEqual([ErrorCodes.BAD_INPUT, 'image-not-blocks']);
      expect(ataDownloads()).toEqual([]);
      sim.target.firmwareState!.refuseSegment = 2;
      const refused = await errorOf(download(ataImage('1.1'), { target: 'ata', mode: 0x07, activate: true }));
      expect(refused.details).toMatchObject({ reason: 'chunk-refused', offset: 8192, deviceState: 'old-firmware' });
      expect(refused.message).toMatch(/aborted DOWNLOAD MICROCODE/);
      expect(await identifyFirmware(dev)).toBe('ATA0.1');
    },
  );
});
