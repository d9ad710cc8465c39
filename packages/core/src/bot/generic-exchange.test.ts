import { describe, expect, it } from 'vitest';
import { TransferStatus, type TransferResult } from '../usb/backend.js';
import { genericBotExchange, type BulkTransfers } from './generic-exchange.js';

const OK = (n: number): TransferResult => ({ status: TransferStatus.OK, actualLength: n });

/** Single transfers that answer from a list and record what was asked. */
function transfers(answers: TransferResult[]) {
  const asked: string[] = [];
  const t: BulkTransfers = {
    bulkOut: async (ep, data, timeoutMs) => {
      asked.push(`out ${ep} ${data.length} ${timeoutMs > 0}`);
      return answers.shift() ?? OK(data.length);
    },
    bulkIn: async (ep, buffer, timeoutMs) => {
      asked.push(`in ${ep} ${buffer.length} ${timeoutMs > 0}`);
      return answers.shift() ?? OK(buffer.length);
    },
  };
  return { t, asked };
}

const base = { cbw: new Uint8Array(31), outEndpoint: 0x02, inEndpoint: 0x81, timeoutMs: 1000 };

describe('genericBotExchange: the chain rule', () => {
  it('CBW, data and a 13-byte CSW read when every phase moved every byte', async () => {
    const { t, asked } = transfers([OK(31), OK(512), OK(13)]);
    const r = await genericBotExchange(t, { ...base, data: { direction: 'in', buffer: new Uint8Array(512) } });
    expect(asked).toEqual(['out 2 31 true', 'in 129 512 true', 'in 129 13 true']);
    expect(r.cbw).toEqual(OK(31));
    expect(r.data).toEqual(OK(512));
    expect(r.csw).toMatchObject(OK(13));
    expect(r.csw?.bytes.length).toBe(13);
  });

  it('stops after a CBW that did not go out whole', async () => {
    const { t, asked } = transfers([OK(30)]);
    const r = await genericBotExchange(t, { ...base, data: { direction: 'out', buffer: new Uint8Array(8) } });
    expect(asked).toEqual(['out 2 31 true']);
    expect(r).toEqual({ cbw: OK(30) });
  });

  it('stops after a short data phase: 13 bytes are reported as data, never judged', async () => {
    const { t, asked } = transfers([OK(31), OK(13)]);
    const r = await genericBotExchange(t, { ...base, data: { direction: 'in', buffer: new Uint8Array(512) } });
    expect(asked).toHaveLength(2);
    expect(r).toEqual({ cbw: OK(31), data: OK(13) });
  });

  it('stops after a stalled data phase', async () => {
    const { t } = transfers([OK(31), { status: TransferStatus.STALL, actualLength: 0 }]);
    const r = await genericBotExchange(t, { ...base, data: { direction: 'out', buffer: new Uint8Array(512) } });
    expect(r.csw).toBeUndefined();
    expect(r.data?.status).toBe(TransferStatus.STALL);
  });

  it(
    'goes from the CBW straight to the CSW when there is no data phase, and reports a ' + 'short CSW as it came',
    async () => {
      const { t, asked } = transfers([OK(31), OK(0)]);
      const r = await genericBotExchange(t, base);
      expect(asked).toEqual(['out 2 31 true', 'in 129 13 true']);
      expect(r.data).toBeUndefined();
      expect(r.csw).toMatchObject(OK(0));
      expect(r.csw?.bytes.length).toBe(0);
    },
  );

  it('refuses a file-descriptor data phase with E_UNSUPPORTED before sending anything', async () => {
    const { t, asked } = transfers([]);
    await expect(
      genericBotExchange(t, { ...base, data: { direction: 'in', fd: 3, length: 512, position: 0 } }),
    ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    expect(asked).toEqual([]);
  });
});
