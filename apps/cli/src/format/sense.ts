import type { DecodedSense } from '@usbscsi/core';
import { hex0x } from '@usbscsi/core/hex';

export const STATUS_NAMES: Record<number, string> = {
  0x00: 'GOOD',
  0x02: 'CHECK CONDITION',
  0x04: 'CONDITION MET',
  0x08: 'BUSY',
  0x18: 'RESERVATION CONFLICT',
  0x28: 'TASK SET FULL',
  0x30: 'ACA ACTIVE',
  0x40: 'TASK ABORTED',
};

export const statusName = (status: number): string => STATUS_NAMES[status] ?? `status ${hex0x(status)}`;

/** One line: "ILLEGAL REQUEST: INVALID COMMAND OPERATION CODE (asc 0x20, ascq 0x00)". */
export function senseLine(sense: DecodedSense): string {
  const extra: string[] = [];
  if (sense.information !== undefined) extra.push(`info 0x${sense.information.toString(16)}`);
  if (sense.senseKeySpecific?.fieldPointer) {
    const fp = sense.senseKeySpecific.fieldPointer;
    extra.push(
      `${fp.commandData ? 'CDB' : 'data'} byte ${fp.field}` +
        (fp.bitPointer !== undefined ? ` bit ${fp.bitPointer}` : ''),
    );
  }
  if (sense.senseKeySpecific?.progress !== undefined)
    extra.push(`progress ${((sense.senseKeySpecific.progress / 65536) * 100).toFixed(1)}%`);
  const tail = extra.length ? `; ${extra.join(', ')}` : '';
  return (
    `${sense.senseKeyName}: ${sense.ascText} (asc ${hex0x(sense.asc)}, ascq ` +
    `${hex0x(sense.ascq)}${tail})${sense.deferred ? ' [deferred]' : ''}`
  );
}

/** The documented JSON shape of decoded sense. */
export function senseJson(sense: DecodedSense | undefined): Record<string, unknown> | null {
  if (!sense) return null;
  return {
    format: sense.format,
    responseCode: sense.responseCode,
    deferred: sense.deferred,
    senseKey: sense.senseKey,
    senseKeyName: sense.senseKeyName,
    asc: sense.asc,
    ascq: sense.ascq,
    ascText: sense.ascText,
    information: sense.information === undefined ? null : sense.information.toString(),
    senseKeySpecific: sense.senseKeySpecific ?? null,
    ...(sense.ataStatusReturn
      ? { ataStatusReturn: { ...sense.ataStatusReturn, lba: sense.ataStatusReturn.lba.toString() } }
      : {}),
    raw: Buffer.from(sense.raw).toString('hex'),
  };
}
