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

/**
 * `target` whose next write, once `loseNext()` is called, fails as a dropped connection would
 * (no SQLSTATE: its outcome unknown to the writer), without reaching Postgres.
 */
export function losingL3(target: L3Tier): { l3: L3Tier; loseNext: () => void } {
  let lose = false;
  const l3 = wrapL3(target, {
    write: (ops) => {
      if (!lose) return target.write(ops);
      lose = false;
      return Promise.reject(new Error('Connection terminated unexpectedly'));
    },
  });
  return { l3, loseNext: () => (lose = true) };
}
