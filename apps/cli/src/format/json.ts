/**
 * JSON documents: bigint fields become decimal strings only where a command's
 * documented shape says so; this replacer is the safety net for the rest
 * (byte arrays as hex strings, bigints as strings).
 */
export function toJson(doc: unknown): string {
  return (
    JSON.stringify(
      doc,
      (_key, value: unknown) => {
        if (typeof value === 'bigint') return value.toString();
        if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
        return value;
      },
      2,
    ) + '\n'
  );
}

/** 64-bit quantities are numbers while exact (below 2^53), which covers every real LBA and byte count. */
export function num(v: bigint | number): number {
  return typeof v === 'number' ? v : Number(v);
}
