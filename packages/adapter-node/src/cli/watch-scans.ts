import type { L3Tier } from '@strata/core';

/**
 * The L3 tier, reporting the size of each page `scan` returns (warmCache reads page by page), so
 * the CLI can show warm progress without the engine knowing about it.
 */
export function watchScans(l3: L3Tier, onPage: (rows: number) => void): L3Tier {
  return new Proxy(l3, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      // Bound to the tier itself: its methods use private fields, which a proxy receiver lacks.
      if (property !== 'scan') return value.bind(target);
      return async (...args: Parameters<L3Tier['scan']>) => {
        const rows = await target.scan(...args);
        onPage(rows.length);
        return rows;
      };
    },
  });
}
