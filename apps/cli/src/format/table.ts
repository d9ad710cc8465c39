/** Column-aligned text: the first row is the header. Numbers align right. */
export function table(rows: (string | number)[][], options: { rightAlign?: number[] } = {}): string {
  if (rows.length === 0) return '';
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const right = new Set(options.rightAlign ?? []);
  return (
    cells
      .map((row) =>
        row
          .map((c, i) =>
            i === row.length - 1 && !right.has(i) ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!),
          )
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** "Label:  value" pairs, labels padded to one width. */
export function fields(pairs: [string, string | number | undefined][]): string {
  const shown = pairs.filter((p): p is [string, string | number] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${(k + ':').padEnd(width)}  ${v}`).join('\n') + '\n';
}

export function formatBytes(n: number | bigint): string {
  const v = Number(n);
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)} ${units[i]}`;
}
