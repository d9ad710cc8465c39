import { defaultHandoffPlatform, LeaseJournal } from '@usbscsi/core';
import type { Logger } from 'pino';
import { recoverWith } from './handoff.js';

/** Start-up recovery on the real OS: give back what a dead holder (a crashed daemon, a killed CLI) left detached. */
export async function recoverHostLeases(log: Logger, journalPath?: string): Promise<unknown> {
  const platform = await defaultHandoffPlatform();
  const journal = new LeaseJournal({
    ...(journalPath ? { path: journalPath } : {}),
    processIdentity: (pid) => platform.processIdentity(pid),
    warn: (message) => log.warn(message),
  });
  return recoverWith({ platform, journal })(log);
}
