export { FfsBotAdapter, CHUNK as FFS_CHUNK, type FfsBotAdapterOptions } from './bot-adapter.js';
export {
  FunctionFs,
  FfsEventType,
  errnoOf,
  type FunctionFsOptions,
  type SetupPacket,
  type SetupReply,
} from './functionfs.js';
export { massStorageDescriptors, functionStrings, FFS_BULK_IN, FFS_BULK_OUT } from './descriptors.js';
