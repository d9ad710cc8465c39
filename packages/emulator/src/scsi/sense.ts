/** Device-side sense data (SPC-5 §4.4): what a LUN holds after CHECK CONDITION. */

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
} as const;

export interface SenseSpec {
  key: number;
  asc: number;
  ascq: number;
  /** INFORMATION field (e.g. the failing LBA). */
  information?: bigint;
  /** Extra descriptors for descriptor-format sense (type, then bytes after the 2-byte header). */
  descriptors?: { type: number; body: Uint8Array }[];
  /** Always report in descriptor format (ATA PASS-THROUGH status return, SAT). */
  forceDescriptor?: boolean;
}

/** The sense conditions the target raises; named after their T10 text. */
export const Sense = {
  invalidOpcode: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x20, ascq: 0x00 }),
  lbaOutOfRange: (lba?: bigint): SenseSpec => ({
    key: SenseKey.ILLEGAL_REQUEST,
    asc: 0x21,
    ascq: 0x00,
    ...(lba === undefined ? {} : { information: lba }),
  }),
  invalidFieldInCdb: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0x00 }),
  invalidFieldInParameterList: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x00 }),
  lunNotSupported: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 }),
  savingParametersNotSupported: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x39, ascq: 0x00 }),
  mediumRemovalPrevented: (): SenseSpec => ({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x53, ascq: 0x02 }),
  becomingReady: (): SenseSpec => ({ key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x01 }),
  initializingCommandRequired: (): SenseSpec => ({ key: SenseKey.NOT_READY, asc: 0x04, ascq: 0x02 }),
  mediumNotPresent: (): SenseSpec => ({ key: SenseKey.NOT_READY, asc: 0x3a, ascq: 0x00 }),
  powerOnOrReset: (): SenseSpec => ({ key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0x00 }),
  writeProtected: (): SenseSpec => ({ key: SenseKey.DATA_PROTECT, asc: 0x27, ascq: 0x00 }),
  dataPhaseError: (): SenseSpec => ({ key: SenseKey.ABORTED_COMMAND, asc: 0x4b, ascq: 0x00 }),
  internalTargetFailure: (): SenseSpec => ({ key: SenseKey.HARDWARE_ERROR, asc: 0x44, ascq: 0x00 }),
  unrecoveredReadError: (lba?: bigint): SenseSpec => ({
    key: SenseKey.MEDIUM_ERROR,
    asc: 0x11,
    ascq: 0x00,
    ...(lba === undefined ? {} : { information: lba }),
  }),
} as const;

/** Fixed format, response code 0x70, 18 bytes. */
export function encodeFixedSense(sense: SenseSpec): Uint8Array {
  const bytes = new Uint8Array(18);
  bytes[0] = 0x70;
  bytes[2] = sense.key & 0x0f;
  if (sense.information !== undefined) {
    bytes[0] |= 0x80; // VALID: INFORMATION holds something
    new DataView(bytes.buffer).setUint32(3, Number(sense.information & 0xffffffffn));
  }
  bytes[7] = 10; // additional sense length
  bytes[12] = sense.asc;
  bytes[13] = sense.ascq;
  return bytes;
}

/** Descriptor format, response code 0x72 (information descriptor first when set). */
export function encodeDescriptorSense(sense: SenseSpec): Uint8Array {
  const parts: Uint8Array[] = [];
  if (sense.information !== undefined) {
    const info = new Uint8Array(12);
    info[0] = 0x00;
    info[1] = 0x0a;
    info[2] = 0x80; // VALID
    new DataView(info.buffer).setBigUint64(4, sense.information);
    parts.push(info);
  }
  for (const d of sense.descriptors ?? []) {
    const desc = new Uint8Array(2 + d.body.length);
    desc[0] = d.type;
    desc[1] = d.body.length;
    desc.set(d.body, 2);
    parts.push(desc);
  }
  const additional = parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(8 + additional);
  bytes[0] = 0x72;
  bytes[1] = sense.key & 0x0f;
  bytes[2] = sense.asc;
  bytes[3] = sense.ascq;
  bytes[7] = additional;
  let at = 8;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

export function encodeSense(sense: SenseSpec, descriptorFormat: boolean): Uint8Array {
  return descriptorFormat || sense.forceDescriptor ? encodeDescriptorSense(sense) : encodeFixedSense(sense);
}
