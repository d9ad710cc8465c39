export * from './errors.js';
export * from './usb/backend.js';
export * from './transport.js';
export * from './scsi/index.js';
export * from './bot/index.js';
export * from './device.js';
export * from './select.js';
export * from './open.js';
