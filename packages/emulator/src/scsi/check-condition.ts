import type { SenseSpec } from './sense.js';

/**
 * Thrown inside command handlers to end the command with CHECK CONDITION and
 * this sense. `data` is sent anyway (ATA PASS-THROUGH with CK_COND moves its
 * data and then reports the registers).
 */
export class CheckCondition extends Error {
  constructor(
    readonly sense: SenseSpec,
    readonly data?: Uint8Array,
  ) {
    super(
      `CHECK CONDITION key 0x${sense.key.toString(16)} asc 0x${sense.asc.toString(16)} ` +
        `ascq 0x${sense.ascq.toString(16)}`,
    );
    this.name = 'CheckCondition';
  }
}
