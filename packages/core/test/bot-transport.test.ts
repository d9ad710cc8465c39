import { afterEach, describe, expect, it, vi } from 'vitest';
import { BotTransport } from '../src/bot/bot-transport.js';
import { decodeCommandBlockWrapper } from '../src/bot/wrappers.js';
import { ErrorCodes, UsbScsiError } from '../src/errors.js';
import { TransferStatus, type UsbDeviceInfo, type UsbHandleCapabilities } from '../src/usb/backend.js';
import { BOT_DEVICE, ScriptedHandle, cswFor, type Step } from './scripted-handle.js';

// Unit tier: the host-side BOT state machine against a scripted device, asserting
// the exact wire sequence of each case in BOT 1.0 §6.7 and of reset recovery (§5.3.4).

const IN = 0x81;
const OUT = 0x02;
const TUR = Uint8Array.of(0x00, 0, 0, 0, 0, 0);
const INQUIRY36 = Uint8Array.of(0x12, 0, 0, 0, 36, 0);
const WRITE10_1 = Uint8Array.of(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0);

const maxLunZero: Step = { op: 'control', request: 0xfe, reply: Uint8Array.of(0) };
const resetRecoverySteps: Step[] = [
  { op: 'control', request: 0xff },
  { op: 'clearHalt', endpoint: IN },
  { op: 'clearHalt', endpoint: OUT },
];

/** Opens without the open-time reset (its own tests are below): the scripts start at the first command. */
async function open(...extra: Step[]) {
  const handle = new ScriptedHandle().play(maxLunZero, ...extra);
  const bot = await BotTransport.open(handle, { resetDelayMs: 0, resetOnOpen: false });
  return { handle, bot };
}

function expectCode(err: unknown, code: string) {
  expect(err).toBeInstanceOf(UsbScsiError);
  expect((err as UsbScsiError).code).toBe(code);
}

