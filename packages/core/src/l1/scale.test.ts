import { seededRandom } from '@strata/devstack/seeded-random';
import { describe, expect, it } from 'vitest';
import { createMemoryL1 } from './memory-l1.js';
import type { EvictionPolicy } from './types.js';

interface IteratorProto {
  next(this: unknown): unknown;
}

/**
 * Counts every step of every Map and Set iterator while `fn` runs: a deterministic stand-in for
 * "get and set are O(1)" (no scans), since wall-clock assertions are too noisy on shared machines.
 */
function countIteratorSteps(fn: () => void): { map: number; set: number } {
  const protos = {
    map: Object.getPrototypeOf(new Map().entries()) as IteratorProto,
    set: Object.getPrototypeOf(new Set().values()) as IteratorProto,
  };
  const counts = { map: 0, set: 0 };
  const originals = { map: protos.map.next, set: protos.set.next };
  for (const kind of ['map', 'set'] as const) {
    const original = originals[kind];
    protos[kind].next = function (this: unknown) {
      counts[kind]++;
      return original.call(this);
    };
  }
  try {
    fn();
  } finally {
    protos.map.next = originals.map;
    protos.set.next = originals.set;
  }
  return counts;
}

const ENTRIES = 100_000;
const OPS = 200_000;

describe('MemoryL1 at scale', () => {
  it.each<EvictionPolicy>(['sieve', 'lru', 'lfu', 'fifo'])(
    '%s: 200k ops at 100k entries, at most one iterator step per eviction and no scans',
    (eviction) => {
      const l1 = createMemoryL1<number>({ eviction, maxEntries: ENTRIES });
      for (let i = 0; i < ENTRIES; i++) l1.set(`k${i}`, i);
      const uniform = seededRandom(7);
      const random = (n: number) => Math.floor(uniform() * n);
      let nextKey = ENTRIES;
      let found = 0;
      const steps = countIteratorSteps(() => {
        for (let op = 0; op < OPS; op++) {
          const roll = random(10);
          if (roll < 6) {
            if (l1.get(`k${random(nextKey)}`) !== undefined) found++;
          } else if (roll < 8) l1.set(`k${random(nextKey)}`, op);
          else l1.set(`k${nextKey++}`, op); // a new key: evicts one
        }
      });
      const stats = l1.stats();
      expect(stats.size).toBe(ENTRIES);
      expect(stats.evictions).toBeGreaterThan(40_000);
      expect(stats.hits).toBe(found);
      // LFU takes its victim from a Set (one step); the others keep their order in typed arrays.
      expect(steps).toEqual({ map: 0, set: eviction === 'lfu' ? stats.evictions : 0 });
    },
  );
});
