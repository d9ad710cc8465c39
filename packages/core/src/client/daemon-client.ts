import { ErrorCodes, UsbScsiError, badInput } from '../errors.js';
import type { DataDirection } from '../transport.js';
import { parseVia, type DaemonEndpoint } from './endpoint.js';
import { DaemonHttp, errorFromResponse, readAll, type HttpResponse } from './http.js';
import { readRangeInto } from './direct-read.js';
import {
  BlockHeaders,
  FILE_PASSING_QUERY,
  FILE_PASSING_UNAVAILABLE,
  LENGTH_MISMATCH,
  errorFromTrailer,
  type BlockFileResultJson,
  type BlockWriteResultJson,
} from '../wire/blocks.js';
import { fdSender, passFile } from './file-passing.js';
import { hexBytes } from '../hex.js';
import { resultFromHeaders, resultFromJson, type SequencedResult } from '../wire/json.js';
import type {
  DaemonDevice,
  DaemonEvent,
  DaemonHealth,
  DaemonLease,
  DaemonLeaseGrant,
  ExecuteRequestJson,
  ExecuteResultJson,
  LeaseRequestJson,
} from '../wire/types.js';
import { usbIdsOf } from '../hex.js';

/** What renewing and releasing need. */
export type LeaseCredential = Pick<DaemonLeaseGrant, 'id' | 'secret'>;

export interface RemoteExecuteOptions {
  direction?: DataDirection;
  /** Data-in bytes to read. */
  length?: number;
  /** Data-out bytes (sent as a binary body). */
  data?: Uint8Array;
  /** Data-in: fill this buffer instead of allocating one (its length is the transfer length). */
  into?: Uint8Array;
  timeoutMs?: number;
  allowMediumWrite?: boolean;
  /** The lease's secret (from {@link DaemonClient.acquireLease}), when this client holds the device's lease. */
  leaseSecret?: string;
  signal?: AbortSignal;
}

/** A ScsiResult plus the command's position in the device's execution order. */
export type RemoteResult = SequencedResult;

export type LeaseRequestOptions = LeaseRequestJson;

export interface BlockRangeRequest {
  /** First logical block. */
  lba: bigint;
  blocks: number;
  /** blocks x the device's block size, as this client knows it: the daemon's answer must agree. */
  bytes: number;
  timeoutMs?: number;
  leaseSecret?: string;
  signal?: AbortSignal;
}

const enc = encodeURIComponent;

/** Typed client of usbscsid's HTTP API (apps/daemon/openapi.yaml). */
export class DaemonClient {
  private readonly http: DaemonHttp;

  constructor(endpoint: DaemonEndpoint | string, options: { maxSockets?: number; token?: string } = {}) {
    const ep =
      typeof endpoint === 'string' ? parseVia(endpoint, options.token ? { token: options.token } : {}) : endpoint;
    this.http = new DaemonHttp(ep, options.maxSockets ? { maxSockets: options.maxSockets } : {});
  }

  get endpoint(): DaemonEndpoint {
    return this.http.endpoint;
  }

  async health(): Promise<DaemonHealth> {
    return json(await this.http.call({ method: 'GET', path: '/healthz' }));
  }

  async listDevices(): Promise<DaemonDevice[]> {
    return json<{ devices: DaemonDevice[] }>(await this.http.call({ method: 'GET', path: '/v1/devices' })).devices;
  }

  async getDevice(id: string): Promise<DaemonDevice> {
    return json<{ device: DaemonDevice }>(await this.http.call({ method: 'GET', path: `/v1/devices/${enc(id)}` }))
      .device;
  }

