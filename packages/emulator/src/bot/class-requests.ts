import type { ControlSetup } from '@usbscsi/core/usb';
import type { ControlOutcome } from './types.js';

/** bmRequestType values the BOT interface answers (USB 2.0 §9.3.1). */
export const RequestType = {
  CLASS_INTERFACE_OUT: 0x21,
  CLASS_INTERFACE_IN: 0xa1,
  STANDARD_ENDPOINT_OUT: 0x02,
  STANDARD_ENDPOINT_IN: 0x82,
} as const;

/** Class-specific requests, BOT 1.0 §3.1 and §3.2. */
export const BULK_ONLY_MASS_STORAGE_RESET = 0xff;
export const GET_MAX_LUN = 0xfe;

/** Standard requests on an endpoint (USB 2.0 §9.4). */
export const StandardRequest = { GET_STATUS: 0x00, CLEAR_FEATURE: 0x01, SET_FEATURE: 0x03 } as const;
/** The only endpoint feature selector (USB 2.0 Table 9-6). */
export const ENDPOINT_HALT = 0;

/** What ep0 needs from the device behind it. */
export interface Ep0Target {
  readonly interfaceNumber: number;
  readonly inEndpoint: number;
  readonly outEndpoint: number;
  isHalted(endpoint: number): boolean;
  clearHalt(endpoint: number): void;
  setHalt(endpoint: number): void;
  /** The class reset; `false` when an injected fault makes the device refuse it (stall). */
  massStorageReset(): boolean;
  /** Counts the request and answers the highest LUN, or `null` to stall it. */
  getMaxLun(): number | null;
}

/**
 * The control requests of a BOT interface: the two class requests and the endpoint halt
 * requests. Anything else stalls, as a device does with a request it does not support.
 */
export function answerControl(target: Ep0Target, setup: ControlSetup, length: number): ControlOutcome {
  const { requestType, request, value, index } = setup;
  if (requestType === RequestType.CLASS_INTERFACE_OUT && request === BULK_ONLY_MASS_STORAGE_RESET) {
    if (value !== 0 || index !== target.interfaceNumber || length !== 0) return { status: 'stall' };
    return target.massStorageReset() ? { status: 'ok' } : { status: 'stall' };
  }
  if (requestType === RequestType.CLASS_INTERFACE_IN && request === GET_MAX_LUN) {
    if (value !== 0 || index !== target.interfaceNumber || length < 1) return { status: 'stall' };
    const maxLun = target.getMaxLun();
    return maxLun === null ? { status: 'stall' } : { status: 'ok', data: Uint8Array.of(maxLun) };
  }
  const endpointRequest =
    (requestType === RequestType.STANDARD_ENDPOINT_OUT &&
      (request === StandardRequest.CLEAR_FEATURE || request === StandardRequest.SET_FEATURE)) ||
    (requestType === RequestType.STANDARD_ENDPOINT_IN && request === StandardRequest.GET_STATUS);
  if (endpointRequest) {
    if (index !== target.inEndpoint && index !== target.outEndpoint) return { status: 'stall' };
    if (request === StandardRequest.GET_STATUS)
      return { status: 'ok', data: Uint8Array.of(target.isHalted(index) ? 1 : 0, 0).subarray(0, length) };
    if (value !== ENDPOINT_HALT) return { status: 'stall' };
    if (request === StandardRequest.CLEAR_FEATURE) target.clearHalt(index);
    else target.setHalt(index);
    return { status: 'ok' };
  }
  return { status: 'stall' };
}
