import { ScsiDevice } from '../device.js';
import type { DaemonDevice, DaemonDeviceIdentity } from '../wire/types.js';
import { badInput } from '../errors.js';
import type { ScsiRequest, ScsiResult, ScsiTransport } from '../transport.js';
import { DaemonClient, type LeaseCredential, type LeaseRequestOptions } from './daemon-client.js';
import type { DaemonEndpoint } from './endpoint.js';

export interface RemoteTransportOptions {
  /** A client of its own is made from an endpoint; a shared one is left open on close(). */
  client: DaemonClient | DaemonEndpoint | string;
  /** The daemon's device id (from `DaemonClient.resolveDevice`). */
  deviceId: string;
  /** The lease this client holds on the device (its secret is presented with every command). */
  lease?: LeaseCredential;
  /** Release this lease on close(). */
  releaseLeaseOnClose?: boolean;
}

/**
 * A {@link ScsiTransport} whose commands run in usbscsid: `new ScsiDevice(new
 * RemoteTransport(...))` gives every device helper through the daemon's queue.
 *
 * Medium-write consent: ScsiDevice checks it before a command reaches any
 * transport, so a command that gets here was consented to and is sent with
 * `allowMediumWrite`; the daemon's own device still refuses writes to a
 * mounted medium.
 */
export class RemoteTransport implements ScsiTransport {
  readonly kind = 'remote' as const;
  /** The daemon serves LUN 0 of each device. */
  readonly maxLun = 0;
  readonly client: DaemonClient;
  private readonly ownsClient: boolean;

  constructor(private readonly options: RemoteTransportOptions) {
    this.ownsClient = !(options.client instanceof DaemonClient);
    this.client = options.client instanceof DaemonClient ? options.client : new DaemonClient(options.client);
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  async execute(request: ScsiRequest): Promise<ScsiResult> {
    if ((request.lun ?? 0) !== 0) throw badInput(`usbscsid serves LUN 0 only; LUN ${request.lun} was asked for`);
    const result = await this.client.execute(this.options.deviceId, request.cdb, {
      direction: request.direction,
      ...(request.direction === 'in' && request.data ? { into: request.data } : {}),
      ...(request.direction === 'out' && request.data ? { data: request.data } : {}),
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      ...(this.options.lease ? { leaseSecret: this.options.lease.secret } : {}),
      allowMediumWrite: true,
    });
    const { seq: _seq, ...scsiResult } = result;
    return scsiResult;
  }

  reset(): Promise<void> {
    return this.client.reset(
      this.options.deviceId,
      this.options.lease ? { leaseSecret: this.options.lease.secret } : {},
    );
  }

  async close(): Promise<void> {
    try {
      if (this.options.lease && this.options.releaseLeaseOnClose) await this.client.releaseLease(this.options.lease);
    } finally {
      if (this.ownsClient) this.client.close();
    }
  }
}

export interface OpenRemoteDeviceOptions {
  /** `unix:PATH`, `http://127.0.0.1:PORT`, or an endpoint. */
  via: DaemonEndpoint | string;
  /** Device id, VID:PID[:SERIAL]; optional when the daemon serves one device. */
  selector?: string;
  /** Take the device's lease for the life of the ScsiDevice (released on close). */
  lease?: LeaseRequestOptions;
  token?: string;
  /** Timeout of each command sent without one of its own (see ScsiDeviceOptions). */
  commandTimeoutMs?: number;
}

/** The identity fields of the daemon's device listing, copied so that a hostile daemon's extra fields go nowhere. */
function daemonDeviceIdentity(device: DaemonDevice): DaemonDeviceIdentity {
  return {
    id: String(device.id),
    vendorId: device.vendorId,
    productId: device.productId,
    ...(typeof device.manufacturer === 'string' ? { manufacturer: device.manufacturer } : {}),
    ...(typeof device.product === 'string' ? { product: device.product } : {}),
    ...(typeof device.serialNumber === 'string' ? { serialNumber: device.serialNumber } : {}),
    location: String(device.location),
  };
}

/** A {@link ScsiDevice} whose every command goes through usbscsid. */
export async function openRemoteDevice(options: OpenRemoteDeviceOptions): Promise<ScsiDevice> {
  const client =
    typeof options.via === 'string'
      ? new DaemonClient(options.via, options.token ? { token: options.token } : {})
      : new DaemonClient(options.via);
  try {
    const device = await client.resolveDevice(options.selector);
    const lease = options.lease ? await client.acquireLease(device.id, options.lease) : undefined;
    const transport = new RemoteTransport({
      client,
      deviceId: device.id,
      ...(lease ? { lease: { id: lease.id, secret: lease.secret }, releaseLeaseOnClose: true } : {}),
    });
    return new ScsiDevice(transport, {
      description: {
        backend: `usbscsid ${device.backend}`,
        transport: 'remote',
        daemonDevice: daemonDeviceIdentity(device),
      },
      ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
      onClose: async () => client.close(),
    });
  } catch (err) {
    client.close();
    throw err;
  }
}
