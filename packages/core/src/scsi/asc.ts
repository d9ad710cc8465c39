/** ASC/ASCQ → text, backed by the T10 list in asc-table.ts. */
import { ASC_ASCQ_ENTRIES, ASC_ASCQ_RANGES } from './asc-table.js';
import { hex } from '../hex.js';

const SINGLE = new Map<number, string>();
for (const [asc, ascq, text] of ASC_ASCQ_ENTRIES) SINGLE.set((asc << 8) | ascq, text);

/**
 * The T10 text for an additional sense code and qualifier, e.g. (0x20, 0x00) →
 * `INVALID COMMAND OPERATION CODE`; ranges are filled in ((0x40, 0x85) →
 * `DIAGNOSTIC FAILURE ON COMPONENT 0x85`); unassigned codes get sg3_utils'
 * wording (`vendor specific ASC=80, ASCQ=01 (hex)`).
 */
export function ascText(asc: number, ascq: number): string {
  asc &= 0xff;
  ascq &= 0xff;
  for (const r of ASC_ASCQ_RANGES) {
    if (r.asc === asc && ascq >= r.ascqMin && ascq <= r.ascqMax) return r.text.replace('NN', `0x${hex(ascq)}`);
  }
  const text = SINGLE.get((asc << 8) | ascq);
  if (text !== undefined) return text;
  if (asc >= 0x80) return `vendor specific ASC=${hex(asc)}, ASCQ=${hex(ascq)} (hex)`;
  if (ascq >= 0x80) return `ASC=${hex(asc)}, vendor specific qualification ASCQ=${hex(ascq)} (hex)`;
  return `ASC=${hex(asc)}, ASCQ=${hex(ascq)} (hex)`;
}
