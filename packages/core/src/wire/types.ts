import type { ErrorCode } from '../errors.js';
import type { DataDirection } from '../transport.js';

/**
 * The shapes usbscsid sends and its client reads, one definition for both
 * sides; apps/daemon/openapi.yaml describes the same shapes for everyone else
 * (a daemon test validates what the daemon sends against it).
 */

/** Who a daemon-served device is: the daemon's id and what its device listing says. */
export interface DaemonDeviceIdentity {
  /** The bus-port path on the daemon's machine (`1-2.3`): stable while plugged in, URL-safe. */
  id: string;
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  /** Bus-port path on the daemon's machine, e.g. `1-2.3`. */
  location: string;
}

/** What the daemon knows of a device before it has any state: its identity and the backend serving it. */
export interface DaemonDeviceSummary extends DaemonDeviceIdentity {
  backend: string;
}

export type DaemonDeviceState = 'idle' | 'busy' | 'leased' | 'gone';

/** A device as `GET /v1/devices` lists it and events carry it (schema `Device`). */
export interface DaemonDevice extends DaemonDeviceSummary {
  state: DaemonDeviceState;
  /** Commands queued or running. */
  queueDepth: number;
  /** The daemon holds the device open (taken from the OS). */
  open: boolean;
  /** The lease's public id and holder: naming it grants nothing. */
  lease: { id: string; holder: string } | null;
}

/** A lease as anyone sees it (schema `Lease`): the id names it and grants nothing. */
export interface DaemonLease {
  id: string;
  deviceId: string;
  holder: string;
  /** The Unix-socket user that took it (that user or root may break it); null over TCP or where unknown. */
  ownerUid: number | null;
  /** ISO 8601. */
  createdAt: string;
  expiresAt: string;
  idleTimeoutMs: number;
}

/**
 * What only the client that acquired the lease gets (schema `LeaseGrant`): the
 * lease plus its secret, which runs commands on the device, renews and
 * releases it. The daemon keeps only its digest.
 */
export interface DaemonLeaseGrant extends DaemonLease {
  secret: string;
}

export type LeaseEndReason = 'released' | 'broken' | 'expired' | 'idle' | 'device-gone' | 'shutdown' | 'open-failed';

/** What GET /v1/events streams (schema `Event`); `type` is also the SSE event name. */
export type DaemonEvent =
  | { type: 'device-arrived' | 'device-left'; device: DaemonDevice }
  | { type: 'lease-acquired'; lease: DaemonLease }
  | { type: 'lease-released'; lease: DaemonLease; reason: LeaseEndReason };

/** GET /healthz. */
export interface DaemonHealth {
  status: 'ok' | 'draining';
  version: string;
  devices: number;
  leases: number;
}

/** Every failure the daemon answers (schema `Error`). */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Decoded sense as JSON (schema `Sense`): 64-bit fields as decimal strings, byte fields as hex. */
export interface SenseJson {
  format: 'fixed' | 'descriptor';
  responseCode: number;
  deferred: boolean;
  senseKey: number;
  senseKeyName: string;
  asc: number;
  ascq: number;
  ascText: string;
  information?: string;
  commandSpecific?: string;
  fieldReplaceableUnit?: number;
  senseKeySpecific?: Record<string, unknown>;
  filemark: boolean;
  endOfMedium: boolean;
  incorrectLength: boolean;
  descriptors?: { type: number; bytes: string }[];
  ataStatusReturn?: { error: number; count: number; lba: string; device: number; status: number; extend: boolean };
  raw: string;
}

/** The JSON body of POST /v1/devices/{id}/execute (schema `ExecuteRequest`). */
export interface ExecuteRequestJson {
  /** Hex bytes, e.g. `12 00 00 00 24 00`. */
  cdb: string;
  direction?: DataDirection;
  /** Data-in bytes. */
  length?: number;
  /** Data-out bytes, base64 (small; larger data-out is a binary body). */
  data?: string;
  timeoutMs?: number;
  allowMediumWrite?: boolean;
  /** The lease secret (the header X-Usbscsi-Lease is the other way). */
  lease?: string;
}

/** The body of POST /v1/devices/{id}/lease; renewing takes its ttlMs and idleTimeoutMs. */
export interface LeaseRequestJson {
  /** Hard limit on the lease's life. */
  ttlMs?: number;
  /** The lease ends (and the device goes back to the OS) after this long without a command. */
  idleTimeoutMs?: number;
  /** Free text naming the client, shown to others. */
  holder?: string;
}

/** The body of a 200 from /execute in JSON (schema `ExecuteResult`). */
export interface ExecuteResultJson {
  status: number;
  sense?: SenseJson;
  /** Data-in bytes, base64. */
  data: string;
  transferred: number;
  residue: number;
  durationNs: number;
  /** Position of the command in the device's execution order. */
  seq: number;
}
