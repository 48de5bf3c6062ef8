// Run by suites/memory.mjs as `node --expose-gc suites/memory-child.mjs`; prints one JSON line.
// 1. Bytes per entry at 100,000 entries of the demo's player row: heap after a full GC, minus the
//    heap before, divided by 100,000. "rows alone" is an array of the same rows (what any cache
//    must hold); the other lines add the cache's structure. Strata's L1 holds rows frozen (freezeRow).
// 2. Hit rate of Strata's L1 policies (and lru-cache for reference) on Zipf(1.0) over 100,000 keys,
//    cache of 10,000 entries, 200,000 warm-up then 1,000,000 measured accesses, seeded PRNG.
import { createMemoryL1, freezeRow } from '@strata/core/driver';
import { LRUCache } from 'lru-cache';
import { playerRow } from '../lib/stack.mjs';
import { seededRandom } from '../lib/stats.mjs';

const ENTRIES = 100_000;
const gc = globalThis.gc;
if (!gc) throw new Error('run with --expose-gc');

function heap() {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

function bytesPerEntry(fill) {
  const before = heap();
  const kept = fill();
  const after = heap();
  if (!kept) throw new Error('nothing kept');
  return Math.round((after - before) / ENTRIES);
}

const rows = () => Array.from({ length: ENTRIES }, (_, i) => playerRow('mem', i));
const memory = {
  'rows alone (array)': bytesPerEntry(() => rows()),
  Map: bytesPerEntry(() => {
    const m = new Map();
    for (const r of rows()) m.set(r.id, r);
    return m;
  }),
  'lru-cache (max 100k, ttl)': bytesPerEntry(() => {
    const c = new LRUCache({ max: ENTRIES, ttl: 60_000 });
    for (const r of rows()) c.set(r.id, r);
    return c;
  }),
};
for (const eviction of ['sieve', 'lru', 'lfu', 'fifo']) {
  memory[`Strata L1 (${eviction.toUpperCase()}, frozen rows)`] = bytesPerEntry(() => {
    const l1 = createMemoryL1({ maxEntries: ENTRIES, defaultTtlMs: 60_000, eviction });
    for (const r of rows()) l1.set(r.id, freezeRow(r));
    return l1;
  });
}

// Zipf(s = 1.0) over KEYS ranks by inverse CDF with binary search; seeded PRNG (seed fixed).
const KEYS = 100_000;
const SIZE = 10_000;
const WARM = 200_000;
const ACCESSES = 1_000_000;
const cdf = new Float64Array(KEYS);
let total = 0;
for (let k = 0; k < KEYS; k++) cdf[k] = total += 1 / (k + 1);
for (let k = 0; k < KEYS; k++) cdf[k] /= total;
const random = seededRandom(20260101);
const trace = new Uint32Array(WARM + ACCESSES);
for (let i = 0; i < trace.length; i++) {
  const u = random();
  let lo = 0;
  let hi = KEYS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  trace[i] = lo;
}
const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`);
function hitRate(get, set) {
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const key = keys[trace[i]];
    if (get(key) !== undefined) {
      if (i >= WARM) hits++;
    } else set(key, 1);
  }
  return hits / ACCESSES;
}
const hitRates = {};
for (const eviction of ['sieve', 'lru', 'lfu', 'fifo']) {
  const l1 = createMemoryL1({ maxEntries: SIZE, defaultTtlMs: 0, eviction });
  hitRates[`Strata L1 ${eviction.toUpperCase()}`] = hitRate(
    (k) => l1.get(k),
    (k, v) => l1.set(k, v),
  );
}
const lru = new LRUCache({ max: SIZE });
hitRates['lru-cache (LRU)'] = hitRate(
  (k) => lru.get(k),
  (k, v) => lru.set(k, v),
);
// The best any policy can do with SIZE entries on this trace is close to the share of the SIZE most
// popular keys (a static "perfect LFU").
hitRates['ideal (top 10k keys pinned)'] = cdf[SIZE - 1];

console.log(
  JSON.stringify({
    memory,
    hitRates,
    zipf: { s: 1.0, keys: KEYS, size: SIZE, warm: WARM, accesses: ACCESSES },
  }),
);
