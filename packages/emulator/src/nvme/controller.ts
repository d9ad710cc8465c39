/**
 * A simulated NVMe controller with one namespace: the admin commands a USB bridge carries
 * (Identify, Get Log Page 01h/02h/03h/06h, Get/Set Features, Device Self-test, Firmware Image
 * Download / Commit), with data laid out as the NVM Express Base Specification 2.0 says and
 * counters a used portable SSD would show. Everything it executed is in `commands`.
 */
import { badInput } from '@usbscsi/core/errors';

export interface NvmeAdminRequest {
  opcode: number;
  nsid: number;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  cdw13: number;
  cdw14: number;
  cdw15: number;
  /** Data-out bytes (Firmware Image Download). */
  dataOut?: Uint8Array;
  /** Bytes the host's data-in phase can take. */
  dataInLength: number;
}

export interface NvmeAdminResult {
  /** Status field (SCT << 8 | SC), 0 = success. */
  status: number;
  dw0: number;
  data?: Uint8Array;
}

export interface NvmeHealthCounters {
  criticalWarning: number;
  temperatureKelvin: number;
  availableSpare: number;
  availableSpareThreshold: number;
  percentageUsed: number;
  dataUnitsRead: bigint;
  dataUnitsWritten: bigint;
  hostReads: bigint;
  hostWrites: bigint;
  controllerBusyTime: bigint;
  powerCycles: bigint;
  powerOnHours: bigint;
  unsafeShutdowns: bigint;
  mediaErrors: bigint;
  errorLogEntries: bigint;
}

export interface NvmeControllerOptions {
  model?: string;
  serial?: string;
  firmware?: string;
  pciVendorId?: number;
  ieeeOui?: number;
  /** Namespace 1 in 512-byte blocks (default 1 TB). */
  blocks?: bigint;
  health?: Partial<NvmeHealthCounters>;
}

export const NvmeStatus = {
  SUCCESS: 0x000,
  INVALID_OPCODE: 0x001,
  INVALID_FIELD: 0x002,
  INVALID_NAMESPACE: 0x00b,
  /** SCT 1 (command specific). */
  INVALID_FIRMWARE_SLOT: 0x106,
  INVALID_FIRMWARE_IMAGE: 0x107,
  INVALID_LOG_PAGE: 0x109,
  SELF_TEST_IN_PROGRESS: 0x11d,
} as const;

const FIRMWARE_SLOTS = 3;

const DEFAULT_HEALTH: NvmeHealthCounters = {
  criticalWarning: 0,
  temperatureKelvin: 311, // 38 Celsius
  availableSpare: 100,
  availableSpareThreshold: 10,
  percentageUsed: 3,
  dataUnitsRead: 23_456_789n,
  dataUnitsWritten: 19_876_543n,
  hostReads: 345_678_901n,
  hostWrites: 298_765_432n,
  controllerBusyTime: 1_234n,
  powerCycles: 412n,
  powerOnHours: 1_873n,
  unsafeShutdowns: 37n,
  mediaErrors: 0n,
  errorLogEntries: 2n,
};

interface SelfTestEntry {
  code: number;
  result: number;
  powerOnHours: bigint;
}

export class SimulatedNvmeController {
  readonly model: string;
  readonly serial: string;
  firmware: string;
  readonly pciVendorId: number;
  readonly ieeeOui: number;
  readonly blocks: bigint;
  readonly health: NvmeHealthCounters;
  /** Opcodes executed, in order (what reached the drive through the bridge). */
  readonly commands: { opcode: number; cdw10: number; nsid: number }[] = [];
  /** Get/Set Features values by feature id. */
  readonly features = new Map<number, number>([
    [0x02, 0x0], // power management: state 0
    [0x04, 343], // temperature threshold: 70 Celsius in Kelvin
    [0x05, 0x0], // error recovery
    [0x06, 0x1], // volatile write cache enabled
    [0x07, 0x001f001f], // number of queues
  ]);
  /** Firmware revisions of slots 1-7 ('' = empty); slot 1 is read-only (FRMW bit 0). */
  readonly slots: string[];
  activeSlot = 1;
  nextResetSlot = 0;
  private image = new Uint8Array(0);
  private selfTest: { code: number; percent: number } | null = null;
  private readonly selfTests: SelfTestEntry[] = [];

