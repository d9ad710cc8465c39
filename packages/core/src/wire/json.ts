import { ErrorCodes, UsbScsiError } from '../errors.js';
import type { DecodedSense } from '../scsi/sense-types.js';
import type { ScsiResult } from '../transport.js';
import { hexBytes } from '../hex.js';
import type { ErrorBody, ExecuteResultJson, SenseJson } from './types.js';

/** bigint → decimal string, bytes → hex string, an Error → its name and message; everything else unchanged. */
export function toJsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return hexBytes(value);
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value && typeof value === 'object') {
    if (value instanceof Error) return { name: value.name, message: value.message };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonSafe(v);
    return out;
  }
  return value;
}

export function senseToJson(sense: DecodedSense): SenseJson {
  return toJsonSafe(sense) as SenseJson;
}

/** The inverse of {@link senseToJson}. */
export function senseFromJson(json: SenseJson | Record<string, unknown>): DecodedSense {
  const big = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? BigInt(v) : undefined);
  const bytes = (v: unknown) => new Uint8Array(typeof v === 'string' ? Buffer.from(v, 'hex') : []);
  const j = json as Record<string, unknown>;
  const sense = { ...j };
  if (j.information !== undefined) sense.information = big(j.information);
  if (j.commandSpecific !== undefined) sense.commandSpecific = big(j.commandSpecific);
  sense.raw = bytes(j.raw);
  if (Array.isArray(j.descriptors)) {
    sense.descriptors = (j.descriptors as { type: number; bytes: string }[]).map((d) => ({
      type: d.type,
      bytes: bytes(d.bytes),
    }));
  }
  const ata = j.ataStatusReturn as Record<string, unknown> | undefined;
  if (ata) sense.ataStatusReturn = { ...ata, lba: big(ata.lba) ?? 0n };
  return sense as unknown as DecodedSense;
}

export function errorBody(err: UsbScsiError): ErrorBody {
  const details = Object.keys(err.details).length
    ? { details: toJsonSafe(err.details) as Record<string, unknown> }
    : {};
  return { error: { code: err.code, message: err.message, ...details } };
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

/**
 * The error a daemon answer describes. The body is untrusted: an unknown code
 * becomes E_IO, a body that is not the envelope keeps its first 200 characters.
 */
export function errorFromBody(body: Buffer, httpStatus: number): UsbScsiError {
  let parsed: Partial<ErrorBody> | undefined;
  try {
    parsed = JSON.parse(body.toString('utf8')) as Partial<ErrorBody>;
  } catch {
    parsed = undefined;
  }
  const e = parsed?.error;
  const code = typeof e?.code === 'string' && KNOWN_CODES.has(e.code) ? e.code : ErrorCodes.IO;
  const message =
    typeof e?.message === 'string'
      ? e.message
      : `usbscsid answered HTTP ${httpStatus}: ${body.toString('utf8').slice(0, 200)}`;
  const details = e?.details && typeof e.details === 'object' ? e.details : {};
  return new UsbScsiError(code, message, { details: { ...details, httpStatus } });
}

export function resultToJson(result: ScsiResult, seq: number): ExecuteResultJson {
  return {
    status: result.status,
    ...(result.sense ? { sense: senseToJson(result.sense) } : {}),
    data: Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength).toString('base64'),
    transferred: result.transferred,
    residue: result.residue,
    durationNs: result.durationNs,
    seq,
  };
}

/** A ScsiResult plus the command's position in the device's execution order. */
export interface SequencedResult extends ScsiResult {
  seq: number;
}

/** The inverse of {@link resultToJson}; `data` stands in when the answer carries none (data-out). */
export function resultFromJson(r: ExecuteResultJson, data: Uint8Array = new Uint8Array(0)): SequencedResult {
  return {
    status: r.status,
    ...(r.sense ? { sense: senseFromJson(r.sense) } : {}),
    data: r.data ? new Uint8Array(Buffer.from(r.data, 'base64')) : data,
    transferred: r.transferred,
    residue: r.residue,
    durationNs: r.durationNs,
    seq: r.seq,
  };
}

/** Result facts carried in `X-Scsi-*` headers when the body is the raw data-in bytes. */
export function resultHeaders(result: ScsiResult, seq: number): Record<string, string> {
  const headers: Record<string, string> = {
    'x-scsi-status': String(result.status),
    'x-scsi-transferred': String(result.transferred),
    'x-scsi-residue': String(result.residue),
    'x-scsi-duration-ns': String(result.durationNs),
    'x-usbscsi-seq': String(seq),
  };
  if (result.sense) headers['x-scsi-sense'] = Buffer.from(JSON.stringify(senseToJson(result.sense))).toString('base64');
  return headers;
}

/** The inverse of {@link resultHeaders}, with `data` the bytes received. */
export function resultFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  data: Uint8Array,
): SequencedResult {
  const sense = headers['x-scsi-sense'];
  return {
    status: Number(headers['x-scsi-status']),
    ...(typeof sense === 'string'
      ? { sense: senseFromJson(JSON.parse(Buffer.from(sense, 'base64').toString('utf8')) as SenseJson) }
      : {}),
    data,
    transferred: Number(headers['x-scsi-transferred'] ?? data.length),
    residue: Number(headers['x-scsi-residue'] ?? 0),
    durationNs: Number(headers['x-scsi-duration-ns'] ?? 0),
    seq: Number(headers['x-usbscsi-seq'] ?? 0),
  };
}
