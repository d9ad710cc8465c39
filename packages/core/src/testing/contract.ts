/**
 * The vitest adapter of the contract suite (contract/index.ts): one `it` per case, skipped with
 * its reason when the env cannot run it. A case listed in `knownFailing` runs as `it.fails`, so
 * that it turns red the day it starts passing and the list is trimmed.
 */
import { describe, it, type TestContext } from 'vitest';
import {
  CONTRACT_CASES,
  contractCase,
  runContractCase,
  whyNotRunnable,
  type ContractCase,
  type ContractEnv,
} from './contract/index.js';

export interface DescribeContractOptions {
  /** Case ids expected to fail here until a named change lands, with that reason. */
  knownFailing?: Record<string, string>;
  /** Per-case vitest timeout (default 20 s). */
  timeoutMs?: number;
}

/** Describes every contract case against a fresh env per case; the env's backend is disposed after each. */
export function describeContract(
  name: string,
  makeEnv: () => ContractEnv | Promise<ContractEnv>,
  options: DescribeContractOptions = {},
): void {
  for (const id of Object.keys(options.knownFailing ?? {})) contractCase(id);
  const timeout = options.timeoutMs ?? 20_000;
  const run = async (c: ContractCase, ctx: TestContext) => {
    const env = await makeEnv();
    try {
      const cannot = whyNotRunnable(c, env);
      if (cannot) return ctx.skip(`SKIPPED on ${env.name}: ${cannot}`);
      const { skipped } = await runContractCase(c, env);
      if (skipped) return ctx.skip(`SKIPPED on ${env.name}: ${skipped}`);
    } finally {
      await env.backend.dispose?.();
    }
  };
  describe(`contract: ${name}`, () => {
    for (const level of ['backend', 'exchange', 'uas'] as const) {
      describe(level, () => {
        for (const c of CONTRACT_CASES.filter((x) => x.level === level)) {
          const failing = options.knownFailing?.[c.id];
          if (failing) it.fails(`${c.title} [${c.id}] — KNOWN FAILING: ${failing}`, (ctx) => run(c, ctx), timeout);
          else it(`${c.title} [${c.id}]`, (ctx) => run(c, ctx), timeout);
        }
      });
    }
  });
}