describe('BotTransport.open', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('pauses 100 ms after the open-time class reset, unless the backend says its device needs no pause', async () => {
    const pauses = (capabilities: Partial<UsbHandleCapabilities>) => async () => {
      const handle = new ScriptedHandle().play(...resetRecoverySteps, maxLunZero);
      Object.assign(handle.capabilities, capabilities);
      const timer = vi.spyOn(globalThis, 'setTimeout');
      await BotTransport.open(handle);
      const delays = timer.mock.calls.map((c) => c[1]);
      timer.mockRestore();
      return delays.filter((ms) => ms === 100).length;
    };
    expect(await pauses({})()).toBe(1);
    // The emulator's handle: a simulated device is ready as soon as it answered the reset.
    expect(await pauses({ resetRecoveryMs: 0 })()).toBe(0);
  });

  it(
    'claims the BOT interface, runs reset recovery (class reset, both halts cleared), ' + 'then reads GET MAX LUN',
    async () => {
      const handle = new ScriptedHandle().play(...resetRecoverySteps, {
        op: 'control',
        request: 0xfe,
        reply: Uint8Array.of(3),
      });
      const bot = await BotTransport.open(handle, { resetDelayMs: 0 });
      expect(bot.maxLun).toBe(3);
      expect(handle.claimed).toEqual([0]);
      expect(handle.calls.map((c) => [c.op, c.request ?? c.endpoint])).toEqual([
        ['control', 0xff],
        ['clearHalt', IN],
        ['clearHalt', OUT],
        ['control', 0xfe],
      ]);
      expect(handle.remaining).toBe(0);
    },
  );

  it(
    'sends no SET_INTERFACE for an interface with one alternate setting (f_mass_storage ' + 'takes it as a reset)',
    async () => {
      const handle = new ScriptedHandle().play(...resetRecoverySteps, maxLunZero);
      await BotTransport.open(handle, { resetDelayMs: 0 });
      expect(handle.alt).toEqual([]);
      expect(handle.calls.some((c) => c.request === 0x0a)).toBe(false);
    },
  );

  it('a class reset the device refuses at open still clears both halts, and the open goes on', async () => {
    const handle = new ScriptedHandle().play(
      { op: 'control', request: 0xff, status: TransferStatus.STALL },
      { op: 'clearHalt', endpoint: IN },
      { op: 'clearHalt', endpoint: OUT },
      maxLunZero,
    );
    const bot = await BotTransport.open(handle, { resetDelayMs: 0 });
    expect(bot.maxLun).toBe(0);
    expect(handle.remaining).toBe(0);
  });

  it('treats a stalled GET MAX LUN as a single-LUN device', async () => {
    const handle = new ScriptedHandle().play(...resetRecoverySteps, {
      op: 'control',
      request: 0xfe,
      status: TransferStatus.STALL,
    });
    const bot = await BotTransport.open(handle, { resetDelayMs: 0 });
    expect(bot.maxLun).toBe(0);
  });

  it('skips GET MAX LUN for devices with the single-LUN quirk', async () => {
    const handle = new ScriptedHandle();
    const bot = await BotTransport.open(handle, { quirks: { singleLun: true }, resetOnOpen: false });
    expect(bot.maxLun).toBe(0);
    expect(handle.calls).toEqual([]);
  });

  it('refuses a UAS-only interface with a typed error that names UAS and SG_IO', async () => {
    const uas: UsbDeviceInfo = structuredClone(BOT_DEVICE);
    uas.configurations[0]!.interfaces[0]!.interfaceProtocol = 0x62;
    const err = await BotTransport.open(new ScriptedHandle(uas)).catch((e) => e);
    expectCode(err, ErrorCodes.UNSUPPORTED);
    expect(err.message).toMatch(/UAS/);
    expect(err.message).toMatch(/SG_IO/);
  });

  function bridge(): UsbDeviceInfo {
    const both: UsbDeviceInfo = structuredClone(BOT_DEVICE);
    const bot0 = both.configurations[0]!.interfaces[0]!;
    both.configurations[0]!.interfaces = [{ ...bot0, alternateSetting: 1, interfaceProtocol: 0x62 }, bot0];
    return both;
  }

  it(
    'with a UAS alternate too: GET_INTERFACE, and SET_INTERFACE to the BOT setting only ' + 'when another is current',
    async () => {
      const atUas = new ScriptedHandle(bridge()).play(
        { op: 'control', request: 0x0a, reply: Uint8Array.of(1) },
        maxLunZero,
      );
      await BotTransport.open(atUas, { resetOnOpen: false });
      expect(atUas.alt).toEqual([[0, 0]]);
      const atBot = new ScriptedHandle(bridge()).play(
        { op: 'control', request: 0x0a, reply: Uint8Array.of(0) },
        maxLunZero,
      );
      await BotTransport.open(atBot, { resetOnOpen: false });
      expect(atBot.alt).toEqual([]);
      const mute = new ScriptedHandle(bridge()).play(
        { op: 'control', request: 0x0a, status: TransferStatus.STALL },
        maxLunZero,
      );
      await BotTransport.open(mute, { resetOnOpen: false });
      expect(mute.alt).toEqual([[0, 0]]);
    },
  );

  it('refuses to take an interface the kernel driver holds unless asked to detach', async () => {
    const handle = new ScriptedHandle();
    (handle as { capabilities: { kernelDriver: boolean } }).capabilities.kernelDriver = true;
    handle.kernelDriverActive = async () => true;
    const err = await BotTransport.open(handle).catch((e) => e);
    expectCode(err, ErrorCodes.BUSY);
    expect(err.message).toMatch(/lease/);
  });
});

