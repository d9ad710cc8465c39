/**
 * `TracingBackend`: a {@link UsbBackend} decorator that records every control
 * and bulk transfer of the handles it opens as usbmon records (submit `S` and
 * complete `C` with the same URB id). It changes nothing about the transfers
 * themselves, with one exception: `capabilities.fdStreaming` is reported
 * false, so data phases go through memory and land in the trace.
 *
 * `botExchange` runs the wrapped handle's own exchange (native's engine or core's
 * generic one: speed is what is being traced) and writes the phases it reports as
 * bulk URBs: CBW out, data, CSW in, each only when the exchange got to it. The
 * price: the phase timestamps are the call's start and end rather than each phase's
 * own, and a data phase the native engine split across several URBs appears as one.
 * Transfers core makes itself after the exchange (a CSW read after a short or
 * stalled data phase) go through `bulkIn` and are traced there.
 */
import type {
  BotExchangeRequest,
  BotExchangeResult,
  ControlResult,
  ControlSetup,
  HotplugEvent,
  TransferResult,
  UsbBackend,
  UsbDeviceHandle,
  UsbDeviceInfo,
  UsbHandleCapabilities,
} from '../usb/backend.js';
import {
  URB_STATUS_OF,
  setupBytes,
  urbStatusOfError,
  type DeviceAddressing,
  type UsbTraceRecorder,
} from './recorder.js';
import { UrbStatus, UsbmonXfer } from './usbmon.js';

const CBW_LENGTH = 31;
const CSW_LENGTH = 13;

class TracingHandle implements UsbDeviceHandle {
  readonly info: UsbDeviceInfo;
  readonly capabilities: UsbHandleCapabilities;
  private readonly dev: DeviceAddressing;

  constructor(
    private readonly inner: UsbDeviceHandle,
    private readonly recorder: UsbTraceRecorder,
  ) {
    this.info = inner.info;
    this.capabilities = { ...inner.capabilities, fdStreaming: false };
    this.dev = { busNumber: inner.info.busNumber, deviceAddress: inner.info.deviceAddress };
  }

