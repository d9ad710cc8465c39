export * from './wrappers.js';
export * from './quirks.js';
export * from './transfer-outcome.js';
export { BotTransport, describeBotEvent, findBotInterface, getMaxLun, type BotTransportOptions, type BotEvent } from './bot-transport.js';
export { genericBotExchange, type BulkTransfers } from './generic-exchange.js';
