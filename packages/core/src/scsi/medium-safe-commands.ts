/**
 * The allowlist behind medium-write consent, as data: commands known to leave
 * the medium alone. A command is listed when it only reads or reports, or only
 * changes volatile state (position, power condition, cache flush, medium lock,
 * reservations held by this host) — never stored data, the format or capacity,
 * persistent settings (MODE SELECT, LOG SELECT, persistent reservations,
 * SET FEATURES) or firmware. Anything not listed needs consent.
 *
 * One opcode means different commands in different device types (SPC-6,
 * SBC-5, MMC-6, SSC-5, SMC-3, ZBC-2; names per opcode from sg3_utils
 * lib/sg_lib_data.c `sg_lib_normal_opcodes`). The device type is not known
 * when a CDB is judged, so an opcode is listed only when it is safe in every
 * command set that defines it: 42h is UNMAP on a disk and READ SUB-CHANNEL on
 * a CD drive, so it needs consent on both.
 */

/** Opcodes safe whatever their other fields. */
export const SAFE_OPCODES: ReadonlyMap<number, string> = new Map([
  [0x00, 'TEST UNIT READY'],
  [0x01, 'REZERO UNIT / REWIND'],
  [0x03, 'REQUEST SENSE'],
  [0x05, 'READ BLOCK LIMITS'],
  [0x08, 'READ(6) / RECEIVE'],
  [0x0f, 'READ REVERSE(6)'],
  [0x11, 'SPACE(6)'],
  [0x12, 'INQUIRY'],
  [0x13, 'VERIFY(6)'],
  [0x14, 'RECOVER BUFFERED DATA'],
  [0x16, 'RESERVE(6)'],
  [0x17, 'RELEASE(6)'],
  [0x1a, 'MODE SENSE(6)'],
  [0x1b, 'START STOP UNIT / LOAD UNLOAD'],
  [0x1c, 'RECEIVE DIAGNOSTIC RESULTS'],
  [0x1e, 'PREVENT ALLOW MEDIUM REMOVAL'],
  [0x23, 'READ FORMAT CAPACITIES'],
  [0x25, 'READ CAPACITY(10)'],
  [0x28, 'READ(10)'],
  [0x29, 'READ GENERATION'],
  [0x2b, 'SEEK(10) / LOCATE(10) / POSITION TO ELEMENT'],
  [0x2d, 'READ UPDATED BLOCK'],
  [0x2f, 'VERIFY(10)'],
  [0x30, 'SEARCH DATA HIGH(10)'],
  [0x31, 'SEARCH DATA EQUAL(10)'],
  [0x32, 'SEARCH DATA LOW(10)'],
  [0x33, 'SET LIMITS(10)'],
  [0x34, 'PRE-FETCH(10) / READ POSITION'],
  [0x35, 'SYNCHRONIZE CACHE(10)'],
  [0x36, 'LOCK UNLOCK CACHE(10)'],
  [0x37, 'READ DEFECT DATA(10) / INITIALIZE ELEMENT STATUS WITH RANGE'],
  [0x3c, 'READ BUFFER(10)'],
  [0x3e, 'READ LONG(10)'],
  [0x43, 'READ TOC/PMA/ATIP'],
  [0x44, 'REPORT DENSITY SUPPORT / READ HEADER'],
  [0x45, 'PLAY AUDIO(10)'],
  [0x46, 'GET CONFIGURATION'],
  [0x47, 'PLAY AUDIO MSF'],
  [0x4a, 'GET EVENT STATUS NOTIFICATION'],
  [0x4b, 'PAUSE/RESUME'],
  [0x4d, 'LOG SENSE'],
  [0x4e, 'STOP PLAY/SCAN'],
  [0x52, 'XDREAD(10) / READ TRACK INFORMATION'],
  [0x56, 'RESERVE(10)'],
  [0x57, 'RELEASE(10)'],
  [0x5a, 'MODE SENSE(10)'],
  [0x5c, 'READ BUFFER CAPACITY'],
  [0x5e, 'PERSISTENT RESERVE IN'],
  [0x84, 'THIRD PARTY COPY IN'],
  [0x86, 'ACCESS CONTROL IN'],
  [0x88, 'READ(16)'],
  [0x8c, 'READ ATTRIBUTE'],
  [0x8f, 'VERIFY(16)'],
  [0x90, 'PRE-FETCH(16)'],
  [0x91, 'SYNCHRONIZE CACHE(16) / SPACE(16)'],
  [0x92, 'LOCK UNLOCK CACHE(16) / LOCATE(16)'],
  [0x9b, 'READ BUFFER(16)'],
  [0xa0, 'REPORT LUNS'],
  [0xa2, 'SECURITY PROTOCOL IN'],
  [0xa5, 'MOVE MEDIUM / PLAY AUDIO(12)'],
  [0xa6, 'EXCHANGE MEDIUM / LOAD/UNLOAD MEDIUM'],
  [0xa7, 'MOVE MEDIUM ATTACHED / SET READ AHEAD'],
  [0xa8, 'READ(12)'],
  [0xad, 'READ DVD/BD STRUCTURE'],
  [0xaf, 'VERIFY(12)'],
  [0xb0, 'SEARCH DATA HIGH(12)'],
  [0xb1, 'SEARCH DATA EQUAL(12) / OPEN/CLOSE IMPORT/EXPORT ELEMENT'],
  [0xb2, 'SEARCH DATA LOW(12)'],
  [0xb3, 'SET LIMITS(12)'],
  [0xb4, 'READ ELEMENT STATUS ATTACHED'],
  [0xb7, 'READ DEFECT DATA(12)'],
  [0xb8, 'READ ELEMENT STATUS'],
  [0xb9, 'READ CD MSF'],
  [0xba, 'SCAN / REDUNDANCY GROUP IN'],
  [0xbc, 'SPARE IN'],
  [0xbe, 'READ CD / VOLUME SET IN'],
]);

