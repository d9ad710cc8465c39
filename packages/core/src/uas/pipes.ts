import { ErrorCodes, UsbScsiError } from '../errors.js';
import { hex0x } from '../hex.js';
import { MSC_PROTOCOL_UAS, TransferStatus, USB_CLASS_MASS_STORAGE, type UsbDeviceHandle } from '../usb/backend.js';

// Which endpoint is which pipe of a UAS interface. The backends' parsed descriptors do not carry
// the class-specific Pipe Usage descriptor (type 24h) nor the companion's MaxStreams, so the raw
// configuration descriptor is read on ep0 and walked here.

const DESCRIPTOR_INTERFACE = 0x04;
const DESCRIPTOR_ENDPOINT = 0x05;
const DESCRIPTOR_SS_COMPANION = 0x30;
const DESCRIPTOR_PIPE_USAGE = 0x24;
const CONTROL_TIMEOUT_MS = 5_000;

export const PipeId = { COMMAND: 1, STATUS: 2, DATA_IN: 3, DATA_OUT: 4 } as const;

export interface UasPipes {
  interfaceNumber: number;
  alternateSetting: number;
  commandOut: number;
  statusIn: number;
  dataIn: number;
  dataOut: number;
  maxPacketSize: number;
  /**
   * Bulk streams the status and data endpoints all support (SuperSpeed companion MaxStreams, the
   * smallest of the three); 0: none (USB 2, or a device without streams).
   */
  maxStreams: number;
}

interface RawEndpoint {
  address: number;
  maxPacketSize: number;
  pipeId?: number;
  maxStreams: number;
}

interface RawAlternate {
  interfaceNumber: number;
  alternateSetting: number;
  interfaceClass: number;
  interfaceProtocol: number;
  endpoints: RawEndpoint[];
}

function unsupported(message: string): UsbScsiError {
  return new UsbScsiError(ErrorCodes.UNSUPPORTED, message);
}

/** Walks a configuration descriptor; a truncated or zero-length descriptor ends the walk (untrusted bytes). */
function alternatesOf(config: Uint8Array): RawAlternate[] {
  const out: RawAlternate[] = [];
  let current: RawAlternate | undefined;
  let endpoint: RawEndpoint | undefined;
  for (let at = 0; at + 2 <= config.length;) {
    const length = config[at]!;
    const type = config[at + 1]!;
    if (length < 2 || at + length > config.length) break;
    const d = config.subarray(at, at + length);
    if (type === DESCRIPTOR_INTERFACE && length >= 9) {
      current = {
        interfaceNumber: d[2]!,
        alternateSetting: d[3]!,
        interfaceClass: d[5]!,
        interfaceProtocol: d[7]!,
        endpoints: [],
      };
      endpoint = undefined;
      out.push(current);
    } else if (type === DESCRIPTOR_ENDPOINT && length >= 7 && current) {
      // Bulk only: UAS has nothing else on its interface.
      endpoint =
        (d[3]! & 0x03) === 2 ? { address: d[2]!, maxPacketSize: d[4]! | (d[5]! << 8), maxStreams: 0 } : undefined;
      if (endpoint) current.endpoints.push(endpoint);
    } else if (type === DESCRIPTOR_SS_COMPANION && length >= 6 && endpoint) {
      const exponent = d[3]! & 0x1f;
      endpoint.maxStreams = exponent === 0 ? 0 : 2 ** exponent;
    } else if (type === DESCRIPTOR_PIPE_USAGE && length >= 4 && endpoint) {
      endpoint.pipeId = d[2]!;
    }
    at += length;
  }
  return out;
}

/**
 * The UAS alternate setting (class 08, protocol 62h) of `interfaceNumber` (or the first
 * mass-storage interface), with its four pipes. `E_UNSUPPORTED` when there is none or a pipe is
 * missing.
 */
export function findUasInterface(config: Uint8Array, interfaceNumber?: number): UasPipes {
  const uas = alternatesOf(config).find(
    (a) =>
      a.interfaceClass === USB_CLASS_MASS_STORAGE &&
      a.interfaceProtocol === MSC_PROTOCOL_UAS &&
      (interfaceNumber === undefined || a.interfaceNumber === interfaceNumber),
  );
  if (!uas) {
    throw unsupported(
      `the device has no USB Attached SCSI alternate setting (class 08, protocol 0x62)` +
        (interfaceNumber === undefined ? '' : ` on interface ${interfaceNumber}`) +
        ': use the bot or sg transport',
    );
  }
  const pipe = (id: number, wantIn: boolean, name: string): RawEndpoint => {
    const e = uas.endpoints.find((x) => x.pipeId === id);
    if (!e || ((e.address & 0x80) !== 0) !== wantIn) {
      throw unsupported(
        `UAS interface ${uas.interfaceNumber} alternate ${uas.alternateSetting} has no ${name} pipe ` +
          `(Pipe Usage descriptor ${id} on a bulk ${wantIn ? 'IN' : 'OUT'} endpoint)`,
      );
    }
    return e;
  };
  const command = pipe(PipeId.COMMAND, false, 'command');
  const status = pipe(PipeId.STATUS, true, 'status');
  const dataIn = pipe(PipeId.DATA_IN, true, 'data-in');
  const dataOut = pipe(PipeId.DATA_OUT, false, 'data-out');
  return {
    interfaceNumber: uas.interfaceNumber,
    alternateSetting: uas.alternateSetting,
    commandOut: command.address,
    statusIn: status.address,
    dataIn: dataIn.address,
    dataOut: dataOut.address,
    maxPacketSize: dataIn.maxPacketSize,
    maxStreams: Math.min(status.maxStreams, dataIn.maxStreams, dataOut.maxStreams),
  };
}

/** GET_DESCRIPTOR(CONFIGURATION 0) on ep0: the header first for wTotalLength, then the whole of it. */
export async function readConfigurationDescriptor(handle: UsbDeviceHandle): Promise<Uint8Array> {
  const setup = { requestType: 0x80, request: 0x06, value: 0x0200, index: 0 };
  const head = await handle.controlTransfer(setup, 9, CONTROL_TIMEOUT_MS);
  if (head.status !== TransferStatus.OK || !head.data || head.data.length < 4) {
    throw new UsbScsiError(ErrorCodes.IO, 'the device did not return its configuration descriptor');
  }
  const total = head.data[2]! | (head.data[3]! << 8);
  const whole = await handle.controlTransfer(setup, total, CONTROL_TIMEOUT_MS);
  if (whole.status !== TransferStatus.OK || !whole.data) {
    throw new UsbScsiError(
      ErrorCodes.IO,
      `the device did not return its ${total}-byte configuration descriptor (${hex0x(whole.status)})`,
    );
  }
  return whole.data;
}
