/** NVMe drives behind USB bridges: the protocols, detection, decoders and the typed admin API. */
export * from './nvme-admin.js';
export * from './bridge.js';
export * from './jmicron.js';
export * from './asmedia.js';
export * from './realtek.js';
export * from './nvme-identify.js';
export * from './nvme-logs.js';
export * from './table.js';
export * from './detect.js';
export * from './nvme-device.js';
export * from './health.js';
