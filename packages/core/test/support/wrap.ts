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

/** A promise with its resolver, for gates and signals in tests. */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  return deferred<void>();
}