describe('BotTransport.execute: the 13 cases (host side)', () => {
  it('Hn = Dn: CBW then CSW, status GOOD, no data', async () => {
    const { handle, bot } = await open(
      { op: 'bulkOut', endpoint: OUT },
      { op: 'bulkIn', endpoint: IN, reply: cswFor(0) },
    );
    const result = await bot.execute({ cdb: TUR, direction: 'none' });
    expect(result.status).toBe(0);
    expect(result.transferred).toBe(0);
    const cbw = decodeCommandBlockWrapper(handle.calls[1]!.data!)!;
    expect(cbw.dataTransferLength).toBe(0);
    expect(Array.from(cbw.cdb)).toEqual(Array.from(TUR));
    expect(handle.remaining).toBe(0);
  });

  it('Hi = Di: the data lands in the caller buffer', async () => {
    const payload = new Uint8Array(36).map((_, i) => i + 1);
    const { handle, bot } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', endpoint: IN, reply: payload },
      { op: 'bulkIn', endpoint: IN, reply: cswFor(0) },
    );
    const buffer = new Uint8Array(36);
    const result = await bot.execute({ cdb: INQUIRY36, direction: 'in', data: buffer });
    expect(result.data).toEqual(payload);
    expect(result.data.buffer).toBe(buffer.buffer);
    expect(result.residue).toBe(0);
    const cbw = decodeCommandBlockWrapper(handle.calls[1]!.data!)!;
    expect(cbw.dataIn).toBe(true);
    expect(cbw.dataTransferLength).toBe(36);
  });

  it('Hi > Di (short packet): data shorter than asked is not an error; residue is reported', async () => {
    const { bot } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(20).fill(7) },
      { op: 'bulkIn', reply: cswFor(0, 16) },
    );
    const result = await bot.execute({ cdb: INQUIRY36, direction: 'in', data: new Uint8Array(36) });
    expect(result.status).toBe(0);
    expect(result.transferred).toBe(20);
    expect(result.data.length).toBe(20);
    expect(result.residue).toBe(16);
  });

  it('Hi > Di (stall): the bulk-in halt is cleared and the CSW is still read', async () => {
    const { handle, bot } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL, reply: new Uint8Array(8).fill(1) },
      { op: 'clearHalt', endpoint: IN },
      { op: 'bulkIn', reply: cswFor(0, 28) },
    );
    const result = await bot.execute({ cdb: INQUIRY36, direction: 'in', data: new Uint8Array(36) });
    expect(result.status).toBe(0);
    expect(result.transferred).toBe(8);
    expect(result.residue).toBe(28);
    expect(handle.remaining).toBe(0);
  });

  it('Ho > Do (stall): the bulk-out halt is cleared and the CSW is still read', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkOut', endpoint: OUT, status: TransferStatus.STALL, actualLength: 0 },
      { op: 'clearHalt', endpoint: OUT },
      { op: 'bulkIn', reply: cswFor(1, 512) },
      // auto REQUEST SENSE after status 1: 96 bytes asked, fixed sense returned
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: Uint8Array.of(0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0) },
      { op: 'bulkIn', reply: cswFor(0, 78) },
    );
    const result = await bot.execute({ cdb: WRITE10_1, direction: 'out', data: new Uint8Array(512) });
    expect(result.status).toBe(2);
    expect(result.residue).toBe(512);
    expect(result.sense?.senseKey).toBe(5);
    expect(result.sense?.asc).toBe(0x24);
    const senseCbw = decodeCommandBlockWrapper(handle.calls.filter((c) => c.length === 31)[1]!.data!)!;
    expect(senseCbw.cdb[0]).toBe(0x03);
    expect(senseCbw.dataTransferLength).toBe(96);
  });

  it('Hn < Di / Hi < Di / Ho <> Di: a phase error (CSW status 2) triggers reset recovery', async () => {
    const { bot, handle } = await open({ op: 'bulkOut' }, { op: 'bulkIn', reply: cswFor(2) }, ...resetRecoverySteps);
    const err = await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e);
    expectCode(err, ErrorCodes.PHASE_ERROR);
    expect(handle.remaining).toBe(0);
  });

  it('the device sending more than asked (babble) ends in reset recovery and E_OVERFLOW', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.OVERFLOW, reply: new Uint8Array(36) },
      ...resetRecoverySteps,
    );
    const err = await bot.execute({ cdb: INQUIRY36, direction: 'in', data: new Uint8Array(36) }).catch((e) => e);
    expectCode(err, ErrorCodes.OVERFLOW);
    expect(handle.remaining).toBe(0);
  });
});

