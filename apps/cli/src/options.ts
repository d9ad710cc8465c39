/** Parsing of numeric and enumerated command-line values into typed input errors. */
import { InvalidArgumentError } from 'commander';
import { badInput } from '@usbscsi/core/errors';

export interface IntRange {
  min?: number;
  max?: number;
}

/** Decimal or 0x-hex integer; `what` names the option in the message ("--lba"). */
export function parseIntOption(text: string | undefined, what: string, range: IntRange = {}): number {
  const value = parseBigOption(text, what);
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (value < BigInt(min) || value > BigInt(max)) {
    throw badInput(`${what} must be between ${min} and ${max}; got ${text}.`, { option: what, value: text });
  }
  return Number(value);
}

export function parseBigOption(text: string | undefined, what: string): bigint {
  const t = (text ?? '').trim();
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) {
    throw badInput(`${what} needs a non-negative integer (decimal or 0x-hex); got "${text ?? ''}".`, {
      option: what,
      value: text,
    });
  }
  return BigInt(t);
}

/** Sizes with an optional binary suffix: 512, 4k, 64M, 1G. */
export function parseSizeOption(text: string | undefined, what: string, range: IntRange = {}): number {
  const m = /^(\d+)([kmg]i?b?)?$/i.exec((text ?? '').trim());
  if (!m)
    throw badInput(`${what} needs a size in bytes such as 4096, 64k or 16M; got "${text ?? ''}".`, {
      option: what,
      value: text,
    });
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    (m[2] ?? '').charAt(0).toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  return parseIntOption(String(BigInt(m[1]!) * BigInt(mult)), what, range);
}

/**
 * A commander argument parser for a path option: an empty value (`-o "$UNSET"`) is a usage
 * error, not a quiet "no file" or an ENOENT from the OS.
 */
export function nonEmptyPath(option: string, what: string): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new InvalidArgumentError(`${option} needs ${what}; got an empty string.`);
    return value;
  };
}
