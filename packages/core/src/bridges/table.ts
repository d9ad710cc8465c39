/**
 * USB-NVMe bridges by VID:PID. Every entry cites the line of smartmontools' `drivedb/drivedb.h`
 * (commit f1d0da9ce840, 2026-08-19) that names the VID:PID and its `-d snt*` type; patterns
 * there (`0x04e8:0x(4001|61fb)`) are spelled out here one product id per row.
 */
import type { BridgeKind } from './bridge.js';

export interface BridgeTableEntry {
  vendorId: number;
  productId: number;
  bridge: BridgeKind;
  /** Chip and product as drivedb.h names them. */
  name: string;
  /**
   * The same VID:PID is also sold with a SATA drive behind it (type `sntjmicron/sat`, "NVMe or SATA"): fall back to
   * SAT.
   */
  maybeSata?: boolean;
  /**
   * SATA bridges share this VID:PID (drivedb tells them apart by bcdDevice, which the backends do
   * not report): ask SAT first, since the bridge's protocol-0 CDB is an ATA hardware reset to them.
   */
  sataFirst?: boolean;
  /** Its E6h CDB broke the device's UAS mode (smartmontools #490): never sent unasked to a UAS-capable one. */
  e6BreaksUas?: boolean;
  /** `drivedb.h:LINE`. */
  source: string;
}

const row = (
  vendorId: number,
  productId: number,
  bridge: BridgeKind,
  name: string,
  line: number,
  extra: Partial<BridgeTableEntry> = {},
): BridgeTableEntry => ({
  vendorId,
  productId,
  bridge,
  name,
  source: `smartmontools drivedb/drivedb.h:${line}`,
  ...extra,
});

export const BRIDGE_TABLE: readonly BridgeTableEntry[] = Object.freeze([
  row(0x0411, 0x039d, 'asmedia', 'Buffalo SSD-PSTA/N; ASMedia', 6189),
  row(0x04e8, 0x4001, 'asmedia', 'Samsung Portable SSD T7; ASMedia ASM2362', 6271),
  row(0x04e8, 0x61fb, 'asmedia', 'Samsung Portable SSD T7 Shield; ASMedia ASM2362', 6271),
  row(0x04e8, 0x61fd, 'asmedia', 'Samsung Portable SSD T9; ASMedia ASM2362', 6337),
  row(0x0634, 0x5603, 'asmedia', 'Crucial X9 Pro (partly emulates SAT and ASMedia NVMe)', 6576),
  row(0x0634, 0x5607, 'asmedia', 'Crucial X10 (partly emulates SAT and ASMedia NVMe)', 6576),
  row(0x0781, 0x55ae, 'asmedia', 'SanDisk Extreme; ASMedia ASM2362', 6636),
  row(0x0781, 0x55af, 'asmedia', 'SanDisk Extreme Pro; ASMedia ASM2362', 6636),
  row(0x0781, 0x55bb, 'asmedia', 'SanDisk Portable SSD; ASMedia ASM2362', 6636),
  row(0x0b05, 0x1932, 'asmedia', 'Asus ROG Strix Arion; ASMedia ASM236x', 6815),
  row(0x0bc2, 0xaa1a, 'asmedia', 'Seagate FireCuda Gaming SSD; ASMedia ASM2364', 6834),
  row(0x0bda, 0x9210, 'realtek', 'Realtek RTL9210', 6853),
  row(0x0dd8, 0x9210, 'realtek', 'Netac WH51; Realtek RTL9210', 6853),
  row(0x0bda, 0x9211, 'realtek', 'Realtek RTL9211 (NVMe or SATA)', 6859, { maybeSata: true }),
  row(0x2eb9, 0x9211, 'realtek', 'Sabrent EC-WPTF; Realtek RTL9211 (NVMe or SATA)', 6859, { maybeSata: true }),
  row(0x0bda, 0x9220, 'realtek', 'Realtek RTL9220 (NVMe or SATA)', 6871, { maybeSata: true }),
  row(0x1058, 0x266e, 'asmedia', 'WD Elements SE SSD; ASMedia ASM236x', 7002),
  row(0x13fe, 0x6500, 'asmedia', 'TeamGroup C212; Phison (limited NVMe information)', 7078),
  row(0x152d, 0x0581, 'jmicron', 'JMicron JMS581 (NVMe or SATA)', 7141, { maybeSata: true }),
  row(0x152d, 0x0583, 'jmicron', 'JMicron JMS583 (SATA adapters share the id, drivedb.h:7147)', 7153, {
    sataFirst: true,
  }),
  row(0x152d, 0xa581, 'jmicron', 'JMicron JMS581 (NVMe or SATA)', 7286, { maybeSata: true }),
  row(0x152d, 0xb581, 'jmicron', 'Unitek M.2 NVMe/SATA; JMicron JMS581', 7286, { maybeSata: true }),
  row(0x152d, 0xa583, 'jmicron', 'JMicron JMS583', 7292),
  row(0x174c, 0x2362, 'asmedia', 'ASMedia ASM2362', 7313),
  row(0x174c, 0x2364, 'asmedia', 'ASMedia ASM2364', 7313),
  row(0x174c, 0x2463, 'asmedia', 'ASMedia ASM2464PD (USB4, in USB 3 mode)', 7319),
  row(0x1b1c, 0x1a20, 'asmedia', 'Corsair EX400U; Phison PS2251-21', 7421, { e6BreaksUas: true }),
  row(0x1de1, 0xe101, 'realtek', 'Actions AM8180 (a rebranded RTL9210)', 7435),
  row(0x1e91, 0xde79, 'asmedia', 'OWC Express 1M2; ASMedia ASM2464PD', 7462),
  row(0x2174, 0x7010, 'realtek', 'Transcend TS-CM10G', 7525),
  row(0x21c4, 0x0003, 'jmicron', 'Lexar ES3; JMicron', 7538),
  row(0x21c4, 0xb06a, 'jmicron', 'Lexar E6; JMicron', 7538),
  row(0x21c4, 0xb083, 'realtek', 'Lexar E300; Realtek', 7544),
  row(0x30de, 0x1000, 'jmicron', 'KIOXIA EXCERIA PLUS', 7587),
  row(0x32ac, 0x0005, 'asmedia', 'Framework Expansion Card; Phison PS2251', 7601),
]);

export function findBridgeEntry(vendorId: number, productId: number): BridgeTableEntry | undefined {
  return BRIDGE_TABLE.find((e) => e.vendorId === vendorId && e.productId === productId);
}

/** opensea-transport `asmedia_nvme_helper.h`: a 38-byte standard INQUIRY carries 60h 23h in bytes 36-37. */
export function hasAsmediaInquirySignature(inquiry: Uint8Array): boolean {
  return inquiry.length >= 38 && inquiry[36] === 0x60 && inquiry[37] === 0x23;
}
