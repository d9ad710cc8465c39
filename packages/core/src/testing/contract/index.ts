/**
 * One contract suite for every backend (as serialport's `testBinding`): named cases, each with
 * what it needs, written once and run by thin adapters — vitest in process against the emulator
 * (`describeContract` in testing/contract.ts), the VM guest's runner against native and node-usb
 * (tools/vm/guest/cases/contract.mjs). No test framework is imported here.
 */
import { backendCases } from './backend-cases.js';
import type { ContractCase } from './env.js';
import { exchangeCases } from './exchange-cases.js';
import { uasCases } from './uas-cases.js';

export { CaseContext, runContractCase, uasAlternate, type RawTarget } from './context.js';
export {
  ContractSkip,
  whyNotRunnable,
  type CaseLevel,
  type ContractCase,
  type ContractEnv,
  type ContractFault,
  type DeviceCounters,
  type ProgrammableDevice,
} from './env.js';

/** Every case, backend level first, then whole commands through BotTransport, then through UasTransport. */
export const CONTRACT_CASES: readonly ContractCase[] = Object.freeze([...backendCases, ...exchangeCases, ...uasCases]);

/** Cases by id (a typo in a skip list is an error, not a silent no-op). */
export function contractCase(id: string): ContractCase {
  const found = CONTRACT_CASES.find((c) => c.id === id);
  if (!found)
    throw new Error(`no contract case ${JSON.stringify(id)}; ids: ${CONTRACT_CASES.map((c) => c.id).join(', ')}`);
  return found;
}