  claimInterface(n: number): Promise<void> {
    return this.inner.claimInterface(n);
  }
  releaseInterface(n: number): Promise<void> {
    return this.inner.releaseInterface(n);
  }
  setAlternateSetting(n: number, alt: number): Promise<void> {
    // SET_INTERFACE is a control request on the wire; record it like one.
    return this.tracedVoidControl({ requestType: 0x01, request: 0x0b, value: alt, index: n }, () =>
      this.inner.setAlternateSetting(n, alt),
    );
  }
  kernelDriverActive(n: number): Promise<boolean> {
    return this.inner.kernelDriverActive(n);
  }
  detachKernelDriver(n: number): Promise<void> {
    return this.inner.detachKernelDriver(n);
  }
  attachKernelDriver(n: number): Promise<void> {
    return this.inner.attachKernelDriver(n);
  }
  clearHalt(endpoint: number): Promise<void> {
    // CLEAR_FEATURE(ENDPOINT_HALT) to the endpoint.
    return this.tracedVoidControl({ requestType: 0x02, request: 0x01, value: 0, index: endpoint }, () =>
      this.inner.clearHalt(endpoint),
    );
  }
  resetDevice(): Promise<void> {
    return this.inner.resetDevice();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async controlTransfer(setup: ControlSetup, data: Uint8Array | number, timeoutMs: number): Promise<ControlResult> {
    const isIn = (setup.requestType & 0x80) !== 0;
    const length = typeof data === 'number' ? data : data.length;
    const endpoint = isIn ? 0x80 : 0x00;
    const id = this.recorder.submit(this.dev, {
      xferType: UsbmonXfer.CONTROL,
      endpoint,
      length,
      setup: setupBytes(setup, length),
      ...(typeof data !== 'number' ? { data } : {}),
    });
    try {
      const result = await this.inner.controlTransfer(setup, data, timeoutMs);
      this.recorder.complete(id, this.dev, UsbmonXfer.CONTROL, endpoint, {
        status: URB_STATUS_OF[result.status],
        actualLength: result.actualLength,
        ...(result.data ? { data: result.data } : {}),
      });
      return result;
    } catch (err) {
      this.recorder.complete(id, this.dev, UsbmonXfer.CONTROL, endpoint, {
        status: urbStatusOfError(err),
        actualLength: 0,
      });
      throw err;
    }
  }

  async bulkIn(endpoint: number, buffer: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    const id = this.recorder.submit(this.dev, { xferType: UsbmonXfer.BULK, endpoint, length: buffer.length });
    try {
      const result = await this.inner.bulkIn(endpoint, buffer, timeoutMs, signal);
      this.recorder.complete(id, this.dev, UsbmonXfer.BULK, endpoint, {
        status: URB_STATUS_OF[result.status],
        actualLength: result.actualLength,
        data: buffer,
      });
      return result;
    } catch (err) {
      this.recorder.complete(id, this.dev, UsbmonXfer.BULK, endpoint, {
        status: urbStatusOfError(err),
        actualLength: 0,
      });
      throw err;
    }
  }

  async bulkOut(endpoint: number, data: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<TransferResult> {
    const id = this.recorder.submit(this.dev, { xferType: UsbmonXfer.BULK, endpoint, length: data.length, data });
    try {
      const result = await this.inner.bulkOut(endpoint, data, timeoutMs, signal);
      this.recorder.complete(id, this.dev, UsbmonXfer.BULK, endpoint, {
        status: URB_STATUS_OF[result.status],
        actualLength: result.actualLength,
      });
      return result;
    } catch (err) {
      this.recorder.complete(id, this.dev, UsbmonXfer.BULK, endpoint, {
        status: urbStatusOfError(err),
        actualLength: 0,
      });
      throw err;
    }
  }

  private async tracedVoidControl(setup: ControlSetup, run: () => Promise<void>): Promise<void> {
    const id = this.recorder.submit(this.dev, {
      xferType: UsbmonXfer.CONTROL,
      endpoint: 0x00,
      length: 0,
      setup: setupBytes(setup, 0),
    });
    try {
      await run();
      this.recorder.complete(id, this.dev, UsbmonXfer.CONTROL, 0x00, { status: 0, actualLength: 0 });
    } catch (err) {
      this.recorder.complete(id, this.dev, UsbmonXfer.CONTROL, 0x00, {
        status: urbStatusOfError(err),
        actualLength: 0,
      });
      throw err;
    }
  }

  /** Runs the wrapped exchange untouched, then writes its phases as bulk URBs. */
  async botExchange(request: BotExchangeRequest): Promise<BotExchangeResult> {
    const cbwId = this.recorder.submit(this.dev, {
      xferType: UsbmonXfer.BULK,
      endpoint: request.outEndpoint,
      length: CBW_LENGTH,
      data: request.cbw,
    });
    let result: BotExchangeResult;
    try {
      result = await this.inner.botExchange(request);
    } catch (err) {
      this.recorder.complete(cbwId, this.dev, UsbmonXfer.BULK, request.outEndpoint, {
        status: urbStatusOfError(err),
        actualLength: 0,
      });
      throw err;
    }
    this.recorder.complete(cbwId, this.dev, UsbmonXfer.BULK, request.outEndpoint, {
      status: URB_STATUS_OF[result.cbw.status],
      actualLength: result.cbw.actualLength,
    });

    const phase = request.data;
    if (phase && result.data) {
      const endpoint = phase.direction === 'in' ? request.inEndpoint : request.outEndpoint;
      const buffer = 'buffer' in phase ? phase.buffer : undefined;
      const length = buffer ? buffer.length : (phase as { length: number }).length;
      const dataId = this.recorder.submit(this.dev, {
        xferType: UsbmonXfer.BULK,
        endpoint,
        length,
        ...(phase.direction === 'out' && buffer ? { data: buffer } : {}),
      });
      this.recorder.complete(dataId, this.dev, UsbmonXfer.BULK, endpoint, {
        status: URB_STATUS_OF[result.data.status],
        actualLength: result.data.actualLength,
        ...(phase.direction === 'in' && buffer ? { data: buffer } : {}),
      });
      const after = result.data.afterShort;
      if (after) {
        // The reads queued behind the short packet: on the wire, the start of the status phase.
        const afterId = this.recorder.submit(this.dev, { xferType: UsbmonXfer.BULK, endpoint, length: after.length });
        this.recorder.complete(afterId, this.dev, UsbmonXfer.BULK, endpoint, {
          status: UrbStatus.OK,
          actualLength: after.length,
          data: after.bytes,
        });
      }
    }
    if (result.csw) {
      const cswId = this.recorder.submit(this.dev, {
        xferType: UsbmonXfer.BULK,
        endpoint: request.inEndpoint,
        length: CSW_LENGTH,
      });
      this.recorder.complete(cswId, this.dev, UsbmonXfer.BULK, request.inEndpoint, {
        status: URB_STATUS_OF[result.csw.status],
        actualLength: result.csw.actualLength,
        data: result.csw.bytes,
      });
    }
    return result;
  }
}

/** Wraps one open handle; writes the synthetic descriptor exchange first. */
export function traceHandle(handle: UsbDeviceHandle, recorder: UsbTraceRecorder): UsbDeviceHandle {
  recorder.describeDevice(handle.info);
  return new TracingHandle(handle, recorder);
}

export class TracingBackend implements UsbBackend {
  readonly watch?: (listener: (event: HotplugEvent) => void) => () => void;
  readonly dispose?: () => Promise<void>;

  constructor(
    readonly inner: UsbBackend,
    readonly recorder: UsbTraceRecorder,
  ) {
    if (inner.watch) this.watch = (listener) => inner.watch!(listener);
    if (inner.dispose) this.dispose = () => inner.dispose!();
  }

  get name(): string {
    return this.inner.name;
  }

  list(): Promise<UsbDeviceInfo[]> {
    return this.inner.list();
  }

  async open(device: UsbDeviceInfo): Promise<UsbDeviceHandle> {
    return traceHandle(await this.inner.open(device), this.recorder);
  }
}
