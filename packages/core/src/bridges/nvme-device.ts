/**
 * Typed NVMe admin helpers over one {@link NvmeBridge}: Identify, the log pages, Get Features,
 * Device Self-test and firmware download. Reads are sized to what the bridge can carry
 * (the JMS583 self-test log cap, the Realtek 200h log limit); NVMe error status throws
 * `E_NVME_STATUS` here, while {@link NvmeDevice.admin} returns it as a result.
 */
import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import type { AdminCallOptions, NvmeBridge } from './bridge.js';
import type { BridgeDetection } from './detect.js';
import { JMICRON_SELF_TEST_LOG_BYTES } from './jmicron.js';
import {
  adminOpcodeName,
  NVME_BROADCAST_NSID,
  NvmeAdminOpcode,
  NvmeLogPage,
  nvmeStatusText,
  type NvmeAdminCommand,
  type NvmeCompletion,
} from './nvme-admin.js';
import {
  parseIdentifyController,
  parseIdentifyNamespace,
  type NvmeIdentifyController,
  type NvmeIdentifyNamespace,
} from './nvme-identify.js';
import {
  ERROR_ENTRY_BYTES,
  FIRMWARE_SLOT_LOG_BYTES,
  parseErrorLog,
  parseFirmwareSlotLog,
  parseSelfTestLog,
  parseSmartLog,
  SELF_TEST_LOG_BYTES,
  SMART_LOG_BYTES,
  type NvmeErrorEntry,
  type NvmeFirmwareSlots,
  type NvmeSelfTestLog,
  type NvmeSmartLog,
} from './nvme-logs.js';

export type SelfTestKind = 'short' | 'extended' | 'abort';
const SELF_TEST_CODE: Record<SelfTestKind, number> = { short: 0x1, extended: 0x2, abort: 0xf };

export interface LogPageRead {
  data: Uint8Array;
  /** Bytes asked for before the bridge's limit applied. */
  requested: number;
  /** Fewer bytes were read than asked, because of the bridge (named in `limitReason`). */
  capped: boolean;
  limitReason?: string;
}

export class NvmeDevice {
  constructor(
    readonly bridge: NvmeBridge,
    readonly detection: BridgeDetection,
  ) {}

  /** Any admin command; an NVMe error status is a result here. */
  admin(cmd: NvmeAdminCommand, options: AdminCallOptions = {}): Promise<NvmeCompletion> {
    return this.bridge.adminCommand(cmd, options);
  }

  private async checked(cmd: NvmeAdminCommand, options: AdminCallOptions = {}): Promise<NvmeCompletion> {
    const c = await this.bridge.adminCommand(cmd, options);
    if (c.status !== 0) {
      throw new UsbScsiError(
        ErrorCodes.NVME_STATUS,
        `NVMe ${adminOpcodeName(cmd.opcode)} failed: ${nvmeStatusText(c.status)}`,
        {
          details: { opcode: cmd.opcode, status: c.status, statusCodeType: c.statusCodeType, statusCode: c.statusCode },
        },
      );
    }
    return c;
  }

  async identifyControllerData(): Promise<Uint8Array> {
    if (this.detection.identifyData) return this.detection.identifyData;
    return (await this.checked({ opcode: NvmeAdminOpcode.IDENTIFY, nsid: 0, cdw10: 1, direction: 'in', length: 4096 }))
      .data;
  }

  async identifyController(): Promise<NvmeIdentifyController> {
    return parseIdentifyController(await this.identifyControllerData());
  }

  async identifyNamespace(nsid = 1): Promise<NvmeIdentifyNamespace> {
    if (!Number.isInteger(nsid) || nsid < 1 || nsid >= NVME_BROADCAST_NSID)
      throw badInput(`a namespace id is 1 to FFFFFFFEh; got ${nsid}`);
    return parseIdentifyNamespace(
      (await this.checked({ opcode: NvmeAdminOpcode.IDENTIFY, nsid, cdw10: 0, direction: 'in', length: 4096 })).data,
    );
  }

