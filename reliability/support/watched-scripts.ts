import type { L2Tier } from '@strata/core';

/** An L2 that tells when its scripts have run (see `watchedScripts`). */
export interface WatchedScripts extends L2Tier {
  /** How many runs of the script named `name` have settled so far. */
  settled(name: string): number;
  /** Resolves once `n` runs of the script named `name` have settled (at once if they have). */
  until(name: string, n: number): Promise<void>;
}

/**
 * `tier`, telling when its scripts' runs settle: a test waits for the script that ends some deferred
 * work (a late write's DROP) instead of for a length of time. Counted as they settle, either way.
 * @example const l2 = watchedScripts(createUpstashL2(...)); await l2.until(DROP.name, 2);
 */
export function watchedScripts(tier: L2Tier): WatchedScripts {
  const counts = new Map<string, number>();
  const waiting = new Set<{ name: string; n: number; resolve: () => void }>();
  const settled = (name: string) => counts.get(name) ?? 0;
  const ended = (name: string) => {
    counts.set(name, settled(name) + 1);
    for (const w of waiting)
      if (w.name === name && settled(name) >= w.n) {
        waiting.delete(w);
        w.resolve();
      }
  };
  return {
    name: tier.name,
    ...(tier.replicas !== undefined && { replicas: tier.replicas }),
    ...(tier.warning !== undefined && { warning: tier.warning }),
    getMany: (keys) => tier.getMany(keys),
    run: (...call: Parameters<L2Tier['run']>) => {
      const running = tier.run(...call);
      const end = () => ended(call[0].name);
      running.then(end, end);
      return running;
    },
    close: () => tier.close(),
    settled,
    until: (name, n) =>
      settled(name) >= n ? Promise.resolve() : new Promise((resolve) => waiting.add({ name, n, resolve })),
  };
}
