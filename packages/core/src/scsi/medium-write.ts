/**
 * Medium-safety classification. The device API demands explicit consent for
 * every CDB this reports as writing: anything that changes stored data, the
 * medium's format or capacity, or the device's firmware. When in doubt a
 * command is classified as writing (a false alarm costs one `--yes`; a miss can
 * cost a disk).
 */
import { u8 } from './bytes.js';
import { AtaProtocol } from './cdb-ata.js';
import { opcodeName } from './opcodes.js';

/** SCSI opcodes that always modify the medium (SBC-4, SSC-5, SPC-5, ZBC-2). */
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
  [0x42, 'unmaps (discards) blocks'],
  [0x48, 'sanitizes (erases) the medium'],
  [0x50, 'writes data'],
  [0x51, 'writes data'],
  [0x53, 'writes data'],
  [0x80, 'writes data'],
  [0x83, 'copies data onto the medium (third-party copy)'],
  [0x89, 'compares and writes data'],
  [0x8a, 'writes data'],
  [0x8b, 'writes data (OR)'],
  [0x8e, 'writes data'],
  [0x93, 'writes the same data to a range of blocks'],
  [0x94, 'changes zones (may reset write pointers)'],
  [0x9a, 'writes data'],
  [0x9c, 'writes data'],
  [0xaa, 'writes data'],
  [0xac, 'erases the medium'],
  [0xae, 'writes data'],
  [0xb5, 'sends a security protocol command (may erase or lock the medium)'],
]);

/** WRITE BUFFER modes that only reach a RAM buffer or a log; every other mode is treated as firmware. */
const HARMLESS_WRITE_BUFFER_MODES = new Set([0x00, 0x02, 0x0a, 0x1a, 0x1b, 0x1c]);

/** SERVICE ACTION OUT(16) 9Fh service actions that write. */
const WRITING_SA_OUT_16 = new Map<number, string>([
  [0x11, 'writes a long block'],
  [0x12, 'writes scattered data'],
  [0x13, 'copies data onto the medium'],
  [0x14, 'resets zone write pointers'],
]);

/** ATA commands (ACS-4) that write user data, firmware, capacity or security state. */
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
  [0x7c, 'ZAC MANAGEMENT OUT'],
  [0x92, 'DOWNLOAD MICROCODE'],
  [0x93, 'DOWNLOAD MICROCODE DMA'],
  [0xb1, 'DEVICE CONFIGURATION (may change capacity)'],
  [0xb4, 'SANITIZE DEVICE'],
  [0xc5, 'WRITE MULTIPLE'],
  [0xca, 'WRITE DMA'],
  [0xcb, 'WRITE DMA (no retry)'],
  [0xcc, 'WRITE DMA QUEUED'],
  [0xce, 'WRITE MULTIPLE FUA EXT'],
  [0xf1, 'SECURITY SET PASSWORD'],
  [0xf4, 'SECURITY ERASE UNIT'],
  [0xf6, 'SECURITY DISABLE PASSWORD'],
  [0xf9, 'SET MAX ADDRESS'],
]);

/** SMART subcommands that write (SMART WRITE LOG). */
const WRITING_SMART_FEATURES = new Set([0xd6]);

function ataWriteReason(cdb: Uint8Array): string | undefined {
  const op = u8(cdb, 0);
  const sixteen = op === 0x85;
  const protocol = (u8(cdb, 1) >> 1) & 0x0f;
  const tDirIn = (u8(cdb, 2) & 0x08) !== 0;
  const tLength = u8(cdb, 2) & 0x03;
  const command = u8(cdb, sixteen ? 14 : 9);
  const features = u8(cdb, sixteen ? 4 : 3);
  const name = WRITING_ATA_COMMANDS.get(command);
  if (name) return `ATA ${name}`;
  if (command === 0xb0 && WRITING_SMART_FEATURES.has(features)) return 'ATA SMART WRITE LOG';
  if (protocol === AtaProtocol.PIO_DATA_OUT || protocol === AtaProtocol.UDMA_DATA_OUT) {
    return `sends data to the drive (ATA command 0x${command.toString(16)}, data-out protocol)`;
  }
  const dma = protocol === AtaProtocol.DMA || protocol === AtaProtocol.DMA_QUEUED || protocol === AtaProtocol.FPDMA;
  if (dma && !tDirIn && tLength !== 0) return `sends data to the drive (ATA command 0x${command.toString(16)}, DMA out)`;
  return undefined;
}

/**
 * Why `cdb` modifies the medium or the firmware, e.g. `WRITE(10) writes data`,
 * or undefined when it does not (as far as the standards say: a vendor-specific
 * opcode is unknowable and is reported as not writing — the caller chose it).
 */
export function mediumWriteReason(cdb: Uint8Array): string | undefined {
  if (cdb.length === 0) return undefined;
  const op = u8(cdb, 0);
  const name = opcodeName(cdb);
  const plain = WRITING_OPCODES.get(op);
  if (plain) return `${name} ${plain}`;
  if (op === 0x3b || op === 0x96) {
    const mode = u8(cdb, 1) & 0x1f;
    if (!HARMLESS_WRITE_BUFFER_MODES.has(mode)) return `${name} mode 0x${mode.toString(16).padStart(2, '0')} changes the device firmware`;
    return undefined;
  }
  if (op === 0x9f) return WRITING_SA_OUT_16.has(u8(cdb, 1) & 0x1f) ? `${name} ${WRITING_SA_OUT_16.get(u8(cdb, 1) & 0x1f)}` : undefined;
  if (op === 0x7f) {
    // Variable-length CDBs (32 bytes): service action in bytes 8-9. WRITE(32) 000Bh,
    // WRITE AND VERIFY(32) 000Ch, WRITE SAME(32) 000Dh, ORWRITE(32) 000Eh, WRITE ATOMIC(32) 000Fh,
    // WRITE STREAM(32) 0010h, WRITE SCATTERED(32) 0011h; XDWRITE(32) 0004h etc.
    const sa = (u8(cdb, 8) << 8) | u8(cdb, 9);
    const writes = new Set([0x0004, 0x0006, 0x0007, 0x000b, 0x000c, 0x000d, 0x000e, 0x000f, 0x0010, 0x0011]);
    return writes.has(sa) ? `VARIABLE LENGTH CDB service action 0x${sa.toString(16).padStart(4, '0')} writes data` : undefined;
  }
  if (op === 0x85 || op === 0xa1) {
    const why = ataWriteReason(cdb);
    return why ? `${name}: ${why}` : undefined;
  }
  return undefined;
}

/** True when `cdb` modifies the medium or device firmware; see {@link mediumWriteReason}. */
export function isMediumWrite(cdb: Uint8Array): boolean {
  return mediumWriteReason(cdb) !== undefined;
}

/**
 * Three-way classification for callers that must decide about commands the
 * standards do not describe: 'write' (see {@link mediumWriteReason}), 'unknown'
 * for vendor-specific (C0h-FFh) and unassigned opcodes — whose effect only the
 * vendor knows — and 'read' for every other standard command.
 */
export function mediumSafety(cdb: Uint8Array): 'write' | 'read' | 'unknown' {
  if (isMediumWrite(cdb)) return 'write';
  const op = u8(cdb, 0);
  if (cdb.length === 0 || op >= 0xc0 || opcodeName(op).startsWith('UNKNOWN')) return 'unknown';
  return 'read';
}