  /** Get Log Page, sized down to what the bridge carries (whole 4-byte units); `capped` says so. */
  async logPage(logId: number, length: number, options: { nsid?: number; offset?: number } = {}): Promise<LogPageRead> {
    if (!Number.isInteger(logId) || logId < 0 || logId > 0xff)
      throw badInput(`a log page identifier is 0x00-0xFF; got ${logId}`);
    if (!Number.isInteger(length) || length < 4 || length % 4 !== 0 || length > 0x4_0000)
      throw badInput(`a log page read is a multiple of 4 bytes from 4 to 256 KiB; got ${length}`);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0)
      throw badInput(`a log page offset is a non-negative multiple of 4; got ${offset}`);
    const sized = (): number => {
      const limit = Math.min(this.bridge.limits.maxLogPageBytes ?? Infinity, this.bridge.limits.maxTransferBytes);
      if (length <= limit) return length;
      return logId === NvmeLogPage.SELF_TEST && this.bridge.kind === 'jmicron'
        ? JMICRON_SELF_TEST_LOG_BYTES
        : Math.floor(limit / 4) * 4;
    };
    const command = (read: number): NvmeAdminCommand => ({
      opcode: NvmeAdminOpcode.GET_LOG_PAGE,
      nsid: options.nsid ?? NVME_BROADCAST_NSID,
      cdw10: logId | (((read / 4 - 1) & 0xffff) << 16),
      cdw12: offset % 0x1_0000_0000,
      cdw13: Math.floor(offset / 0x1_0000_0000),
      direction: 'in',
      length: read,
    });
    let read = sized();
    let c: NvmeCompletion;
    try {
      c = await this.checked(command(read));
    } catch (err) {
      // The bridge turned out to lack its second mode: read again within the basic one's limits.
      if (!(err instanceof UsbScsiError && err.details['modeLost'] === true) || sized() === read) throw err;
      read = sized();
      c = await this.checked(command(read));
    }
    return {
      data: c.data,
      requested: length,
      capped: read < length,
      ...(read < length
        ? { limitReason: this.bridge.limits.logPageLimitReason ?? `${this.bridge.protocol} limit` }
        : {}),
    };
  }

  async smartLog(): Promise<NvmeSmartLog & { raw: Uint8Array }> {
    const { data } = await this.logPage(NvmeLogPage.SMART_HEALTH, SMART_LOG_BYTES);
    return { ...parseSmartLog(data), raw: data };
  }

  /** The newest `entries` error log entries (default 16, fewer where the bridge caps the read). */
  async errorLog(entries = 16): Promise<{ entries: NvmeErrorEntry[]; read: number; capped: boolean }> {
    if (!Number.isInteger(entries) || entries < 1 || entries > 256)
      throw badInput(`error log entries: 1 to 256; got ${entries}`);
    const r = await this.logPage(NvmeLogPage.ERROR, entries * ERROR_ENTRY_BYTES);
    const whole = Math.floor(r.data.length / ERROR_ENTRY_BYTES);
    return { entries: parseErrorLog(r.data.subarray(0, whole * ERROR_ENTRY_BYTES)), read: whole, capped: r.capped };
  }

  async selfTestLog(): Promise<NvmeSelfTestLog & { capped: boolean; limitReason?: string }> {
    const r = await this.logPage(NvmeLogPage.SELF_TEST, SELF_TEST_LOG_BYTES);
    return { ...parseSelfTestLog(r.data), capped: r.capped, ...(r.limitReason ? { limitReason: r.limitReason } : {}) };
  }

  async firmwareSlots(): Promise<NvmeFirmwareSlots> {
    return parseFirmwareSlotLog((await this.logPage(NvmeLogPage.FIRMWARE_SLOT, FIRMWARE_SLOT_LOG_BYTES)).data);
  }

  /** Get Features: the value (completion DW0); needs a bridge that reads completions back. */
  async getFeature(featureId: number, select: 0 | 1 | 2 | 3 = 0): Promise<number> {
    if (!Number.isInteger(featureId) || featureId < 1 || featureId > 0xff)
      throw badInput(`a feature identifier is 0x01-0xFF; got ${featureId}`);
    if (!this.bridge.limits.completion) {
      throw new UsbScsiError(
        ErrorCodes.UNSUPPORTED,
        `${this.bridge.protocol} does not read completions back, and a feature's value is ` +
          `in the completion; nothing was sent`,
      );
    }
    return (
      await this.checked({
        opcode: NvmeAdminOpcode.GET_FEATURES,
        nsid: 0,
        cdw10: featureId | (select << 8),
        direction: 'none',
      })
    ).dw0;
  }

  /** Device Self-test (14h): starts a short or extended test, or aborts one (consent needed). */
  async selfTest(kind: SelfTestKind, options: AdminCallOptions & { nsid?: number } = {}): Promise<void> {
    const code = SELF_TEST_CODE[kind];
    if (code === undefined) throw badInput(`a self-test is short, extended or abort; got ${String(kind)}`);
    await this.checked(
      {
        opcode: NvmeAdminOpcode.DEVICE_SELF_TEST,
        nsid: options.nsid ?? NVME_BROADCAST_NSID,
        cdw10: code,
        direction: 'none',
      },
      options,
    );
  }

  /**
   * Firmware Image Download (11h) in `chunkBytes` pieces, then Firmware Commit (10h) of `slot`
   * with commit `action` (1: replace and activate at the next reset). Consent needed.
   */
  async downloadFirmware(
    image: Uint8Array,
    options: AdminCallOptions & { slot?: number; action?: number; chunkBytes?: number },
  ): Promise<{ chunks: number; dw0: number }> {
    if (!(image instanceof Uint8Array) || image.length === 0 || image.length % 4 !== 0)
      throw badInput('a firmware image is a non-empty whole number of dwords (4-byte units)');
    const chunk = options.chunkBytes ?? Math.min(32 * 1024, this.bridge.limits.maxTransferBytes);
    if (!Number.isInteger(chunk) || chunk < 4 || chunk % 4 !== 0)
      throw badInput(`a firmware chunk is a multiple of 4 bytes; got ${chunk}`);
    const slot = options.slot ?? 1;
    const action = options.action ?? 1;
    if (!Number.isInteger(slot) || slot < 0 || slot > 7) throw badInput(`a firmware slot is 0-7; got ${slot}`);
    if (!Number.isInteger(action) || action < 0 || action > 7) throw badInput(`a commit action is 0-7; got ${action}`);
    let chunks = 0;
    for (let at = 0; at < image.length; at += chunk) {
      const piece = image.subarray(at, Math.min(image.length, at + chunk));
      await this.checked(
        {
          opcode: NvmeAdminOpcode.FIRMWARE_IMAGE_DOWNLOAD,
          cdw10: piece.length / 4 - 1,
          cdw11: at / 4,
          direction: 'out',
          data: piece,
        },
        options,
      );
      chunks++;
    }
    const commit = await this.checked(
      { opcode: NvmeAdminOpcode.FIRMWARE_COMMIT, cdw10: slot | (action << 3), direction: 'none' },
      options,
    );
    return { chunks, dw0: commit.dw0 };
  }
}
