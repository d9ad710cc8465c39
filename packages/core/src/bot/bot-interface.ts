import { ErrorCodes, UsbScsiError } from '../errors.js';
import {
  MSC_PROTOCOL_BOT,
  MSC_PROTOCOL_UAS,
  TransferStatus,
  USB_CLASS_MASS_STORAGE,
  type InterfaceDescriptor,
  type UsbDeviceHandle,
} from '../usb/backend.js';
import type { BotEvent } from './events.js';

// The BOT interface and its ep0 requests: which alternate setting and endpoints, the class
// reset, GET MAX LUN (BOT 1.0 §3, §5.3.4).

/** Class-specific requests, BOT 1.0 §3. */
const BULK_ONLY_RESET = 0xff;
const GET_MAX_LUN = 0xfe;
const CLASS_INTERFACE_OUT = 0x21;
const CLASS_INTERFACE_IN = 0xa1;
/** GET_INTERFACE (USB 2.0 §9.4.4): the current alternate setting of an interface. */
const GET_INTERFACE = 0x0a;
const STANDARD_INTERFACE_IN = 0x81;
const CONTROL_TIMEOUT_MS = 5_000;

export interface BotEndpoints {
  interfaceNumber: number;
  alternateSetting: number;
  bulkIn: number;
  bulkOut: number;
  maxPacketSize: number;
}

/** Picks the BOT alternate setting of a mass-storage interface, or says why there is none. */
export function findBotInterface(interfaces: InterfaceDescriptor[], interfaceNumber?: number): BotEndpoints {
  const storage = interfaces.filter(
    (i) =>
      i.interfaceClass === USB_CLASS_MASS_STORAGE &&
      (interfaceNumber === undefined || i.interfaceNumber === interfaceNumber),
  );
  if (storage.length === 0) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      interfaceNumber === undefined
        ? 'the device has no USB mass-storage interface (class 08)'
        : `interface ${interfaceNumber} is not a USB mass-storage interface (class 08)`,
    );
  }
  const bot = storage.find((i) => i.interfaceProtocol === MSC_PROTOCOL_BOT);
  if (!bot) {
    const uas = storage.some((i) => i.interfaceProtocol === MSC_PROTOCOL_UAS);
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      uas
        ? 'the mass-storage interface speaks UAS only (protocol 0x62, no Bulk-Only alternate ' +
            'setting): BOT cannot drive it; on Linux use the SG_IO transport (--backend sg / ' +
            'transport: "sg")'
        : `the mass-storage interface uses protocol 0x${storage[0]!.interfaceProtocol.toString(16)}, ` +
            `not Bulk-Only (0x50)`,
      { details: { protocols: storage.map((i) => i.interfaceProtocol) } },
    );
  }
  const bulkIn = bot.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) !== 0);
  const bulkOut = bot.endpoints.find((e) => e.transferType === 'bulk' && (e.address & 0x80) === 0);
  if (!bulkIn || !bulkOut) {
    throw new UsbScsiError(
      ErrorCodes.UNSUPPORTED,
      `BOT interface ${bot.interfaceNumber} lacks a bulk-in or bulk-out endpoint`,
    );
  }
  return {
    interfaceNumber: bot.interfaceNumber,
    alternateSetting: bot.alternateSetting,
    bulkIn: bulkIn.address,
    bulkOut: bulkOut.address,
    maxPacketSize: bulkIn.maxPacketSize,
  };
}

/**
 * Bulk-Only Mass Storage Reset, a pause, then CLEAR_FEATURE(HALT) on both bulk endpoints
 * (after a failed reset only with `clearAnyway`). Returns the class request's status.
 */
export async function bulkOnlyReset(
  handle: UsbDeviceHandle,
  endpoints: BotEndpoints,
  delayMs: number,
  clearAnyway = false,
): Promise<TransferStatus> {
  const { interfaceNumber, bulkIn, bulkOut } = endpoints;
  const reset = await handle.controlTransfer(
    { requestType: CLASS_INTERFACE_OUT, request: BULK_ONLY_RESET, value: 0, index: interfaceNumber },
    new Uint8Array(0),
    CONTROL_TIMEOUT_MS,
  );
  if (reset.status !== TransferStatus.OK && !clearAnyway) return reset.status;
  if (reset.status === TransferStatus.OK && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  await handle.clearHalt(bulkIn);
  await handle.clearHalt(bulkOut);
  return reset.status;
}

/**
 * SET_INTERFACE only when another alternate setting is current: a device may take it as a reset
 * (the kernel's f_mass_storage raises UNIT ATTENTION 06/29/00 on every one). An interface with a
 * single alternate setting cannot be elsewhere; otherwise GET_INTERFACE says where it is (a UAS
 * driver may have left alt 1). A device that does not answer GET_INTERFACE gets SET_INTERFACE.
 */
export async function selectAlternateSetting(
  handle: UsbDeviceHandle,
  interfaces: InterfaceDescriptor[],
  endpoints: BotEndpoints,
  onEvent: ((event: BotEvent) => void) | undefined,
): Promise<void> {
  const { interfaceNumber, alternateSetting } = endpoints;
  const alternates = interfaces.filter((i) => i.interfaceNumber === interfaceNumber);
  if (alternates.length === 1 && alternates[0]!.alternateSetting === alternateSetting) return;
  const answer = await handle.controlTransfer(
    { requestType: STANDARD_INTERFACE_IN, request: GET_INTERFACE, value: 0, index: interfaceNumber },
    1,
    CONTROL_TIMEOUT_MS,
  );
  const current =
    answer.status === TransferStatus.OK && answer.actualLength === 1 && answer.data ? answer.data[0]! : null;
  if (current === alternateSetting) return;
  onEvent?.({ type: 'select-alternate', alternateSetting, current });
  await handle.setAlternateSetting(interfaceNumber, alternateSetting);
}

/** GET MAX LUN (§3.2). A stall (or any failure) means the device has one LUN. */
export async function getMaxLun(handle: UsbDeviceHandle, interfaceNumber: number): Promise<number> {
  const result = await handle.controlTransfer(
    { requestType: CLASS_INTERFACE_IN, request: GET_MAX_LUN, value: 0, index: interfaceNumber },
    1,
    CONTROL_TIMEOUT_MS,
  );
  if (result.status !== TransferStatus.OK || result.actualLength < 1 || !result.data) return 0;
  const maxLun = result.data[0]!;
  return maxLun <= 15 ? maxLun : 0;
}
