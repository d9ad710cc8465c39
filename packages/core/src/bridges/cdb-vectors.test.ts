import { describe, expect, it } from 'vitest';
import { ScsiStatus, type ScsiResult } from '../transport.js';
import { asmediaBasicCdb, asmediaPacketCdb, AsmediaBridge, AsmediaPacketOperation } from './asmedia.js';
import type { BridgeExchange } from './bridge.js';
import { jmicronCdb, jmicronCommandBlock, JmicronBridge, JmicronProtocol, parseJmicronResponse } from './jmicron.js';
import { requestedReplyBytes, submissionEntry } from './nvme-admin.js';
import { realtekBasicCdb, realtekCommandCdb, realtekCompletionCdb, realtekDataCdb, RealtekBridge } from './realtek.js';

// The CDBs each bridge protocol puts on the wire, byte for byte. Where each layout comes from:
//  - JMicron: smartmontools lib/scsinvme.cpp, sntjmicron_device::nvme_pass_through (cdb[1] =
//    80h | protocol, sg_put_unaligned_be24(length, &cdb[3]); nvm_cmd[0] = 454D564Eh, [2] opcode,
//    [3] NSID, [12..17] CDW10-15; reply status = nvm_reply[5] >> 17, DW0 = nvm_reply[2]).
//  - ASMedia E6h: smartmontools lib/scsinvme.cpp, sntasmedia_device::nvme_pass_through, and the
//    CDB in the kernel log of smartmontools issue #490 ("e6 02 00 01 00 00 00 0f 00 ...").
//  - ASMedia EAh/EBh: opensea-transport include/asmedia_nvme_helper.h + src/asmedia_nvme_helper.c
//    (build_ASMedia_Packet_Command_CDB: byte 1 5Ah, 2 operation, 3 admin/IO, 4 direction,
//    10-13 big-endian length; completion bytes 0-3 DW0, 12-15 DW3).
//  - Realtek E4h: smartmontools lib/scsinvme.cpp, sntrealtek_device::nvme_pass_through
//    (sg_put_unaligned_le16(size, cdb+1); cdb[3] opcode; cdb[4] CDW10 low byte).
//  - Realtek E4h/E5h phases: opensea-transport include/realtek_nvme_helper.h +
//    src/realtek_nvme_helper.c (build_Realtek_NVMe_CDB_And_Payload).

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();

const IDENTIFY_CONTROLLER = { opcode: 0x06, nsid: 0, cdw10: 1, direction: 'in' as const, length: 4096 };
const ERROR_LOG_64 = { opcode: 0x02, nsid: 0xffffffff, cdw10: 0x01 | (15 << 16), direction: 'in' as const, length: 64 };

describe('JMicron A1h', () => {
  it('CDBs of the three phases', () => {
    expect(hex(jmicronCdb(JmicronProtocol.COMMAND, 512))).toBe('a1 80 00 00 02 00 00 00 00 00 00 00');
    expect(hex(jmicronCdb(JmicronProtocol.DATA_IN, 4096))).toBe('a1 82 00 00 10 00 00 00 00 00 00 00');
    expect(hex(jmicronCdb(JmicronProtocol.DATA_OUT, 0x10000))).toBe('a1 83 00 01 00 00 00 00 00 00 00 00');
    expect(hex(jmicronCdb(JmicronProtocol.NON_DATA, 0))).toBe('a1 81 00 00 00 00 00 00 00 00 00 00');
    expect(hex(jmicronCdb(JmicronProtocol.RESPONSE, 512))).toBe('a1 8f 00 00 02 00 00 00 00 00 00 00');
  });

  it('the 512-byte command block: "NVME", opcode at 8, NSID at 12, CDW10-15 at 48-71', () => {
    const block = jmicronCommandBlock({
      opcode: 0x02,
      nsid: 0xffffffff,
      cdw10: 0x007f0002,
      cdw11: 0x11223344,
      cdw12: 0x200,
      cdw13: 1,
      cdw14: 0xaa,
      cdw15: 0xbb,
      direction: 'in',
      length: 512,
    });
    expect(block.length).toBe(512);
    expect(hex(block.subarray(0, 16))).toBe('4e 56 4d 45 00 00 00 00 02 00 00 00 ff ff ff ff');
    expect(hex(block.subarray(48, 72))).toBe('02 00 7f 00 44 33 22 11 00 02 00 00 01 00 00 00 aa 00 00 00 bb 00 00 00');
    expect(block.subarray(72).every((b) => b === 0)).toBe(true);
  });

  it('the response: DW0 at byte 8, status in bits 31:17 of the dword at byte 20; no signature is an error', () => {
    const reply = new Uint8Array(512);
    reply.set([0x4e, 0x56, 0x4d, 0x45]);
    reply.set([0x78, 0x56, 0x34, 0x12], 8);
    // Status field 0x0002 (Invalid Field, SCT 0) shifted to bit 17, phase bit 16 set: 0x00050000.
    reply.set([0x00, 0x00, 0x05, 0x00], 20);
    expect(parseJmicronResponse(reply, new Uint8Array(0), 0)).toMatchObject({
      available: true,
      status: 2,
      statusCodeType: 0,
      statusCode: 2,
      dw0: 0x12345678,
    });
    expect(() => parseJmicronResponse(new Uint8Array(512), new Uint8Array(0), 0)).toThrow(/NVME/);
  });
});

