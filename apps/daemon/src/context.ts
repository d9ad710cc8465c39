import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ByteBudget } from './byte-budget.js';
import type { EventHub } from './events.js';
import type { LeaseManager } from './leases.js';
import type { DaemonMetrics } from './metrics.js';
import type { PeerIdentity } from './peer.js';
import type { DeviceRegistry } from './registry.js';

export interface DaemonLimits {
  /** Largest request body accepted (data-out), bytes. */
  bodyLimit: number;
  /** Largest data-in length a client may ask for, bytes. */
  maxTransferLength: number;
  /** Added to a command's timeout before the daemon stops waiting for the transport itself. */
  watchdogGraceMs: number;
  /** The whole request (headers and body) must arrive within this; else 408 and the connection is closed. */
  requestTimeoutMs: number;
  /** The request line and headers must arrive within this (also counts from connect for a silent client). */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (Node adds up to a second). */
  keepAliveTimeoutMs: number;
  /** Request bodies and data-in buffers held at once, all clients together; beyond it 503 E_BUSY + Retry-After. */
  maxBytesInFlight: number;
  /** Commands queued or running per device; beyond it 503 E_BUSY + Retry-After. */
  maxQueueDepth: number;
}

/** Shared by every listener (Unix socket, TCP). */
export interface DaemonContext {
  registry: DeviceRegistry;
  leases: LeaseManager;
  events: EventHub;
  metrics: DaemonMetrics;
  log: Logger;
  limits: DaemonLimits;
  /** Bytes held for requests at once (bodies, data-in buffers), bounded by limits.maxBytesInFlight. */
  bytesInFlight: ByteBudget;
  /** Set once SIGTERM started draining: new work is refused with E_CANCELLED. */
  draining: boolean;
  /** Responses not yet fully written (SSE streams included): shutdown waits for them before closing. */
  inflight: Set<import('node:http').ServerResponse>;
  /** Unix-socket connections and who opened them (SO_PEERCRED at accept); TCP connections are never here. */
  peers: WeakMap<Socket, PeerIdentity>;
  openapi: string;
  version: string;
}
