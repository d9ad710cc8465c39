/**
 * Identify Controller (CNS 01h) and Identify Namespace (CNS 00h) data, 4096 bytes each. Byte
 * offsets from the NVM Express Base Specification 2.0 (Figure 275 "Identify Controller Data
 * Structure", NVM Command Set Figure 97 "Identify Namespace Data Structure"), as also laid out
 * in smartmontools' `nvme_id_ctrl` / `nvme_id_ns`.
 */
import { ErrorCodes, UsbScsiError } from '../errors.js';

export interface NvmeIdentifyController {
  pciVendorId: number;
  pciSubsystemVendorId: number;
  serial: string;
  model: string;
  firmware: string;
  /** IEEE OUI (bytes 73-75, least significant byte first). */
  ieeeOui: number;
  controllerId: number;
  /** VER: major << 16 | minor << 8 | tertiary; 0 before NVMe 1.2. */
  version: number;
  versionString: string;
  /** Optional Admin Command Support. */
  oacs: number;
  supportsSelfTest: boolean;
  supportsFirmwareDownload: boolean;
  supportsFormat: boolean;
  /** Firmware slots (FRMW bits 3:1). */
  firmwareSlots: number;
  /** Error log entries the controller keeps (ELPE + 1). */
  errorLogEntries: number;
  /** Warning / critical composite temperature thresholds, Kelvin (0: not reported). */
  warningTempKelvin: number;
  criticalTempKelvin: number;
  totalCapacity: bigint;
  unallocatedCapacity: bigint;
  namespaces: number;
}

export interface NvmeIdentifyNamespace {
  /** NSZE / NCAP / NUSE, in logical blocks. */
  size: bigint;
  capacity: bigint;
  utilization: bigint;
  /** The formatted LBA size in bytes (2^LBADS of the format FLBAS selects). */
  blockSize: number;
  lbaFormats: { metadataBytes: number; blockSize: number; relativePerformance: number }[];
  eui64: bigint;
}

export function parseIdentifyController(data: Uint8Array): NvmeIdentifyController {
  if (data.length < 4096)
    throw new UsbScsiError(ErrorCodes.IO, `Identify Controller returned ${data.length} of 4096 bytes`);
  const v = view(data);
  const oacs = v.getUint16(256, true);
  const version = v.getUint32(80, true);
  return {
    pciVendorId: v.getUint16(0, true),
    pciSubsystemVendorId: v.getUint16(2, true),
    serial: ascii(data, 4, 20),
    model: ascii(data, 24, 40),
    firmware: ascii(data, 64, 8),
    ieeeOui: data[73]! | (data[74]! << 8) | (data[75]! << 16),
    controllerId: v.getUint16(78, true),
    version,
    versionString:
      version === 0
        ? '<1.2'
        : `${version >>> 16}.${(version >> 8) & 0xff}${version & 0xff ? `.${version & 0xff}` : ''}`,
    oacs,
    supportsSelfTest: (oacs & 0x10) !== 0,
    supportsFirmwareDownload: (oacs & 0x04) !== 0,
    supportsFormat: (oacs & 0x02) !== 0,
    firmwareSlots: (data[260]! >> 1) & 0x7,
    errorLogEntries: data[262]! + 1,
    warningTempKelvin: v.getUint16(266, true),
    criticalTempKelvin: v.getUint16(268, true),
    totalCapacity: le128(data, 280),
    unallocatedCapacity: le128(data, 296),
    namespaces: v.getUint32(516, true),
  };
}

/**
 * An Identify Controller with a model number and a PCI vendor: a Realtek bridge with a SATA drive answers all zeros.
 */
export function isPlausibleIdentify(id: NvmeIdentifyController): boolean {
  return id.model.length > 0 && id.pciVendorId !== 0 && id.pciVendorId !== 0xffff;
}

export function parseIdentifyNamespace(data: Uint8Array): NvmeIdentifyNamespace {
  if (data.length < 4096)
    throw new UsbScsiError(ErrorCodes.IO, `Identify Namespace returned ${data.length} of 4096 bytes`);
  const v = view(data);
  const count = data[25]! + 1;
  const lbaFormats = [];
  for (let i = 0; i < Math.min(count, 64); i++) {
    const at = 128 + 4 * i;
    lbaFormats.push({
      metadataBytes: v.getUint16(at, true),
      blockSize: 2 ** data[at + 2]!,
      relativePerformance: data[at + 3]! & 0x3,
    });
  }
  const formatIndex = (data[26]! & 0x0f) | ((data[26]! >> 1) & 0x30);
  return {
    size: v.getBigUint64(0, true),
    capacity: v.getBigUint64(8, true),
    utilization: v.getBigUint64(16, true),
    blockSize: lbaFormats[formatIndex]?.blockSize ?? 0,
    lbaFormats,
    eui64: v.getBigUint64(120, false),
  };
}

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/** Space-padded ASCII field, trimmed; NULs end it. */
export function ascii(data: Uint8Array, at: number, length: number): string {
  let s = '';
  for (let i = at; i < at + length; i++) {
    const c = data[i] ?? 0;
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s.trim();
}

/** 128-bit little-endian counter. */
export function le128(data: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 15; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i] ?? 0);
  return v;
}