/**
 * Opcodes whose service action (byte 1, bits 4:0) decides; the safe actions. MAINTENANCE IN's
 * action 00h is left out: MMC's SEND KEY (A3h, byte 1 reserved) reads as action 00h and can
 * spend a drive's last region change.
 */
export const SAFE_SERVICE_ACTIONS: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  // ZBC IN: REPORT ZONES, REPORT REALMS, REPORT ZONE DOMAINS, ZONE QUERY (not ZONE ACTIVATE 08h).
  [0x95, new Set([0x00, 0x06, 0x07, 0x09])],
  // SERVICE ACTION IN(16): RECEIVE BINDING REPORT, READ CAPACITY(16), READ LONG(16), GET LBA STATUS,
  // REPORT REFERRALS, GET STREAM STATUS, GET PHYSICAL ELEMENT STATUS. Not STREAM CONTROL 14h,
  // BACKGROUND CONTROL 15h, REMOVE ELEMENT AND TRUNCATE 18h, RESTORE ELEMENTS AND REBUILD 19h,
  // REMOVE ELEMENT AND MODIFY ZONES 1Ah.
  [0x9e, new Set([0x0f, 0x10, 0x11, 0x12, 0x13, 0x16, 0x17])],
  // MAINTENANCE IN: the REPORT … actions 01h-10h, 1Dh, 1Eh (not 00h, see above, nor vendor 1Fh).
  [
    0xa3,
    new Set([
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x1d, 0x1e,
    ]),
  ],
  // SERVICE ACTION IN(12): READ MEDIA SERIAL NUMBER.
  [0xab, new Set([0x01])],
]);

/**
 * VARIABLE LENGTH CDB (7Fh) service actions (bytes 8-9) that read: XDREAD(32), READ(32), VERIFY(32), GET LBA
 * STATUS(32).
 */
export const SAFE_VARIABLE_LENGTH_ACTIONS: ReadonlySet<number> = new Set([0x0003, 0x0009, 0x000a, 0x0012]);

/** WRITE BUFFER modes that only reach a RAM buffer or a log; every other mode is treated as firmware. */
export const HARMLESS_WRITE_BUFFER_MODES: ReadonlySet<number> = new Set([0x00, 0x02, 0x0a, 0x1a, 0x1b, 0x1c]);

/**
 * ATA commands (ACS-4, and obsolete ATA/ATAPI-7 codes) that only read or report, or only change
 * power state or flush the cache. NOP (00h) is left out: MMC's BLANK (A1h) reads as ATA
 * PASS-THROUGH(12) carrying command 00h.
 */
