/**
 * Medium-safety classification, as an allowlist: a CDB needs explicit consent
 * unless it is known to leave the medium alone (the tables in
 * medium-safe-commands.ts). Vendor-specific opcodes (C0h-FFh) always need
 * consent: only the vendor knows what they change. A false alarm costs one
 * `--yes`; a miss can cost a disk.
 */
import { u8 } from './bytes.js';
import { AtaProtocol } from './cdb-ata.js';
import {
  HARMLESS_WRITE_BUFFER_MODES,
  SAFE_ATA_COMMANDS,
  SAFE_ATA_FEATURES,
  SAFE_OPCODES,
  SAFE_SERVICE_ACTIONS,
  SAFE_VARIABLE_LENGTH_ACTIONS,
} from './medium-safe-commands.js';
import { opcodeName } from './opcodes.js';
import { hex } from '../hex.js';

/** Known writers, for a message that says what they do (the allowlist alone decides). */
const WRITING_OPCODES = new Map<number, string>([
  [0x04, 'formats the medium'],
  [0x07, 'reassigns blocks'],
  [0x0a, 'writes data'],
  [0x10, 'writes filemarks'],
  [0x19, 'erases the medium'],
  [0x2a, 'writes data'],
  [0x2c, 'erases the medium'],
  [0x2e, 'writes data'],
  [0x38, 'formats the medium'],
  [0x3d, 'writes data'],
  [0x3f, 'writes a long block'],
  [0x41, 'writes the same data to a range of blocks'],
  [
    0x42,
    'unmaps (discards) blocks (on an optical drive 42h is READ SUB-CHANNEL, but the device type is not known here)',
  ],
  [0x48, 'sanitizes (erases) the medium'],
  [0x50, 'writes data'],
  [0x51, 'writes data (on an optical drive 51h is READ DISC INFORMATION, but the device type is not known here)'],
  [0x53, 'writes data'],
  [0x80, 'writes data'],
  [0x83, 'copies data onto the medium (third-party copy)'],
  [0x89, 'compares and writes data'],
  [0x8a, 'writes data'],
  [0x8b, 'writes data (OR)'],
  [0x8d, 'writes attributes of the medium'],
  [0x8e, 'writes data'],
  [0x93, 'writes the same data to a range of blocks'],
  [0x94, 'changes zones (may reset write pointers)'],
  [0x9a, 'writes data'],
  [0x9c, 'writes data'],
  [0xaa, 'writes data'],
  [0xac, 'erases the medium (on an optical drive ACh is GET PERFORMANCE, but the device type is not known here)'],
  [0xae, 'writes data'],
  [0xb5, 'sends a security protocol command (may erase or lock the medium)'],
]);

/** ATA commands known to write, for messages. */
const WRITING_ATA_COMMANDS = new Map<number, string>([
  [0x06, 'DATA SET MANAGEMENT (TRIM)'],
  [0x07, 'DATA SET MANAGEMENT XL'],
  [0x30, 'WRITE SECTORS'],
  [0x31, 'WRITE SECTORS (no retry)'],
  [0x34, 'WRITE SECTORS EXT'],
  [0x35, 'WRITE DMA EXT'],
  [0x36, 'WRITE DMA QUEUED EXT'],
  [0x37, 'SET MAX ADDRESS EXT'],
  [0x39, 'WRITE MULTIPLE EXT'],
  [0x3a, 'WRITE STREAM DMA EXT'],
  [0x3b, 'WRITE STREAM EXT'],
  [0x3d, 'WRITE DMA FUA EXT'],
  [0x3e, 'WRITE DMA QUEUED FUA EXT'],
  [0x3f, 'WRITE LOG EXT'],
  [0x44, 'ZERO EXT'],
  [0x45, 'WRITE UNCORRECTABLE EXT'],
  [0x57, 'WRITE LOG DMA EXT'],
  [0x61, 'WRITE FPDMA QUEUED'],
  [0x78, 'ACCESSIBLE MAX ADDRESS CONFIGURATION'],
  [0x4a, 'ZAC MANAGEMENT IN'],
  [0x7c, 'ZAC MANAGEMENT OUT'],
  [0x92, 'DOWNLOAD MICROCODE'],
  [0x93, 'DOWNLOAD MICROCODE DMA'],
  [0xb1, 'DEVICE CONFIGURATION OVERLAY (may change capacity)'],
  [0xb2, 'SET SECTOR CONFIGURATION EXT'],
  [0xb4, 'SANITIZE DEVICE'],
  [0xc0, 'CFA ERASE SECTORS'],
  [0xc5, 'WRITE MULTIPLE'],
  [0xca, 'WRITE DMA'],
  [0xcb, 'WRITE DMA (no retry)'],
  [0xcc, 'WRITE DMA QUEUED'],
  [0xcd, 'CFA WRITE MULTIPLE WITHOUT ERASE'],
  [0xce, 'WRITE MULTIPLE FUA EXT'],
  [0xef, 'SET FEATURES'],
  [0xf1, 'SECURITY SET PASSWORD'],
  [0xf4, 'SECURITY ERASE UNIT'],
  [0xf6, 'SECURITY DISABLE PASSWORD'],
  [0xf9, 'SET MAX ADDRESS'],
]);

/** SAT protocols that move no data to the drive (the command byte then decides). */
const READING_PROTOCOLS = new Set<number>([
  AtaProtocol.NON_DATA,
  AtaProtocol.PIO_DATA_IN,
  AtaProtocol.DMA,
  AtaProtocol.DMA_QUEUED,
  AtaProtocol.DEVICE_DIAGNOSTIC,
  AtaProtocol.UDMA_DATA_IN,
  AtaProtocol.FPDMA,
]);

