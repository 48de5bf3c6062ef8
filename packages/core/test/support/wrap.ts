import type { L2Script, L2Tier } from '../../src/l2/types.js';
import type { L3Tier } from '../../src/l3/types.js';
import { deferred } from './deferred.js';

/**
 * The real L3 with some methods replaced, e.g. to hold a call at a chosen point and force an
 * interleaving. Every other member is the real tier's (`identity`, `walPosition`, `capture`
 * included: a wrapped tier is the same database to the engine).
 */
export function wrapL3(base: L3Tier, overrides: Partial<L3Tier>): L3Tier {
  const real = aroundL3(base, (_, call) => call);
  return new Proxy(real, {
    get: (target, prop, receiver) =>
      prop in overrides ? Reflect.get(overrides, prop) : Reflect.get(target, prop, receiver),
  });
}

/**
 * `base` (the real tier) with each method passed through `wrap` by name (each called on `base`,
 * whose private fields a Proxy receiver would not have); other members as they are.
 */
export function aroundL3(
  base: L3Tier,
  wrap: (name: string, call: (...args: unknown[]) => unknown) => unknown,
): L3Tier {
  return new Proxy(base, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return wrap(String(prop), (...args: unknown[]) =>
        (value as (...a: unknown[]) => unknown).apply(target, args),
      );
    },
  });
}

/**
 * The real L2 with each `run` passed through `around` (`run()` sends the call as it was made, its
 * deadline included), e.g. to fail, hold or count chosen scripts. Every other member is the real
 * tier's, called on it (its client's private fields); `close` does nothing, so an instance closed
 * in a test leaves the stack's L2 open for the next.
 */
export function wrapL2Run(
  base: L2Tier,
  around: (script: L2Script, keys: readonly string[], run: () => Promise<unknown>) => Promise<unknown>,
): L2Tier {
  return new Proxy(base, {
    get(target, prop) {
      if (prop === 'close') return async () => {};
      if (prop === 'run')
        return (script: L2Script, keys: readonly string[], args: readonly string[], sendBy?: number) =>
          around(script, keys, () => target.run(script, keys, args, sendBy));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The real L3 with the epochs taken through it counted: its `nextEpoch` calls, one per bucket's
 * counter seeded or moved.
 */
export function epochCounting(base: L3Tier) {
  const epochs = { taken: 0 };
  const l3 = wrapL3(base, {
    nextEpoch: (schema) => {
      epochs.taken += 1;
      return base.nextEpoch(schema);
    },
  });
  return { l3, epochs };
}

/** A promise with its resolver, for gates and signals in tests. */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  return deferred<void>();
}
