export * from './ius.js';
export { findUasInterface, readConfigurationDescriptor, PipeId, type UasPipes } from './pipes.js';
export { TagAllocator } from './tags.js';
export { genericStreamCommand } from './stream-command.js';
export { UasTransport, uasUnsupportedReason, type UasTransportOptions } from './uas-transport.js';
export { describeUasEvent, type UasEvent } from './events.js';
