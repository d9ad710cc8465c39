export * from './errors.js';
export * from './usb/backend.js';
export * from './transport.js';
export type { DecodedSense } from './scsi/sense-types.js';
