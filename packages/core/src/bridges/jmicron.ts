/**
 * JMicron JMS583/JMS581 (smartctl `-d sntjmicron`): three 12-byte CDBs with the ATA
 * PASS-THROUGH(12) opcode A1h. Byte 1 = admin bit (80h) | protocol; bytes 3-5 = big-endian
 * 24-bit parameter list length. Protocol 0: DATA-OUT of a 512-byte block carrying the command
 * ("NVME" signature, CDW0 at byte 8, NSID at 12, CDW10-15 at 48-71, little-endian); protocol
 * 1/2/3: the command's own data phase (none / in / out); protocol 0Fh: DATA-IN of a 512-byte
 * response (signature, CQE DW0 at byte 8, the status field in bits 31:17 of the dword at 20).
 * Layout as read in smartmontools `lib/scsinvme.cpp` (sntjmicron_device) and opensea-transport
 * `jmicron_nvme_helper.{h,c}`.
 */
import { UsbScsiError, ErrorCodes } from '../errors.js';
import { BaseBridge, type AdminCallOptions, type BridgeLimits } from './bridge.js';
import { completionFromStatus, NvmeLogPage, type NvmeAdminCommand, type NvmeCompletion } from './nvme-admin.js';

export const JMICRON_OPCODE = 0xa1;
export const JMICRON_BLOCK = 512;
/** "NVME" as the little-endian dword 454D564Eh. */
export const JMICRON_SIGNATURE = Uint8Array.of(0x4e, 0x56, 0x4d, 0x45);
export const JmicronProtocol = { COMMAND: 0x0, NON_DATA: 0x1, DATA_IN: 0x2, DATA_OUT: 0x3, RESPONSE: 0xf } as const;
const ADMIN = 0x80;

/**
 * The JMS583 resets its USB port when a log-page reply is longer than 0x230 bytes
 * (smartmontools issue #256, self-test log of 0x234 bytes); 0x218 = the header and 19 of the
 * 20 self-test results, smartmontools' own cap.
 */
export const JMICRON_MAX_LOG_BYTES = 0x230;
export const JMICRON_SELF_TEST_LOG_BYTES = 0x218;

export function jmicronCdb(protocol: number, length: number, admin = true): Uint8Array {
  const cdb = new Uint8Array(12);
  cdb[0] = JMICRON_OPCODE;
  cdb[1] = (admin ? ADMIN : 0) | (protocol & 0x7f);
  cdb[3] = (length >>> 16) & 0xff;
  cdb[4] = (length >>> 8) & 0xff;
  cdb[5] = length & 0xff;
  return cdb;
}

/** The 512-byte command block of protocol 0. */
export function jmicronCommandBlock(cmd: NvmeAdminCommand): Uint8Array {
  const block = new Uint8Array(JMICRON_BLOCK);
  const view = new DataView(block.buffer);
  block.set(JMICRON_SIGNATURE, 0);
  view.setUint32(8, cmd.opcode, true);
  view.setUint32(12, cmd.nsid ?? 0, true);
  [cmd.cdw10, cmd.cdw11, cmd.cdw12, cmd.cdw13, cmd.cdw14, cmd.cdw15].forEach((v, i) =>
    view.setUint32(48 + 4 * i, v ?? 0, true),
  );
  return block;
}

export class JmicronBridge extends BaseBridge {
  readonly kind = 'jmicron' as const;
  readonly protocol = 'JMicron A1h';
  readonly limits: BridgeLimits = {
    completion: true,
    maxTransferBytes: 65536,
    maxLogPageBytes: JMICRON_MAX_LOG_BYTES,
    logPageLimitReason: 'a longer reply resets the JMS583 USB port, smartmontools #256',
  };

  protected async run(
    cmd: NvmeAdminCommand,
    effect: 'read' | 'write',
    options: AdminCallOptions,
  ): Promise<NvmeCompletion> {
    await this.send(
      'command block',
      jmicronCdb(JmicronProtocol.COMMAND, JMICRON_BLOCK),
      { direction: 'out', data: jmicronCommandBlock(cmd), effect },
      options,
      15_000,
    );
    let data: Uint8Array = new Uint8Array(0);
    let transferred = 0;
    if (cmd.direction === 'in') {
      const r = await this.send(
        'data-in',
        jmicronCdb(JmicronProtocol.DATA_IN, cmd.length!),
        { direction: 'in', length: cmd.length!, effect: 'read' },
        options,
        cmd.timeoutMs,
      );
      data = r.data;
      transferred = r.transferred;
    } else if (cmd.direction === 'out') {
      const r = await this.send(
        'data-out',
        jmicronCdb(JmicronProtocol.DATA_OUT, cmd.data!.length),
        { direction: 'out', data: cmd.data!, effect },
        options,
        cmd.timeoutMs,
      );
      transferred = r.transferred;
    } else {
      await this.send(
        'non-data',
        jmicronCdb(JmicronProtocol.NON_DATA, 0),
        { direction: 'none', effect },
        options,
        cmd.timeoutMs,
      );
    }
    const reply = await this.send(
      'response',
      jmicronCdb(JmicronProtocol.RESPONSE, JMICRON_BLOCK),
      { direction: 'in', length: JMICRON_BLOCK, effect: 'read' },
      options,
      15_000,
    );
    return parseJmicronResponse(reply.data, data, transferred);
  }
}

/** The protocol-0Fh response: CQE DW0 at byte 8, DW3 at byte 20 (status in bits 31:17). */
export function parseJmicronResponse(block: Uint8Array, data: Uint8Array, transferred: number): NvmeCompletion {
  if (block.length < 24 || !JMICRON_SIGNATURE.every((b, i) => block[i] === b)) {
    throw new UsbScsiError(
      ErrorCodes.IO,
      'the JMicron bridge answered without the "NVME" response signature: not a JMicron ' +
        'NVMe bridge, or no NVMe drive behind it',
    );
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  return completionFromStatus(view.getUint32(20, true) >>> 17, view.getUint32(8, true), data, transferred);
}

/** The self-test log length a JMicron bridge can read without the port reset. */
export function jmicronSafeLogLength(logId: number, wanted: number): number {
  if (wanted <= JMICRON_MAX_LOG_BYTES) return wanted;
  return logId === NvmeLogPage.SELF_TEST ? JMICRON_SELF_TEST_LOG_BYTES : JMICRON_MAX_LOG_BYTES;
}