describe('ASMedia', () => {
  it('E6h: the error-log CDB of smartmontools #490, and Identify Controller', () => {
    expect(hex(asmediaBasicCdb(ERROR_LOG_64))).toBe('e6 02 00 01 00 00 00 0f 00 00 00 00 00 00 00 00');
    expect(hex(asmediaBasicCdb(IDENTIFY_CONTROLLER))).toBe('e6 06 00 01 00 00 00 00 00 00 00 00 00 00 00 00');
    // CDW13 in bytes 8-11 and CDW12 in 12-15, big-endian (log page offset).
    expect(hex(asmediaBasicCdb({ ...ERROR_LOG_64, cdw12: 0x200, cdw13: 0x1 }))).toBe(
      'e6 02 00 01 00 00 00 0f 00 00 00 01 00 00 02 00',
    );
  });

  it('EAh/EBh packet CDBs: command, data, completion', () => {
    expect(hex(asmediaPacketCdb(AsmediaPacketOperation.COMMAND, 'none', 64, true))).toBe(
      'ea 5a 80 00 00 00 00 00 00 00 00 00 00 40 00 00',
    );
    expect(hex(asmediaPacketCdb(AsmediaPacketOperation.DATA, 'in', 4096, false))).toBe(
      'eb 5a 81 00 01 00 00 00 00 00 00 00 10 00 00 00',
    );
    expect(hex(asmediaPacketCdb(AsmediaPacketOperation.DATA, 'out', 1024, true))).toBe(
      'ea 5a 81 00 02 00 00 00 00 00 00 00 04 00 00 00',
    );
    expect(hex(asmediaPacketCdb(AsmediaPacketOperation.COMPLETION, 'none', 16, false))).toBe(
      'eb 5a 82 00 00 00 00 00 00 00 00 00 00 10 00 00',
    );
  });

  it('the 64-byte submission entry: opcode at 0, NSID at 4, CDW10-15 at 40-63 (little-endian)', () => {
    const sqe = submissionEntry({ opcode: 0x0a, nsid: 1, cdw10: 0x04, cdw11: 0x0157, direction: 'none' });
    expect(hex(sqe.subarray(0, 8))).toBe('0a 00 00 00 01 00 00 00');
    expect(hex(sqe.subarray(40, 48))).toBe('04 00 00 00 57 01 00 00');
    expect(sqe.length).toBe(64);
  });
});

describe('Realtek', () => {
  it('E4h basic: little-endian length at 1-2, opcode at 3, CDW10[7:0] at 4', () => {
    expect(hex(realtekBasicCdb(IDENTIFY_CONTROLLER))).toBe('e4 00 10 06 01 00 00 00 00 00 00 00 00 00 00 00');
    expect(
      hex(realtekBasicCdb({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x007f0002, direction: 'in', length: 512 })),
    ).toBe('e4 00 02 02 02 00 00 00 00 00 00 00 00 00 00 00');
  });

  it('full mode: F7h command (E5h, 64 bytes), F8h data (32-bit length, direction), F9h completion (16 bytes)', () => {
    expect(hex(realtekCommandCdb())).toBe('e5 40 00 f7 00 00 00 00 00 00 00 00 00 00 00 00');
    expect(hex(realtekDataCdb('in', 0x12345))).toBe('e4 45 23 f8 01 00 01 00 00 00 00 00 00 00 00 00');
    expect(hex(realtekDataCdb('out', 4096))).toBe('e5 00 10 f8 00 00 02 00 00 00 00 00 00 00 00 00');
    expect(hex(realtekDataCdb('none', 0))).toBe('e5 00 00 f8 00 00 00 00 00 00 00 00 00 00 00 00');
    expect(hex(realtekCompletionCdb())).toBe('e4 10 00 f9 00 00 00 00 00 00 00 00 00 00 00 00');
  });
});

