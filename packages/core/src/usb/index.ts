/**
 * `@usbscsi/core/usb`: the USB backend contract on its own (types, TransferStatus, device
 * places, the generic BOT exchange a backend without an engine of its own builds on), for
 * backends such as the emulator. Loads a handful of modules, not the SCSI / BOT / handoff stack
 * that the package root pulls in.
 */
export * from './backend.js';
export { parseLocation, sameLocation, sysfsDeviceName, type UsbPlace } from './location.js';
export { genericBotExchange } from '../bot/generic-exchange.js';
export { genericStreamCommand } from '../uas/stream-command.js';