describe('BotTransport.execute: status phase and recovery', () => {
  it('a stalled CSW read is cleared and retried once', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL },
      { op: 'clearHalt', endpoint: IN },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    expect((await bot.execute({ cdb: TUR, direction: 'none' })).status).toBe(0);
    expect(handle.remaining).toBe(0);
  });

  it('a CSW read that stalls twice ends in reset recovery and E_STALL', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.STALL },
      { op: 'clearHalt', endpoint: IN },
      { op: 'bulkIn', status: TransferStatus.STALL },
      ...resetRecoverySteps,
    );
    expectCode(await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e), ErrorCodes.STALL);
    expect(handle.remaining).toBe(0);
  });

  it('a zero-length packet before the CSW is skipped once', async () => {
    const { bot } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(0) },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    expect((await bot.execute({ cdb: TUR, direction: 'none' })).status).toBe(0);
  });

  for (const [name, reply] of [
    ['bad signature', cswFor(0, 0, 0x55425355)],
    [
      'wrong tag',
      (h: ScriptedHandle) => {
        const b = cswFor(0)(h);
        b[4] = (b[4]! + 1) & 0xff;
        return b;
      },
    ],
    ['residue larger than asked', cswFor(0, 1)],
    ['status 3', cswFor(3)],
    ['12 bytes', (h: ScriptedHandle) => cswFor(0)(h).subarray(0, 12)],
  ] as const) {
    it(`an invalid CSW (${name}) triggers reset recovery, then the next command succeeds`, async () => {
      const { bot, handle } = await open(
        { op: 'bulkOut' },
        { op: 'bulkIn', reply },
        ...resetRecoverySteps,
        { op: 'bulkOut' },
        { op: 'bulkIn', reply: cswFor(0) },
      );
      expectCode(await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e), ErrorCodes.PHASE_ERROR);
      expect((await bot.execute({ cdb: TUR, direction: 'none' })).status).toBe(0);
      expect(handle.remaining).toBe(0);
    });
  }

  it('a data-phase timeout ends in reset recovery and E_TIMEOUT that says what to do', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', status: TransferStatus.TIMEOUT },
      ...resetRecoverySteps,
    );
    const err = await bot
      .execute({ cdb: INQUIRY36, direction: 'in', data: new Uint8Array(36), timeoutMs: 50 })
      .catch((e) => e);
    expectCode(err, ErrorCodes.TIMEOUT);
    expect(err.message).toMatch(/--timeout/);
    expect(handle.remaining).toBe(0);
  });

  it('a stalled CBW ends in reset recovery', async () => {
    const { bot, handle } = await open({ op: 'bulkOut', status: TransferStatus.STALL }, ...resetRecoverySteps);
    expectCode(await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e), ErrorCodes.STALL);
    expect(handle.remaining).toBe(0);
  });

  it(
    "a failing class reset keeps the command's error; the reset failure (naming the port " + 'reset) is its cause',
    async () => {
      const { bot } = await open(
        { op: 'bulkOut' },
        { op: 'bulkIn', reply: cswFor(2) },
        { op: 'control', request: 0xff, status: TransferStatus.STALL },
      );
      const err = await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e);
      expectCode(err, ErrorCodes.PHASE_ERROR);
      expect(err.message).toMatch(/reset recovery failed too/);
      expectCode(err.cause, ErrorCodes.IO);
      expect(err.cause.message).toMatch(/reset --port/);
    },
  );

  it('reset() runs reset recovery on request', async () => {
    const { bot, handle } = await open(...resetRecoverySteps);
    await bot.reset();
    expect(handle.calls.map((c) => c.op)).toEqual(['control', 'control', 'clearHalt', 'clearHalt']);
  });
});

