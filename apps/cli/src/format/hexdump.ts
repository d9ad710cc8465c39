/** `hexdump -C` layout; runs of identical 16-byte lines collapse to `*`. */
export function hexdump(data: Uint8Array, baseOffset = 0): string {
  const lines: string[] = [];
  let previous: string | undefined;
  let starred = false;
  for (let at = 0; at < data.length; at += 16) {
    const row = data.subarray(at, Math.min(at + 16, data.length));
    const key = Buffer.from(row).toString('hex');
    const isLast = at + 16 >= data.length;
    if (key === previous && row.length === 16 && !isLast) {
      if (!starred) lines.push('*');
      starred = true;
      continue;
    }
    starred = false;
    previous = key;
    const hex: string[] = [];
    for (let i = 0; i < 16; i++) {
      hex.push(i < row.length ? row[i]!.toString(16).padStart(2, '0') : '  ');
      if (i === 7) hex.push('');
    }
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(baseOffset + at).toString(16).padStart(8, '0')}  ${hex.join(' ')}  |${ascii}|`);
  }
  lines.push((baseOffset + data.length).toString(16).padStart(8, '0'));
  return lines.join('\n') + '\n';
}

/** "12 00 00 00 24 00" */
export function hexBytes(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