  constructor(options: NvmeControllerOptions = {}) {
    this.model = options.model ?? 'USBSCSI SIMULATED NVMe SSD 1TB';
    this.serial = options.serial ?? 'SIMNVME0000000000001';
    this.firmware = options.firmware ?? '2B2QGXA7';
    this.pciVendorId = options.pciVendorId ?? 0x1e4b;
    this.ieeeOui = options.ieeeOui ?? 0x6479a7;
    this.blocks = options.blocks ?? 1_953_525_168n;
    this.health = { ...DEFAULT_HEALTH, ...options.health };
    this.slots = [this.firmware, '', '', '', '', '', ''];
    this.selfTests.push(
      { code: 0x1, result: 0x0, powerOnHours: this.health.powerOnHours - 200n },
      { code: 0x2, result: 0x0, powerOnHours: this.health.powerOnHours - 900n },
    );
  }

  admin(req: NvmeAdminRequest): NvmeAdminResult {
    this.commands.push({ opcode: req.opcode, cdw10: req.cdw10, nsid: req.nsid });
    switch (req.opcode) {
      case 0x06:
        return this.identify(req);
      case 0x02:
        return this.getLogPage(req);
      case 0x0a:
        return this.getFeatures(req);
      case 0x09:
        return this.setFeatures(req);
      case 0x14:
        return this.deviceSelfTest(req);
      case 0x11:
        return this.firmwareDownload(req);
      case 0x10:
        return this.firmwareCommit(req);
      default:
        return { status: NvmeStatus.INVALID_OPCODE, dw0: 0 };
    }
  }

  private identify(req: NvmeAdminRequest): NvmeAdminResult {
    const cns = req.cdw10 & 0xff;
    if (cns === 0x01) return { status: 0, dw0: 0, data: this.identifyController() };
    if (cns === 0x00) {
      if (req.nsid !== 1) return { status: NvmeStatus.INVALID_NAMESPACE, dw0: 0 };
      return { status: 0, dw0: 0, data: this.identifyNamespace() };
    }
    return { status: NvmeStatus.INVALID_FIELD, dw0: 0 };
  }

  identifyController(): Uint8Array {
    const d = new Uint8Array(4096);
    const v = new DataView(d.buffer);
    v.setUint16(0, this.pciVendorId, true);
    v.setUint16(2, this.pciVendorId, true);
    putAscii(d, 4, 20, this.serial);
    putAscii(d, 24, 40, this.model);
    putAscii(d, 64, 8, this.firmware);
    d[72] = 2; // RAB
    d[73] = this.ieeeOui & 0xff;
    d[74] = (this.ieeeOui >> 8) & 0xff;
    d[75] = (this.ieeeOui >> 16) & 0xff;
    d[77] = 9; // MDTS: 2 MiB
    v.setUint16(78, 1, true); // CNTLID
    v.setUint32(80, 0x010400, true); // NVMe 1.4
    v.setUint16(256, 0x0016, true); // OACS: format, firmware download, self-test
    d[260] = 0x01 | (FIRMWARE_SLOTS << 1); // FRMW: slot 1 read-only, three slots
    d[261] = 0x02; // LPA: command effects log
    d[262] = 63; // ELPE: 64 error log entries
    v.setUint16(266, 357, true); // WCTEMP 84 C
    v.setUint16(268, 361, true); // CCTEMP 88 C
    const bytes = this.blocks * 512n;
    v.setBigUint64(280, bytes, true); // TNVMCAP (low 64 bits)
    d[512] = 0x66; // SQES
    d[513] = 0x44; // CQES
    v.setUint32(516, 1, true); // NN
    v.setUint16(520, 0x005f, true); // ONCS
    return d;
  }

