/** SCSI data layer: CDB builders, response parsers, sense decoding, medium-safety classification. */
export type { DecodedSense } from './sense-types.js';
export { Opcode, ServiceActionIn16, cdbGroupLength, opcodeName } from './opcodes.js';
export * from './cdb-spc.js';
export * from './cdb-sbc.js';
export * from './cdb-ata.js';
export { rawCdb, type RawCdbOptions } from './raw-cdb.js';
export { isMediumWrite, mediumSafety, mediumWriteReason } from './medium-write.js';
export * from './parse-inquiry.js';
export * from './parse-vpd.js';
export * from './parse-capacity.js';
export * from './parse-mode-sense.js';
export * from './parse-misc.js';
export * from './ata-identify.js';
export * from './ata-smart.js';
export { smartAttributeName, SMART_ATTRIBUTE_NAMES } from './smart-attribute-names.js';
export { SenseKey, decodeSense, encodeFixedSense, senseKeyName, type FixedSenseInit } from './sense.js';
export { ascText } from './asc.js';