  /**
   * The daemon's device for a selector: its id (bus-port path), VID:PID[:SERIAL]
   * in hex, or nothing when the daemon serves exactly one. Exact: two matches
   * are refused with the candidates listed.
   */
  async resolveDevice(selector?: string): Promise<DaemonDevice> {
    const devices = await this.listDevices();
    let matches = devices;
    if (selector) {
      const ids = /^(?:0x)?([0-9a-f]{1,4}):(?:0x)?([0-9a-f]{1,4})(?::(.+))?$/i.exec(selector);
      matches = devices.filter(
        (d) =>
          d.id === selector ||
          d.location === selector ||
          (ids !== null &&
            d.vendorId === parseInt(ids[1]!, 16) &&
            d.productId === parseInt(ids[2]!, 16) &&
            (ids[3] === undefined || d.serialNumber === ids[3])),
      );
    }
    const list = devices.map((d) => `${d.id} (${usbIdsOf(d)}${d.product ? ` ${d.product}` : ''})`);
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) {
      throw new UsbScsiError(
        ErrorCodes.NOT_FOUND,
        selector
          ? `usbscsid serves no device matching ${selector}; it serves: ${list.join(', ') || 'none'}`
          : 'usbscsid serves no device',
        {
          details: { candidates: list },
        },
      );
    }
    throw new UsbScsiError(
      ErrorCodes.AMBIGUOUS,
      `${selector ?? 'no selector'} matches ${matches.length} devices served ` +
        `by usbscsid; name one by id: ${list.join(', ')}`,
      {
        details: { candidates: matches.map((d) => d.id) },
      },
    );
  }

  /**
   * One SCSI command through the daemon's queue. Data-out goes as a binary
   * body, data-in comes back as binary; CHECK CONDITION is a result.
   */
  async execute(deviceId: string, cdb: Uint8Array, options: RemoteExecuteOptions = {}): Promise<RemoteResult> {
    const length = options.into?.length ?? options.length;
    const direction: DataDirection = options.direction ?? (options.data ? 'out' : length ? 'in' : 'none');
    const path = `/v1/devices/${enc(deviceId)}/execute`;
    const common: Record<string, string> = options.leaseSecret ? { 'x-usbscsi-lease': options.leaseSecret } : {};
    const signal = options.signal ? { signal: options.signal } : {};
    if (direction === 'out') {
      if (!options.data) throw badInput("direction 'out' needs data");
      const res = await this.http.call({
        method: 'POST',
        path,
        body: options.data,
        ...signal,
        headers: {
          ...common,
          'content-type': 'application/octet-stream',
          'x-scsi-cdb': hexBytes(cdb),
          ...(options.timeoutMs !== undefined ? { 'x-scsi-timeout-ms': String(options.timeoutMs) } : {}),
          ...(options.allowMediumWrite ? { 'x-scsi-allow-medium-write': 'true' } : {}),
        },
      });
      return resultFromJson(json<ExecuteResultJson>(res));
    }
    const request: ExecuteRequestJson = {
      cdb: hexBytes(cdb),
      direction,
      ...(direction === 'in' ? { length } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.allowMediumWrite ? { allowMediumWrite: true } : {}),
    };
    const body = JSON.stringify(request);
    const res = await this.http.call({
      method: 'POST',
      path,
      body: Buffer.from(body),
      ...signal,
      headers: {
        ...common,
        'content-type': 'application/json',
        ...(direction === 'in' ? { accept: 'application/octet-stream' } : {}),
      },
    });
    if (direction !== 'in') return resultFromJson(json<ExecuteResultJson>(res));
    const target = options.into ?? new Uint8Array(length ?? 0);
    const received = Math.min(res.body.length, target.length);
    target.set(res.body.subarray(0, received));
    return resultFromHeaders(res.headers, target.subarray(0, received));
  }

  /**
   * Reads a block range in one streamed request: `sink` gets the bytes in order as they arrive
   * (each chunk is valid during the call only). Resolves once every byte arrived and the daemon's
   * trailer says the range completed; anything else is an error, never a short read.
   */
  async readBlocks(deviceId: string, range: BlockRangeRequest, sink: (chunk: Uint8Array) => void): Promise<void> {
    const res = await this.http.stream({
      method: 'POST',
      path: `/v1/devices/${enc(deviceId)}/read?lba=${range.lba}&blocks=${range.blocks}`,
      headers: blockHeaders(range),
      ...(range.signal ? { signal: range.signal } : {}),
    });
    if ((res.statusCode ?? 0) >= 400) throw errorFromResponse(await readAll(res));
    const announced = Number(res.headers[BlockHeaders.length]);
    if (announced !== range.bytes) {
      res.destroy();
      throw new UsbScsiError(
        ErrorCodes.IO,
        `usbscsid announced ${String(res.headers[BlockHeaders.length])} bytes for ${range.blocks} blocks; ` +
          `${range.bytes} were expected (did the medium change its block size?)`,
        { details: { reason: LENGTH_MISMATCH, expected: range.bytes } },
      );
    }
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        if (received + chunk.length > range.bytes) {
          res.destroy();
          reject(new UsbScsiError(ErrorCodes.IO, `usbscsid sent more than the ${range.bytes} bytes it announced`));
          return;
        }
        received += chunk.length;
        try {
          sink(chunk);
        } catch (err) {
          res.destroy();
          reject(err);
        }
      });
      res.on('end', () => {
        const error = res.trailers[BlockHeaders.error];
        if (error) reject(errorFromTrailer(error));
        else if (received !== range.bytes || Number(res.trailers[BlockHeaders.transferred]) !== range.bytes)
          reject(
            new UsbScsiError(
              ErrorCodes.IO,
              `usbscsid's read ended after ${received} of ${range.bytes} bytes without saying why`,
              { details: { received, expected: range.bytes } },
            ),
          );
        else resolve();
      });
      res.on('error', (err) =>
        reject(
          err instanceof UsbScsiError
            ? err
            : new UsbScsiError(ErrorCodes.IO, `the read from usbscsid broke off: ${err.message}`, { cause: err }),
        ),
      );
      res.on('aborted', () =>
        reject(new UsbScsiError(ErrorCodes.IO, 'usbscsid closed the connection during the read')),
      );
    });
  }

  /**
   * Reads a block range in one streamed request straight into `into` (whose length is
   * `range.bytes`): the socket reads the data into it, with no JavaScript per read. Resolves once
   * every byte arrived and the daemon's trailer says the range completed; anything else is an
   * error, never a short read.
   */
  readBlocksInto(
    deviceId: string,
    range: BlockRangeRequest,
    into: Uint8Array,
    onBytes?: (received: number) => void,
  ): Promise<void> {
    if (into.length !== range.bytes)
      throw badInput(`the buffer has ${into.length} bytes; the range is ${range.bytes} bytes`);
    return readRangeInto(this.http.endpoint, {
      path: `/v1/devices/${enc(deviceId)}/read?lba=${range.lba}&blocks=${range.blocks}`,
      headers: blockHeaders(range),
      into,
      ...(range.signal ? { signal: range.signal } : {}),
      ...(onBytes ? { onBytes } : {}),
    });
  }

  /**
   * Writes a block range in one streamed request; `source` yields exactly `range.bytes` bytes (a
   * chunk may be reused once the next is asked for). Needs the caller's consent, sent as
   * X-Scsi-Allow-Medium-Write. Resolves with the bytes the daemon wrote.
   */
  async writeBlocks(deviceId: string, range: BlockRangeRequest, source: AsyncIterable<Uint8Array>): Promise<number> {
    const res = await this.http.stream(
      {
        method: 'POST',
        path: `/v1/devices/${enc(deviceId)}/write?lba=${range.lba}&blocks=${range.blocks}`,
        headers: {
          ...blockHeaders(range),
          'content-type': 'application/octet-stream',
          'content-length': String(range.bytes),
          'x-scsi-allow-medium-write': 'true',
        },
        ...(range.signal ? { signal: range.signal } : {}),
      },
      source,
    );
    const answer = await readAll(res);
    if (answer.status >= 400) throw errorFromResponse(answer);
    const written = json<BlockWriteResultJson>(answer).written;
    if (written !== range.bytes)
      throw new UsbScsiError(ErrorCodes.IO, `usbscsid wrote ${written} of ${range.bytes} bytes and called it done`);
    return written;
  }

  /** Whether transferFile can hand a file over from here (a Unix socket, and the addon's sendFd). */
  canPassFiles(): boolean {
    return this.http.endpoint.kind === 'unix' && fdSender() !== undefined;
  }

  /**
   * Moves a block range between the device and the regular file `fd` (from byte `position` of the
   * file) by handing the file to the daemon (file-passing.ts): read fills the file, write sends
   * it. Resolves with the bytes moved, or null, having moved nothing, where that cannot be done
   * (a TCP endpoint, no native addon here or in the daemon, not Linux): then stream the range.
   * A write needs the caller's consent, as writeBlocks does.
   */
  async transferFile(
    deviceId: string,
    kind: 'read' | 'write',
    range: BlockRangeRequest,
    fd: number,
    position: number,
  ): Promise<number | null> {
    const endpoint = this.http.endpoint;
    const sendFd = endpoint.kind === 'unix' ? fdSender() : undefined;
    if (endpoint.kind !== 'unix' || sendFd === undefined) return null;
    const res = await passFile(
      endpoint,
      {
        path:
          `/v1/devices/${enc(deviceId)}/${kind}?lba=${range.lba}&blocks=${range.blocks}` +
          `&${FILE_PASSING_QUERY}&position=${position}&bytes=${range.bytes}`,
        headers: {
          ...blockHeaders(range),
          ...(kind === 'write' ? { 'x-scsi-allow-medium-write': 'true' } : {}),
        },
        ...(range.signal ? { signal: range.signal } : {}),
      },
      fd,
      sendFd,
    );
    if (res.status >= 400) {
      const err = errorFromResponse(res);
      if (err.code === ErrorCodes.UNSUPPORTED && err.details.reason === FILE_PASSING_UNAVAILABLE) return null;
      throw err;
    }
    if (!String(res.headers['content-type'] ?? '').startsWith('application/json'))
      throw new UsbScsiError(
        ErrorCodes.IO,
        `usbscsid answered a ${kind} with a file handed to it with ${String(res.headers['content-type'])}, ` +
          `not a result: is it older than this client? Update it, or read into memory instead.`,
      );
    const bytes = json<BlockFileResultJson>(res).bytes;
    if (bytes !== range.bytes)
      throw new UsbScsiError(ErrorCodes.IO, `usbscsid moved ${bytes} of ${range.bytes} bytes and called it done`);
    return bytes;
  }

  async reset(deviceId: string, options: { leaseSecret?: string } = {}): Promise<void> {
    await this.http.call({
      method: 'POST',
      path: `/v1/devices/${enc(deviceId)}/reset`,
      headers: options.leaseSecret ? { 'x-usbscsi-lease': options.leaseSecret } : {},
    });
  }

  /** Takes the device exclusively. The answer carries the lease's secret: the only copy there is. */
  async acquireLease(deviceId: string, options: LeaseRequestOptions = {}): Promise<DaemonLeaseGrant> {
    const res = await this.http.call({
      method: 'POST',
      path: `/v1/devices/${enc(deviceId)}/lease`,
      body: Buffer.from(JSON.stringify(options)),
      headers: { 'content-type': 'application/json' },
    });
    return json<{ lease: DaemonLeaseGrant }>(res).lease;
  }

  /** Pushes the lease's expiry to now + ttlMs (default: its first TTL). */
  async renewLease(
    lease: LeaseCredential,
    options: Pick<LeaseRequestOptions, 'ttlMs' | 'idleTimeoutMs'> = {},
  ): Promise<DaemonLease> {
    const res = await this.http.call({
      method: 'POST',
      path: `/v1/leases/${enc(lease.id)}/renew`,
      body: Buffer.from(JSON.stringify(options)),
      headers: { 'content-type': 'application/json', 'x-usbscsi-lease': lease.secret },
    });
    return json<{ lease: DaemonLease }>(res).lease;
  }

  async releaseLease(lease: LeaseCredential): Promise<DaemonLease> {
    return json<{ lease: DaemonLease }>(
      await this.http.call({
        method: 'DELETE',
        path: `/v1/leases/${enc(lease.id)}`,
        headers: { 'x-usbscsi-lease': lease.secret },
      }),
    ).lease;
  }

  /**
   * Ends a lease without its secret (its holder died or lost it). Only on the
   * Unix socket, as the user that took the lease or as root (E_PERMISSION otherwise).
   */
  async breakLease(leaseId: string): Promise<DaemonLease> {
    return json<{ lease: DaemonLease }>(
      await this.http.call({ method: 'POST', path: `/v1/leases/${enc(leaseId)}/break` }),
    ).lease;
  }

  async listLeases(): Promise<DaemonLease[]> {
    return json<{ leases: DaemonLease[] }>(await this.http.call({ method: 'GET', path: '/v1/leases' })).leases;
  }

  async metrics(): Promise<string> {
    return (await this.http.call({ method: 'GET', path: '/metrics' })).body.toString('utf8');
  }

  /**
   * Subscribes to GET /v1/events. Resolves once the stream is open (so what
   * happens afterwards is seen); `listener` gets each event; the returned
   * function closes the stream.
   */
  async events(listener: (event: DaemonEvent) => void): Promise<() => void> {
    const res = await this.http.openStream('/v1/events');
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) listener(JSON.parse(data) as DaemonEvent);
      }
    });
    res.on('error', () => undefined);
    return () => res.destroy();
  }

  /** Closes idle connections. */
  close(): void {
    this.http.close();
  }
}

function blockHeaders(range: BlockRangeRequest): Record<string, string> {
  return {
    ...(range.leaseSecret ? { 'x-usbscsi-lease': range.leaseSecret } : {}),
    ...(range.timeoutMs !== undefined ? { 'x-scsi-timeout-ms': String(range.timeoutMs) } : {}),
  };
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body's shape
function json<T>(res: HttpResponse): T {
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch {
    throw new UsbScsiError(
      ErrorCodes.IO,
      `usbscsid sent a body that is not JSON (HTTP ${res.status}); is that a usbscsid?`,
    );
  }
}