  identifyNamespace(): Uint8Array {
    const d = new Uint8Array(4096);
    const v = new DataView(d.buffer);
    v.setBigUint64(0, this.blocks, true);
    v.setBigUint64(8, this.blocks, true);
    v.setBigUint64(16, this.blocks / 3n, true);
    d[25] = 1; // NLBAF: two formats
    d[26] = 0; // FLBAS: format 0
    v.setBigUint64(120, 0x6479a70000000001n, false); // EUI64
    d[130] = 9; // LBAF0: 512 bytes
    d[131] = 0x02;
    d[134] = 12; // LBAF1: 4096 bytes
    return d;
  }

  private getLogPage(req: NvmeAdminRequest): NvmeAdminResult {
    const lid = req.cdw10 & 0xff;
    const numd = ((req.cdw10 >>> 16) | ((req.cdw11 & 0xffff) << 16)) + 1;
    const offset = Number((BigInt(req.cdw13) << 32n) | BigInt(req.cdw12));
    let page: Uint8Array;
    if (lid === 0x01) page = this.errorLog();
    else if (lid === 0x02) page = this.smartLog();
    else if (lid === 0x03) page = this.firmwareSlotLog();
    else if (lid === 0x06) page = this.selfTestLog();
    else return { status: NvmeStatus.INVALID_LOG_PAGE, dw0: 0 };
    const out = new Uint8Array(numd * 4);
    out.set(page.subarray(Math.min(offset, page.length), Math.min(page.length, offset + out.length)));
    return { status: 0, dw0: 0, data: out };
  }

  smartLog(): Uint8Array {
    const h = this.health;
    const d = new Uint8Array(512);
    const v = new DataView(d.buffer);
    d[0] = h.criticalWarning;
    v.setUint16(1, h.temperatureKelvin, true);
    d[3] = h.availableSpare;
    d[4] = h.availableSpareThreshold;
    d[5] = h.percentageUsed;
    const counters: [number, bigint][] = [
      [32, h.dataUnitsRead],
      [48, h.dataUnitsWritten],
      [64, h.hostReads],
      [80, h.hostWrites],
      [96, h.controllerBusyTime],
      [112, h.powerCycles],
      [128, h.powerOnHours],
      [144, h.unsafeShutdowns],
      [160, h.mediaErrors],
      [176, h.errorLogEntries],
    ];
    for (const [at, value] of counters) {
      v.setBigUint64(at, value & 0xffff_ffff_ffff_ffffn, true);
      v.setBigUint64(at + 8, value >> 64n, true);
    }
    v.setUint32(192, 0, true);
    v.setUint32(196, 0, true);
    v.setUint16(200, h.temperatureKelvin, true);
    v.setUint16(202, h.temperatureKelvin + 6, true);
    return d;
  }

  errorLog(): Uint8Array {
    const entries = 64;
    const d = new Uint8Array(entries * 64);
    const v = new DataView(d.buffer);
    const n = Number(this.health.errorLogEntries);
    for (let i = 0; i < Math.min(n, entries); i++) {
      const at = i * 64;
      v.setBigUint64(at, BigInt(n - i), true); // newest first
      v.setUint16(at + 8, 0, true); // admin queue
      v.setUint16(at + 10, 0x1000 + i, true);
      v.setUint16(at + 12, (NvmeStatus.INVALID_FIELD << 1) | 1, true);
      v.setUint16(at + 14, 0x28, true); // parameter error location: CDW10
      v.setBigUint64(at + 16, 0n, true);
      v.setUint32(at + 24, 0xffffffff, true);
    }
    return d;
  }

  firmwareSlotLog(): Uint8Array {
    const d = new Uint8Array(512);
    d[0] = this.activeSlot | (this.nextResetSlot << 4);
    this.slots.forEach((rev, i) => putAscii(d, 8 + 8 * i, 8, rev, 0));
    return d;
  }

  /** Reading the log advances a running test by half (deterministic for tests). */
  selfTestLog(): Uint8Array {
    const running = this.selfTest;
    if (running) {
      running.percent += 50;
      if (running.percent >= 100) {
        this.selfTests.unshift({ code: running.code, result: 0x0, powerOnHours: this.health.powerOnHours });
        this.selfTest = null;
      }
    }
    const d = new Uint8Array(564);
    const v = new DataView(d.buffer);
    if (this.selfTest) {
      d[0] = this.selfTest.code;
      d[1] = this.selfTest.percent;
    }
    this.selfTests.slice(0, 20).forEach((t, i) => {
      const at = 4 + 28 * i;
      d[at] = (t.code << 4) | t.result;
      d[at + 2] = 0x01; // NSID valid
      v.setBigUint64(at + 4, t.powerOnHours, true);
      v.setUint32(at + 12, 0xffffffff, true);
    });
    for (let i = this.selfTests.length; i < 20; i++) d[4 + 28 * i] = 0x0f; // unused entry
    return d;
  }

