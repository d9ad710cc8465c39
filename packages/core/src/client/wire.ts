import type { DecodedSense } from '../scsi/sense-types.js';

/**
 * The daemon sends decoded sense as JSON: 64-bit fields as decimal strings,
 * byte fields as hex. This turns it back into a {@link DecodedSense}.
 */
export function senseFromJson(json: Record<string, unknown>): DecodedSense {
  const big = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? BigInt(v) : undefined);
  const bytes = (v: unknown) => new Uint8Array(typeof v === 'string' ? Buffer.from(v, 'hex') : []);
  const sense = { ...json } as Record<string, unknown>;
  if (json.information !== undefined) sense.information = big(json.information);
  if (json.commandSpecific !== undefined) sense.commandSpecific = big(json.commandSpecific);
  sense.raw = bytes(json.raw);
  if (Array.isArray(json.descriptors)) {
    sense.descriptors = (json.descriptors as { type: number; bytes: string }[]).map((d) => ({ type: d.type, bytes: bytes(d.bytes) }));
  }
  const ata = json.ataStatusReturn as Record<string, unknown> | undefined;
  if (ata) sense.ataStatusReturn = { ...ata, lba: big(ata.lba) ?? 0n };
  return sense as unknown as DecodedSense;
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
