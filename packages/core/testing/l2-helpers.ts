import { isStrataError, type StrataError } from '../src/errors.js';
import type { L2Tier } from '../src/l2/types.js';

/**
 * The real tier, with every call that reaches it counted: proves an open breaker touches nothing.
 * @example const { tier, calls } = countingL2(createIoredisL2(url)); …; expect(calls()).toBe(0);
 */
export function countingL2(tier: L2Tier): { tier: L2Tier; calls: () => number } {
  let calls = 0;
  const count =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      calls++;
      return fn(...args);
    };
  return {
    calls: () => calls,
    tier: {
      name: tier.name,
      getMany: count((keys) => tier.getMany(keys)),
      setMany: count((entries, bump) => tier.setMany(entries, bump)),
      deleteMany: count((keys, bump) => tier.deleteMany(keys, bump)),
      incr: count((key) => tier.incr(key)),
      getCounter: count((key) => tier.getCounter(key)),
      close: () => tier.close(),
    },
  };
}

/** The StrataError a promise rejects with; throws when it resolves or rejects with something else. */
export async function strataRejection(promise: Promise<unknown>): Promise<StrataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isStrataError(error)) throw new Error(`expected a StrataError, got ${String(error)}`);
  return error;
}
