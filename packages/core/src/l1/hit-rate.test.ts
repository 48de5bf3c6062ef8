import { seededRandom } from '@strata/devstack/seeded-random';
import { describe, expect, it } from 'vitest';
import { createMemoryL1 } from './memory-l1.js';
import type { EvictionPolicy } from './types.js';

const KEYS = 20_000;
const SIZE = 2_000;
const WARM = 40_000;
const ACCESSES = 200_000;

/** Key ranks drawn from Zipf(1.0) over KEYS keys (inverse CDF, binary search), as the memory bench does. */
function zipfTrace(length: number, seed: number): string[] {
  const cdf = new Float64Array(KEYS);
  let total = 0;
  for (let k = 0; k < KEYS; k++) cdf[k] = total += 1 / (k + 1);
  const random = seededRandom(seed); // the same trace (and every rate below) on every run
  return Array.from({ length }, () => {
    const u = random() * total;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return `k${lo}`;
  });
}

function hitRate(eviction: EvictionPolicy, trace: readonly string[]): number {
  const l1 = createMemoryL1<number>({ maxEntries: SIZE, eviction });
  let hits = 0;
  trace.forEach((key, i) => {
    if (l1.get(key) !== undefined) {
      if (i >= WARM) hits++;
    } else l1.set(key, 1);
  });
  return hits / ACCESSES;
}

describe('L1 hit rate on a fixed-seed Zipf(1.0) trace (20k keys, 2k entries)', () => {
  const trace = zipfTrace(WARM + ACCESSES, 20_260_101);
  const rates = Object.fromEntries(
    (['sieve', 'lru', 'lfu', 'fifo'] as const).map((p) => [p, hitRate(p, trace)]),
  ) as Record<EvictionPolicy, number>;

  it('SIEVE (the default) keeps at least as many hits as exact LRU, and both beat FIFO', () => {
    expect(rates.sieve).toBeGreaterThanOrEqual(rates.lru);
    expect(rates.lru).toBeGreaterThan(rates.fifo);
  });

  it('the default policy is SIEVE', () => {
    const evicted: string[] = [];
    const l1 = createMemoryL1<number>({ maxEntries: 3, onEvict: (key) => evicted.push(key) });
    for (const key of ['a', 'b', 'c']) l1.set(key, 1);
    l1.get('a');
    l1.set('d', 1); // both drop 'b'
    l1.get('c');
    l1.set('e', 1); // LRU would drop 'a' (least recent); SIEVE's hand is at 'c', read: it drops 'd'
    expect(evicted).toEqual(['b', 'd']);
  });
});
