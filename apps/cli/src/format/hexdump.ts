import { hex } from '@usbscsi/core/hex';
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
    const cells: string[] = [];
    for (let i = 0; i < 16; i++) {
      cells.push(i < row.length ? hex(row[i]!) : '  ');
      if (i === 7) cells.push('');
    }
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${hex(baseOffset + at, 8)}  ${cells.join(' ')}  |${ascii}|`);
  }
  lines.push(hex(baseOffset + data.length, 8));
  return lines.join('\n') + '\n';
}
