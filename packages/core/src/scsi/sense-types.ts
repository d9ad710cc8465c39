/** Decoded SCSI sense data (SPC-5 §4.4), fixed or descriptor format. */
export interface DecodedSense {
  format: 'fixed' | 'descriptor';
  /** 0x70/0x71 fixed, 0x72/0x73 descriptor. */
  responseCode: number;
  /** true for 0x71 / 0x73. */
  deferred: boolean;
  senseKey: number;
  /** `ILLEGAL REQUEST`, … */
  senseKeyName: string;
  asc: number;
  ascq: number;
  /** Full T10 text, e.g. `INVALID COMMAND OPERATION CODE`; ranges filled in (`… 0x85`). */
  ascText: string;
  /** INFORMATION field, when valid. */
  information?: bigint;
  commandSpecific?: bigint;
  fieldReplaceableUnit?: number;
  /** Sense-key specific bytes, when SKSV is set. */
  senseKeySpecific?: {
    raw: number;
    fieldPointer?: { commandData: boolean; bitPointer?: number; field: number };
    /** PROGRESS INDICATION numerator (denominator 65536), NO SENSE / NOT READY. */
    progress?: number;
    /** `progress` as a percentage, 0..100 (added; additive). */
    progressPercent?: number;
    /** ACTUAL RETRY COUNT, RECOVERED / MEDIUM / HARDWARE ERROR (added; additive). */
    actualRetryCount?: number;
  };
  filemark: boolean;
  endOfMedium: boolean;
  incorrectLength: boolean;
  /** Descriptor format: each descriptor's type and bytes. */
  descriptors?: { type: number; bytes: Uint8Array }[];
  /** ATA Status Return descriptor (type 0x09), when present (SAT). */
  ataStatusReturn?: { error: number; count: number; lba: bigint; device: number; status: number; extend: boolean };
  raw: Uint8Array;
}
