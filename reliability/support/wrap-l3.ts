import type { L3Tier } from '@strata/core';

/**
 * `target` (a real L3) with some of its methods replaced, the rest bound to it: a probe holds or
 * breaks one call at a chosen point (a lost reply, a slow statement) on the real database.
 */
export function wrapL3(target: L3Tier, over: Partial<L3Tier>): L3Tier {
  return new Proxy(target, {
    get(t, prop) {
      if (prop in over) return over[prop as keyof L3Tier];
      const value = Reflect.get(t, prop, t) as unknown;
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}