describe('BotTransport.execute: tags, quirks, input checks, serialisation', () => {
  it('gives every command a new tag', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) },
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    await bot.execute({ cdb: TUR, direction: 'none' });
    await bot.execute({ cdb: TUR, direction: 'none' });
    const tags = handle.calls.filter((c) => c.length === 31).map((c) => decodeCommandBlockWrapper(c.data!)!.tag);
    expect(new Set(tags).size).toBe(2);
  });

  it('tolerates a bad CSW signature only with the quirk', async () => {
    const handle = new ScriptedHandle().play(
      maxLunZero,
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0, 0, 0x55425355) },
    );
    const bot = await BotTransport.open(handle, { quirks: { tolerateBadCswSignature: true }, resetOnOpen: false });
    expect((await bot.execute({ cdb: TUR, direction: 'none' })).status).toBe(0);
  });

  it('computes the residue from what moved when the device ignores residue (quirk)', async () => {
    const handle = new ScriptedHandle().play(
      maxLunZero,
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: new Uint8Array(10) },
      { op: 'bulkIn', reply: cswFor(0, 0) },
    );
    const bot = await BotTransport.open(handle, { quirks: { ignoreResidue: true }, resetOnOpen: false });
    const result = await bot.execute({ cdb: INQUIRY36, direction: 'in', data: new Uint8Array(36) });
    expect(result.residue).toBe(26);
  });

  it('rejects bad input before anything is sent', async () => {
    const { bot, handle } = await open();
    expectCode(await bot.execute({ cdb: new Uint8Array(0), direction: 'none' }).catch((e) => e), ErrorCodes.BAD_INPUT);
    expectCode(await bot.execute({ cdb: new Uint8Array(17), direction: 'none' }).catch((e) => e), ErrorCodes.BAD_INPUT);
    expectCode(await bot.execute({ cdb: TUR, direction: 'none', lun: 1 }).catch((e) => e), ErrorCodes.BAD_INPUT);
    expectCode(await bot.execute({ cdb: INQUIRY36, direction: 'in' }).catch((e) => e), ErrorCodes.BAD_INPUT);
    expectCode(
      await bot.execute({ cdb: TUR, direction: 'none', data: new Uint8Array(4) }).catch((e) => e),
      ErrorCodes.BAD_INPUT,
    );
    const ac = new AbortController();
    ac.abort();
    expectCode(
      await bot.execute({ cdb: TUR, direction: 'none', signal: ac.signal }).catch((e) => e),
      ErrorCodes.CANCELLED,
    );
    expect(handle.calls.filter((c) => c.op !== 'control')).toEqual([]);
  });

  it('serialises concurrent commands: one CBW/CSW pair at a time', async () => {
    const { bot, handle } = await open(
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) },
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) },
      { op: 'bulkOut' },
      { op: 'bulkIn', reply: cswFor(0) },
    );
    await Promise.all([0, 1, 2].map(() => bot.execute({ cdb: TUR, direction: 'none' })));
    expect(handle.calls.slice(1).map((c) => c.op)).toEqual([
      'bulkOut',
      'bulkIn',
      'bulkOut',
      'bulkIn',
      'bulkOut',
      'bulkIn',
    ]);
  });

  it('close() releases the interface and closes the handle', async () => {
    const { bot, handle } = await open();
    await bot.close();
    expect(handle.claimed).toEqual([]);
    expect(handle.closed).toBe(true);
    expectCode(await bot.execute({ cdb: TUR, direction: 'none' }).catch((e) => e), ErrorCodes.DEVICE_GONE);
  });
});

describe('BotTransport file-streamed data phases (dataFd)', () => {
  it("hands the fd, position and length to the backend's exchange and judges the CSW it returns", async () => {
    const handle = new ScriptedHandle().play(maxLunZero);
    const seen: unknown[] = [];
    (handle as { capabilities: object }).capabilities = { fdStreaming: true, kernelDriver: false };
    handle.botExchange = async (req) => {
      seen.push(req.data);
      const tag = new DataView(req.cbw.buffer, req.cbw.byteOffset).getUint32(4, true);
      const bytes = new Uint8Array(13);
      const v = new DataView(bytes.buffer);
      v.setUint32(0, 0x53425355, true);
      v.setUint32(4, tag, true);
      return {
        cbw: { status: TransferStatus.OK, actualLength: 31 },
        data: { status: TransferStatus.OK, actualLength: 4096 },
        csw: { status: TransferStatus.OK, actualLength: 13, bytes },
      };
    };
    const bot = await BotTransport.open(handle, { resetDelayMs: 0, resetOnOpen: false });
    expect(bot.fdStreaming).toBe(true);
    const r = await bot.execute({
      cdb: Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0),
      direction: 'in',
      dataFd: { fd: 9, position: 512, length: 4096 },
    });
    expect(seen).toEqual([{ direction: 'in', fd: 9, position: 512, length: 4096 }]);
    expect(r.transferred).toBe(4096);
    expect(r.data.length).toBe(0);
  });

  it('refuses dataFd on a backend without fd streaming, before sending anything', async () => {
    const { bot, handle } = await open();
    const err = await bot
      .execute({
        cdb: Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0),
        direction: 'in',
        dataFd: { fd: 3, position: 0, length: 512 },
      })
      .catch((e) => e);
    expectCode(err, ErrorCodes.UNSUPPORTED);
    expect(handle.calls.filter((c) => c.op !== 'control')).toEqual([]);
  });
});
