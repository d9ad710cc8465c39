import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, ScsiDevice, openDevice, type TransferBuffer } from '@usbscsi/core';
import { EmulatorBackend, SimulatedDevice } from '@usbscsi/emulator';

// ScsiDevice.allocateBuffer: pinned memory when the backend has it (the native engine on
// Linux, exercised in the VM suite), ordinary memory otherwise, and the same data either way.

const BLOCK = 512;
let dev: ScsiDevice | undefined;

async function open(): Promise<ScsiDevice> {
  const sim = new SimulatedDevice({ luns: [{ blockSize: BLOCK, blockCount: 2048 }] });
  dev = await openDevice({ backend: new EmulatorBackend({ devices: [sim] }) });
  return dev;
}

afterEach(async () => {
  await dev?.close().catch(() => undefined);
  dev = undefined;
});

describe('ScsiDevice.allocateBuffer', () => {
  it(
    'falls back to ordinary memory (pinned: false) on a backend without pinned buffers, ' +
      'and reads and writes through it',
    async () => {
      const d = await open();
      const out = d.allocateBuffer(8 * BLOCK);
      expect(out.pinned).toBe(false);
      expect(out.bytes).toBeInstanceOf(Uint8Array);
      expect(out.bytes.length).toBe(8 * BLOCK);
      out.bytes.forEach((_, i) => {
        out.bytes[i] = (i * 13 + 5) & 0xff;
      });
      await d.write(16, out.bytes, { allowMediumWrite: true });
      const back = d.allocateBuffer(8 * BLOCK);
      await d.readInto(16, back.bytes);
      expect(back.bytes).toEqual(out.bytes);
      out.release();
      back.release();
    },
  );

  it(
    "hands out the backend's pinned buffer when it has one (through BotTransport), and " + 'the data lands in it',
    async () => {
      const d = await open();
      const handle = (
        d.transport as unknown as { handle: { allocTransferBuffer?: (n: number) => TransferBuffer | null } }
      ).handle;
      let released = 0;
      const memory = new Uint8Array(4 * BLOCK);
      handle.allocTransferBuffer = (n: number) =>
        n === memory.length
          ? {
              bytes: memory,
              pinned: true,
              release: () => {
                released++;
              },
            }
          : null;
      const buffer = d.allocateBuffer(4 * BLOCK);
      expect(buffer.pinned).toBe(true);
      expect(buffer.bytes).toBe(memory);
      const data = Uint8Array.from({ length: 4 * BLOCK }, (_, i) => (i * 3) & 0xff);
      await d.write(100, data, { allowMediumWrite: true });
      await d.readInto(100, buffer.bytes);
      expect(buffer.bytes).toEqual(data);
      buffer.release();
      expect(released).toBe(1);
      // The backend has none of that size right now: ordinary memory, not an error.
      expect(d.allocateBuffer(BLOCK).pinned).toBe(false);
    },
  );

  it('refuses sizes that are not 1..4 GiB-1 whole bytes, and a closed device', async () => {
    const d = await open();
    for (const bad of [0, -512, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => d.allocateBuffer(bad)).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_INPUT }));
    }
    await d.close();
    expect(() => d.allocateBuffer(BLOCK)).toThrow(expect.objectContaining({ code: ErrorCodes.DEVICE_GONE }));
  });
});