export const SAFE_ATA_COMMANDS: ReadonlyMap<number, string> = new Map([
  [0x03, 'CFA REQUEST EXTENDED ERROR'],
  [0x20, 'READ SECTORS'],
  [0x21, 'READ SECTORS (no retry)'],
  [0x22, 'READ LONG'],
  [0x23, 'READ LONG (no retry)'],
  [0x24, 'READ SECTORS EXT'],
  [0x25, 'READ DMA EXT'],
  [0x26, 'READ DMA QUEUED EXT'],
  [0x27, 'READ NATIVE MAX ADDRESS EXT'],
  [0x29, 'READ MULTIPLE EXT'],
  [0x2a, 'READ STREAM DMA EXT'],
  [0x2b, 'READ STREAM EXT'],
  [0x2f, 'READ LOG EXT'],
  [0x40, 'READ VERIFY SECTORS'],
  [0x41, 'READ VERIFY SECTORS (no retry)'],
  [0x42, 'READ VERIFY SECTORS EXT'],
  [0x47, 'READ LOG DMA EXT'],
  [0x5c, 'TRUSTED RECEIVE'],
  [0x5d, 'TRUSTED RECEIVE DMA'],
  [0x60, 'READ FPDMA QUEUED'],
  [0x65, 'RECEIVE FPDMA QUEUED'],
  [0x70, 'SEEK'],
  [0x87, 'CFA TRANSLATE SECTOR'],
  [0x90, 'EXECUTE DEVICE DIAGNOSTIC'],
  [0x94, 'STANDBY IMMEDIATE (obsolete code)'],
  [0x95, 'IDLE IMMEDIATE (obsolete code)'],
  [0x96, 'STANDBY (obsolete code)'],
  [0x97, 'IDLE (obsolete code)'],
  [0x98, 'CHECK POWER MODE (obsolete code)'],
  [0x99, 'SLEEP (obsolete code)'],
  [0xa1, 'IDENTIFY PACKET DEVICE'],
  [0xc4, 'READ MULTIPLE'],
  [0xc7, 'READ DMA QUEUED'],
  [0xc8, 'READ DMA'],
  [0xc9, 'READ DMA (no retry)'],
  [0xda, 'GET MEDIA STATUS'],
  [0xde, 'MEDIA LOCK'],
  [0xdf, 'MEDIA UNLOCK'],
  [0xe0, 'STANDBY IMMEDIATE'],
  [0xe1, 'IDLE IMMEDIATE'],
  [0xe2, 'STANDBY'],
  [0xe3, 'IDLE'],
  [0xe4, 'READ BUFFER'],
  [0xe5, 'CHECK POWER MODE'],
  [0xe6, 'SLEEP'],
  [0xe7, 'FLUSH CACHE'],
  [0xe9, 'READ BUFFER DMA'],
  [0xea, 'FLUSH CACHE EXT'],
  [0xec, 'IDENTIFY DEVICE'],
  [0xed, 'MEDIA EJECT'],
  [0xf8, 'READ NATIVE MAX ADDRESS'],
]);

/**
 * ATA commands whose FEATURE field picks a read or a write; the reading subcommands. `bits`: how
 * much of FEATURE names the subcommand (16 where the whole field does; 8 where FEATURE(15:8)
 * carries options, as REPORT ZONES EXT's reporting options). `family` and `subcommands`, where
 * given, let a refusal name the subcommand it saw.
 */
export const SAFE_ATA_FEATURES: ReadonlyMap<
  number,
  {
    name: string;
    bits: 8 | 16;
    features: ReadonlySet<number>;
    family?: string;
    subcommands?: ReadonlyMap<number, string>;
  }
> = new Map([
  // ZAC MANAGEMENT IN: REPORT ZONES EXT, REPORT REALMS, REPORT ZONE DOMAINS, ZONE QUERY EXT (not ZONE ACTIVATE EXT
  // 08h).
  [0x4a, { name: 'a ZAC MANAGEMENT IN report', bits: 8, features: new Set([0x00, 0x06, 0x07, 0x09]) }],
  // ACCESSIBLE MAX ADDRESS CONFIGURATION: GET NATIVE MAX ADDRESS EXT (not SET 0001h, FREEZE 0002h).
  [0x78, { name: 'GET NATIVE MAX ADDRESS EXT', bits: 16, features: new Set([0x0000]) }],
  // DEVICE CONFIGURATION OVERLAY: IDENTIFY C2h, IDENTIFY DMA C4h (not RESTORE, FREEZE LOCK, SET).
  [0xb1, { name: 'DEVICE CONFIGURATION IDENTIFY', bits: 8, features: new Set([0xc2, 0xc4]) }],
  // SANITIZE DEVICE: SANITIZE STATUS EXT only.
  [0xb4, { name: 'SANITIZE STATUS EXT', bits: 16, features: new Set([0x0000]) }],
  // SMART: READ DATA, READ ATTRIBUTE THRESHOLDS, READ LOG, RETURN STATUS (not ENABLE/DISABLE
  // ATTRIBUTE AUTOSAVE D2h, EXECUTE OFF-LINE IMMEDIATE D4h, WRITE LOG D6h, ENABLE/DISABLE D8h/D9h).
  [
    0xb0,
    {
      name: 'SMART',
      bits: 8,
      features: new Set([0xd0, 0xd1, 0xd5, 0xda]),
      family: 'SMART',
      subcommands: new Map([
        [0xd0, 'READ DATA'],
        [0xd1, 'READ ATTRIBUTE THRESHOLDS'],
        [0xd2, 'ENABLE/DISABLE ATTRIBUTE AUTOSAVE'],
        [0xd3, 'SAVE ATTRIBUTE VALUES'],
        [0xd4, 'EXECUTE OFF-LINE IMMEDIATE'],
        [0xd5, 'READ LOG'],
        [0xd6, 'WRITE LOG'],
        [0xd8, 'ENABLE OPERATIONS'],
        [0xd9, 'DISABLE OPERATIONS'],
        [0xda, 'RETURN STATUS'],
      ]),
    },
  ],
]);
