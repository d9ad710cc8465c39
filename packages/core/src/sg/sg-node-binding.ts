/**
 * The addon's open node as PassThroughTransport's `SgNodeBinding`. Commands go through the
 * node's positional `command`, whose facts come back in a small block of memory read here
 * (native/src/linux/sg_node.h, kSgFactsBytes): building the result object in the addon, one
 * property at a time, and reading the request object key by key cost more than a TEST UNIT READY
 * itself in the guest.
 */
import type { SgIoRequest, SgIoResult, SgNode } from '../backends/native-addon.js';
import type { SgNodeBinding } from './passthrough.js';

/** Bytes of the facts block: 64 of numbers, then up to 252 of sense. */
export const SG_FACTS_BYTES = 64 + 252;
const DIRECTIONS = { none: 0, in: 1, out: 2 } as const;

/** The facts block as the result `execute` gives (the sense bytes copied out of the block). */
export function decodeSgFacts(facts: Uint8Array): SgIoResult {
  const ints = new Int32Array(facts.buffer, facts.byteOffset, 10);
  const durationNs = new Float64Array(facts.buffer, facts.byteOffset + 40, 1)[0]!;
  const senseLength = Math.max(0, Math.min(252, ints[8]!));
  return {
    status: ints[0]!,
    maskedStatus: ints[1]!,
    msgStatus: ints[2]!,
    hostStatus: ints[3]!,
    driverStatus: ints[4]!,
    resid: ints[5]!,
    durationMs: ints[6]!,
    durationNs,
    info: ints[7]!,
    sense: facts.slice(64, 64 + senseLength),
    bounced: ints[9] !== 0,
  };
}

export function bindSgNode(node: SgNode): SgNodeBinding {
  const binding: SgNodeBinding = {
    blockDevice: node.blockDevice,
    execute: node.command
      ? async (request: SgIoRequest) => {
          // 8-byte aligned for the f64 at 40 (a fresh ArrayBuffer is).
          const facts = new Uint8Array(SG_FACTS_BYTES);
          await node.command(
            request.cdb,
            DIRECTIONS[request.direction],
            request.direction === 'none' ? undefined : request.buffer,
            request.timeoutMs,
            facts,
          );
          return decodeSgFacts(facts);
        }
      : (request) => node.execute(request),
    job: (table, data, options) => node.job(table, data, options),
    cancelJob: (jobId) => node.cancelJob(jobId),
    reset: (level) => node.reset(level),
    close: () => node.close(),
  };
  return binding;
}
