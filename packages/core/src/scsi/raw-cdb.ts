/**
 * Raw CDBs for vendor and unlisted commands, typed the way sg_raw takes them:
 * hex bytes separated by spaces ("12 00 00 00 24 00") or run together
 * ("120000002400").
 */
import { badInput } from '../errors.js';

const EXAMPLE = 'type the CDB as hex bytes, e.g. "12 00 00 00 24 00" or "120000002400"';

export interface RawCdbOptions {
  /**
   * Accept any length from 1 to 16 (what a BOT CBW can carry). By default only
   * the SCSI lengths 6, 10, 12 and 16 are accepted.
   */
  anyLength?: boolean;
}

function parseHex(text: string): number[] {
  const tokens = text
    .trim()
    .split(/[\s,:]+/)
    .filter((t) => t.length > 0);
  if (tokens.length === 0) throw badInput(`the CDB is empty; ${EXAMPLE}`);
  const out: number[] = [];
  for (const raw of tokens) {
    const token = raw.replace(/^0x/i, '');
    if (!/^[0-9a-f]+$/i.test(token)) {
      throw badInput(`"${raw}" is not hexadecimal; ${EXAMPLE}`, { token: raw });
    }
    if (token.length <= 2) {
      out.push(parseInt(token, 16));
      continue;
    }
    if (token.length % 2 !== 0) {
      throw badInput(`"${raw}" has an odd number of hex digits; write each byte as two digits (${EXAMPLE})`, {
        token: raw,
      });
    }
    for (let i = 0; i < token.length; i += 2) out.push(parseInt(token.slice(i, i + 2), 16));
  }
  return out;
}

/** Parses or checks a raw CDB. Any opcode is allowed; the length is what is checked. */
export function rawCdb(hexOrBytes: string | Uint8Array | readonly number[], options: RawCdbOptions = {}): Uint8Array {
  let bytes: number[];
  if (typeof hexOrBytes === 'string') {
    bytes = parseHex(hexOrBytes);
  } else {
    bytes = Array.from(hexOrBytes);
    const bad = bytes.findIndex((b) => !Number.isInteger(b) || b < 0 || b > 0xff);
    if (bad >= 0) throw badInput(`byte ${bad} is ${String(bytes[bad])}, not 0..255; ${EXAMPLE}`);
  }
  const n = bytes.length;
  if (options.anyLength) {
    if (n < 1 || n > 16) throw badInput(`a CDB is 1 to 16 bytes over BOT; got ${n}. ${EXAMPLE}`, { length: n });
  } else if (n !== 6 && n !== 10 && n !== 12 && n !== 16) {
    throw badInput(
      `a CDB is 6, 10, 12 or 16 bytes; got ${n}. Pad with 00 bytes to the next size, or ` +
        `allow any length 1..16 for BOT; ${EXAMPLE}`,
      {
        length: n,
      },
    );
  }
  return Uint8Array.from(bytes);
}