/** Why an ATA PASS-THROUGH(12)/(16) CDB needs consent, or undefined when it only reads (SAT-4 §12.2). */
function ataConsentReason(cdb: Uint8Array): string | undefined {
  const sixteen = u8(cdb, 0) === 0x85;
  if (cdb.length < (sixteen ? 16 : 12)) return `is ${cdb.length} bytes, too short to say which ATA command it carries`;
  const protocol = (u8(cdb, 1) >> 1) & 0x0f;
  // RETURN RESPONSE INFORMATION: the SATL answers from the last registers and sends the drive nothing.
  if (protocol === AtaProtocol.RETURN_RESPONSE_INFORMATION) return undefined;
  const command = u8(cdb, sixteen ? 14 : 9);
  const extend = sixteen && (u8(cdb, 1) & 0x01) !== 0;
  const features = sixteen ? (extend ? (u8(cdb, 3) << 8) | u8(cdb, 4) : u8(cdb, 4)) : u8(cdb, 3);
  const what =
    `ATA command 0x${hex(command)}` +
    (WRITING_ATA_COMMANDS.has(command) ? ` (${WRITING_ATA_COMMANDS.get(command)})` : '');
  if (!READING_PROTOCOLS.has(protocol))
    return `sends ${what} with protocol ${protocol}, which sends data or resets the drive`;
  const tDirOut = (u8(cdb, 2) & 0x08) === 0;
  const tLength = u8(cdb, 2) & 0x03;
  if (tLength !== 0 && tDirOut) return `sends data to the drive (${what}, T_DIR out)`;
  if (SAFE_ATA_COMMANDS.has(command)) return undefined;
  const bySubcommand = SAFE_ATA_FEATURES.get(command);
  if (bySubcommand) {
    const subcommand = bySubcommand.bits === 8 ? features & 0xff : features;
    if (bySubcommand.features.has(subcommand)) return undefined;
    if (bySubcommand.family) {
      const name = bySubcommand.subcommands?.get(subcommand) ?? `subcommand 0x${hex(subcommand)}`;
      return (
        `sends ${bySubcommand.family} ${name} (ATA command 0x${hex(command)}, feature 0x${hex(features, 4)}), ` +
        `which is not a read-only ${bySubcommand.family} subcommand`
      );
    }
    return `sends ${what} with feature 0x${hex(features, 4)}, which is not ${bySubcommand.name}`;
  }
  return `sends ${what}, which is not known to leave the medium alone`;
}

/** Why a standard (non-vendor) CDB needs consent, or undefined when it is on the allowlist. */
function standardConsentReason(cdb: Uint8Array, op: number, name: string): string | undefined {
  if (SAFE_OPCODES.has(op)) return undefined;
  if (op === 0x3b || op === 0x96) {
    const mode = u8(cdb, 1) & 0x1f;
    return HARMLESS_WRITE_BUFFER_MODES.has(mode)
      ? undefined
      : `${name} mode 0x${hex(mode)} changes the device firmware`;
  }
  if (op === 0x85 || op === 0xa1) {
    const why = ataConsentReason(cdb);
    return why === undefined ? undefined : `${name} ${why}`;
  }
  const actions = SAFE_SERVICE_ACTIONS.get(op);
  if (actions) {
    const sa = u8(cdb, 1) & 0x1f;
    return actions.has(sa) ? undefined : `${name} (service action 0x${hex(sa)}) is not known to leave the medium alone`;
  }
  if (op === 0x7f) {
    const sa = (u8(cdb, 8) << 8) | u8(cdb, 9);
    return cdb.length >= 10 && SAFE_VARIABLE_LENGTH_ACTIONS.has(sa)
      ? undefined
      : `VARIABLE LENGTH CDB service action 0x${hex(sa, 4)} is not known to leave the medium alone`;
  }
  const writes = WRITING_OPCODES.get(op);
  if (writes) return `${name} ${writes}`;
  if (name.startsWith('UNKNOWN')) return `opcode 0x${hex(op)} is unassigned: what it changes cannot be known`;
  return `${name} is not known to leave the medium alone (it may change data, format, capacity or settings)`;
}

/**
 * Why `cdb` needs explicit consent, e.g. `WRITE(10) writes data`, or undefined
 * when it is known to leave the medium and the firmware alone.
 */
export function mediumWriteReason(cdb: Uint8Array): string | undefined {
  if (cdb.length === 0) return 'an empty CDB is no command at all';
  const op = u8(cdb, 0);
  if (op >= 0xc0) return `opcode 0x${hex(op)} is vendor-specific: only the vendor knows what it changes`;
  return standardConsentReason(cdb, op, opcodeName(cdb));
}

/** True when `cdb` needs explicit consent (not on the allowlist); see {@link mediumWriteReason}. */
export function isMediumWrite(cdb: Uint8Array): boolean {
  return mediumWriteReason(cdb) !== undefined;
}

/**
 * Three-way classification: 'read' for commands on the allowlist, 'unknown' for
 * vendor-specific (C0h-FFh) and unassigned opcodes, whose effect only the vendor
 * knows, and 'write' for every other standard command. Both 'write' and
 * 'unknown' need consent.
 */
export function mediumSafety(cdb: Uint8Array): 'write' | 'read' | 'unknown' {
  if (!isMediumWrite(cdb)) return 'read';
  const op = u8(cdb, 0);
  if (cdb.length === 0 || op >= 0xc0 || (op !== 0x7f && opcodeName(op).startsWith('UNKNOWN'))) return 'unknown';
  return 'write';
}