  private getFeatures(req: NvmeAdminRequest): NvmeAdminResult {
    const value = this.features.get(req.cdw10 & 0xff);
    return value === undefined ? { status: NvmeStatus.INVALID_FIELD, dw0: 0 } : { status: 0, dw0: value };
  }

  private setFeatures(req: NvmeAdminRequest): NvmeAdminResult {
    const fid = req.cdw10 & 0xff;
    if (!this.features.has(fid)) return { status: NvmeStatus.INVALID_FIELD, dw0: 0 };
    this.features.set(fid, req.cdw11);
    return { status: 0, dw0: req.cdw11 };
  }

  private deviceSelfTest(req: NvmeAdminRequest): NvmeAdminResult {
    const code = req.cdw10 & 0xf;
    if (code === 0xf) {
      if (this.selfTest)
        this.selfTests.unshift({ code: this.selfTest.code, result: 0x1, powerOnHours: this.health.powerOnHours });
      this.selfTest = null;
      return { status: 0, dw0: 0 };
    }
    if (code !== 0x1 && code !== 0x2) return { status: NvmeStatus.INVALID_FIELD, dw0: 0 };
    if (this.selfTest) return { status: NvmeStatus.SELF_TEST_IN_PROGRESS, dw0: 0 };
    this.selfTest = { code, percent: 0 };
    return { status: 0, dw0: 0 };
  }

  private firmwareDownload(req: NvmeAdminRequest): NvmeAdminResult {
    const bytes = (req.cdw10 + 1) * 4;
    const offset = req.cdw11 * 4;
    const data = req.dataOut ?? new Uint8Array(0);
    if (data.length < bytes) return { status: NvmeStatus.INVALID_FIELD, dw0: 0 };
    if (offset + bytes > 64 * 1024 * 1024) return { status: NvmeStatus.INVALID_FIELD, dw0: 0 };
    if (this.image.length < offset + bytes) {
      const grown = new Uint8Array(offset + bytes);
      grown.set(this.image);
      this.image = grown;
    }
    this.image.set(data.subarray(0, bytes), offset);
    return { status: 0, dw0: 0 };
  }

  /** The image's revision: its first 8 bytes when printable (this simulator's image format). */
  private firmwareCommit(req: NvmeAdminRequest): NvmeAdminResult {
    const slot = req.cdw10 & 0x7;
    const action = (req.cdw10 >> 3) & 0x7;
    if (slot === 1 || slot > FIRMWARE_SLOTS) return { status: NvmeStatus.INVALID_FIRMWARE_SLOT, dw0: 0 };
    const target = slot === 0 ? 2 : slot;
    if (action <= 1 || action === 3) {
      const rev = String.fromCharCode(...this.image.subarray(0, 8)).trim();
      if (this.image.length < 8 || !/^[\x21-\x7e ]{1,8}$/.test(rev))
        return { status: NvmeStatus.INVALID_FIRMWARE_IMAGE, dw0: 0 };
      this.slots[target - 1] = rev;
      this.image = new Uint8Array(0);
    }
    if (action === 1 || action === 2) this.nextResetSlot = target;
    if (action === 3) {
      this.activeSlot = target;
      this.firmware = this.slots[target - 1]!;
    }
    return { status: 0, dw0: 0 };
  }
}

function putAscii(d: Uint8Array, at: number, length: number, text: string, pad = 0x20): void {
  if (text.length > length) throw badInput(`"${text}" does not fit in ${length} bytes`);
  d.fill(pad, at, at + length);
  for (let i = 0; i < text.length; i++) d[at + i] = text.charCodeAt(i) & 0x7f;
}
