import { badInput, type DataDirection } from '@usbscsi/core';

/**
 * Request fields as the daemon reads them, from JSON, headers or the query
 * string. What the daemon answers is core's wire module (`@usbscsi/core/wire`).
 */

/** `12 00 00 00 24 00`, `12:00:…` or `120000002400` → bytes. */
export function parseCdbHex(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw badInput('cdb is required: the command bytes as hex, e.g. "12 00 00 00 24 00"');
  const compact = text.replace(/[\s:,-]/g, '').replace(/^0x/i, '');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(compact))
    throw badInput(`cdb "${text.slice(0, 80)}" is not whole hex bytes; write it like "12 00 00 00 24 00"`, {
      cdb: text.slice(0, 80),
    });
  const bytes = Buffer.from(compact, 'hex');
  // BOT carries 1..16 bytes, SG_IO up to 260 (variable-length CDBs); the transport checks its own limit.
  if (bytes.length > 260)
    throw badInput(`a cdb has at most 260 bytes; this one has ${bytes.length}`, { length: bytes.length });
  return new Uint8Array(bytes);
}

export function parseDirection(value: unknown): DataDirection | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'none' || value === 'in' || value === 'out') return value;
  throw badInput(`direction must be "none", "in" or "out", not ${JSON.stringify(value)}`);
}

/**
 * Integer in [min, max]. Where the value came from decides its type, with no
 * coercion: JSON must hold a number (`"length":"36"` is refused), a header or
 * query parameter is text and must be decimal digits.
 */
export function parseIntField(
  name: string,
  value: unknown,
  min: number,
  max: number,
  from: 'json' | 'text' = 'json',
): number | undefined {
  if (value === undefined || (from === 'json' && value === null) || (from === 'text' && value === '')) return undefined;
  const n = from === 'text' ? (typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    const what = from === 'json' ? 'a JSON number (not a string)' : 'decimal digits';
    throw badInput(
      `${name} must be an integer from ${min} to ${max}, written as ${what}; ` +
        `got ${JSON.stringify(value)?.slice(0, 40)}`,
      { field: name },
    );
  }
  return n;
}

/** true/false in JSON; true/false/1/0 as text (header or query). */
export function parseBoolField(name: string, value: unknown, from: 'json' | 'text' = 'json'): boolean | undefined {
  if (value === undefined || (from === 'json' && value === null) || (from === 'text' && value === '')) return undefined;
  if (from === 'json' ? value === true : value === 'true' || value === '1') return true;
  if (from === 'json' ? value === false : value === 'false' || value === '0') return false;
  throw badInput(
    `${name} must be ${from === 'json' ? 'the JSON literal true or false' : 'true, false, 1 or 0'}, ` +
      `not ${JSON.stringify(value)?.slice(0, 40)}`,
    { field: name },
  );
}