/** A scripted device: records every CDB with its declared effect and answers from `reply`. */
function scripted(reply: (cdb: Uint8Array, length: number) => Uint8Array | null) {
  const sent: { cdb: string; direction: string; effect: string; data?: Uint8Array }[] = [];
  const exchange: BridgeExchange = async (cdb, r) => {
    sent.push({ cdb: hex(cdb), direction: r.direction, effect: r.effect, ...(r.data ? { data: r.data } : {}) });
    const length = r.length ?? 0;
    const data = r.direction === 'in' ? (reply(cdb, length) ?? new Uint8Array(length)) : new Uint8Array(0);
    const result: ScsiResult = {
      status: ScsiStatus.GOOD,
      data,
      transferred: data.length,
      residue: length - data.length,
      durationNs: 0,
    };
    return result;
  };
  return { sent, exchange };
}

describe('the sequence each bridge sends, and the effect it declares for each CDB', () => {
  it('JMicron Device Self-test: command block and non-data phase are writes, the response is a read', async () => {
    const { sent, exchange } = scripted((cdb) =>
      cdb[1] === 0x8f ? Uint8Array.from([0x4e, 0x56, 0x4d, 0x45, ...new Uint8Array(508)]) : null,
    );
    const c = await new JmicronBridge(exchange).adminCommand(
      { opcode: 0x14, nsid: 0xffffffff, cdw10: 1, direction: 'none' },
      { allowMediumWrite: true },
    );
    expect(c.status).toBe(0);
    expect(sent.map((s) => [s.cdb.slice(0, 5), s.direction, s.effect])).toEqual([
      ['a1 80', 'out', 'write'],
      ['a1 81', 'none', 'write'],
      ['a1 8f', 'in', 'read'],
    ]);
  });

  it('ASMedia Get Features goes through the packet mode; Identify through E6h (all reads)', async () => {
    const { sent, exchange } = scripted((cdb) =>
      cdb[0] === 0xeb && cdb[2] === 0x82 ? Uint8Array.of(0x57, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0) : null,
    );
    const bridge = new AsmediaBridge(exchange);
    expect((await bridge.adminCommand({ opcode: 0x0a, cdw10: 0x04, direction: 'none' })).dw0).toBe(0x157);
    await bridge.adminCommand(IDENTIFY_CONTROLLER);
    expect(sent.map((s) => [s.cdb.slice(0, 8), s.direction, s.effect])).toEqual([
      ['ea 5a 80', 'out', 'read'],
      ['eb 5a 81', 'none', 'read'],
      ['eb 5a 82', 'in', 'read'],
      ['e6 06 00', 'in', 'read'],
    ]);
  });

  it('Realtek Firmware Image Download: F7h command and F8h data-out carry the write effect', async () => {
    const { sent, exchange } = scripted(() => null);
    await new RealtekBridge(exchange).adminCommand(
      { opcode: 0x11, cdw10: 255, cdw11: 0, direction: 'out', data: new Uint8Array(1024) },
      { allowMediumWrite: true },
    );
    expect(sent.map((s) => [s.cdb.slice(0, 11), s.direction, s.effect])).toEqual([
      ['e5 40 00 f7', 'out', 'write'],
      ['e5 00 04 f8', 'out', 'write'],
      ['e4 10 00 f9', 'in', 'read'],
    ]);
  });

  it('a UNIT ATTENTION (after the bridge reset) is answered by sending the same CDB once more', async () => {
    const cdbs: number[] = [];
    let attention = true;
    const exchange: BridgeExchange = async (cdb, r) => {
      cdbs.push(cdb[0]!);
      if (attention) {
        attention = false;
        const sense = {
          senseKey: 0x06,
          asc: 0x29,
          ascq: 0x00,
          senseKeyName: 'UNIT ATTENTION',
          ascText: 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED',
        } as ScsiResult['sense'];
        return {
          status: ScsiStatus.CHECK_CONDITION,
          ...(sense ? { sense } : {}),
          data: new Uint8Array(0),
          transferred: 0,
          residue: 0,
          durationNs: 0,
        };
      }
      const data = new Uint8Array(r.length ?? 0);
      return { status: ScsiStatus.GOOD, data, transferred: data.length, residue: 0, durationNs: 0 };
    };
    const c = await new RealtekBridge(exchange).adminCommand(IDENTIFY_CONTROLLER);
    expect(c.transferred).toBe(4096);
    expect(cdbs).toEqual([0xe4, 0xe4]);
  });

  it('a write without consent, or one the bridge cannot carry, sends nothing', async () => {
    const { sent, exchange } = scripted(() => null);
    await expect(
      new JmicronBridge(exchange).adminCommand({ opcode: 0x80, nsid: 1, direction: 'none' }),
    ).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    await expect(
      new AsmediaBridge(exchange, { basic: true, packet: false }).adminCommand(
        { opcode: 0x14, cdw10: 1, direction: 'none' },
        { allowMediumWrite: true },
      ),
    ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    await expect(
      new RealtekBridge(exchange, { basic: true, full: false }).adminCommand({
        opcode: 0x02,
        cdw10: 0x06,
        direction: 'in',
        length: 564,
      }),
    ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    await expect(
      new JmicronBridge(exchange).adminCommand({ opcode: 0x02, cdw10: 0x06, direction: 'in', length: 564 }),
    ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    expect(sent).toEqual([]);
  });

  it(
    'the caps apply to the length the command asks the drive for (Get Log Page NUMDL/NUMDU), ' +
      'not only to the host buffer',
    async () => {
      const { sent, exchange } = scripted(() => null);
      const logAsking = (cdw10: number, cdw11 = 0) => ({
        opcode: 0x02,
        nsid: 0xffffffff,
        cdw10,
        cdw11,
        direction: 'in' as const,
        length: 512,
      });
      // NUMDL 3FFh = 4096 bytes; NUMDU 1 = 256 KiB + 4: both past the JMS583's 0x230 whatever --in says.
      for (const cmd of [logAsking(0x03ff0002), logAsking(0x2, 0x1)]) {
        expect(new JmicronBridge(exchange).cannotCarry(cmd)).toMatch(/asks the drive for \d+ bytes/);
        await expect(new JmicronBridge(exchange).adminCommand(cmd)).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      }
      // The same holds for the Realtek E4h 200h log limit, and for the transfer limit of every bridge.
      await expect(
        new RealtekBridge(exchange, { basic: true, full: false }).adminCommand(logAsking(0x00ff0002)),
      ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      await expect(
        new AsmediaBridge(exchange, { basic: true, packet: false }).adminCommand({
          ...logAsking(0xffff0002),
          length: 4,
        }),
      ).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
      expect(sent).toEqual([]);
      expect(requestedReplyBytes(logAsking(0x007f0002))).toBe(512);
      expect(requestedReplyBytes(logAsking(0x2, 0x1))).toBe(0x4_0004);
      expect(requestedReplyBytes(IDENTIFY_CONTROLLER)).toBe(4096);
      expect(requestedReplyBytes({ opcode: 0x0a, cdw10: 4 })).toBeUndefined();
      // With both modes, a Realtek log read whose NUMDL is past 200h never goes out as E4h (which
      // has no room for NUMDL and caps at 200h): the full mode carries the whole command.
      const realtek = scripted(() => null);
      await new RealtekBridge(realtek.exchange).adminCommand(logAsking(0x00ff0002));
      expect(realtek.sent.map((s) => s.cdb.slice(0, 11))).toEqual(['e5 40 00 f7', 'e4 00 02 f8', 'e4 10 00 f9']);
      // Within the cap, a host buffer larger than the reply is fine.
      expect(new JmicronBridge(exchange).cannotCarry(logAsking(0x007f0002))).toBeUndefined();
    },
  );
});
