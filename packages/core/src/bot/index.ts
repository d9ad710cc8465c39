export * from './wrappers.js';
export * from './quirks.js';
export * from './transfer-outcome.js';
export { BotTransport, type BotTransportOptions } from './bot-transport.js';
export { findBotInterface, getMaxLun } from './bot-interface.js';
export { describeBotEvent, type BotEvent } from './events.js';
export { genericBotExchange, genericBotJob, type BulkTransfers } from './generic-exchange.js';
