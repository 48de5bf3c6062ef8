import type { L2Script, L2Tier } from './types.js';

/*
 * The search generation (`{base}:sgen`) names cached search lists: a list is served only while the
 * generation still holds the value it was read under. It carries no TTL, but an `allkeys-*` Redis
 * evicts it, a FLUSH or an empty restart takes it, a restore puts an older value back: counted up
 * again from nothing, it came back to a value a live list was stored under, and that list was
 * served over every write made since (reliability/test/probe-evict.test.ts). No key of the app
 * survives such a loss to count on (the tick and boot marker go too), so the value is not counted
 * from a shared start: wherever it is (re)created it starts at a random seed (51 bits from the
 * writer's crypto.getRandomValues, sent as an argument) at or above `SEARCH_LOW`, and only values
 * in [SEARCH_LOW, SEARCH_HIGH) count. A missing value, one counted up by a Strata without seeds
 * (a rolling deploy's older instance recreates it from 1) and one near 2^53 (past which neither
 * Lua nor JS counts exactly) are unknown: a bump seeds it afresh, a reader seeds it (`SEED_SEARCH`)
 * before it stores a list and serves none. Two lives of the key then share a value only if a seed
 * lands within the writes of the other: about (writes per list TTL) / 2^51 per loss.
 */

/** The lowest search generation a Strata of this version counts from: 2^52. */
export const SEARCH_LOW = 2 ** 52;
/** Past it, seeded again: `INCR` then still gives at most 2^53 - 1, exact in Lua and JS. */
export const SEARCH_HIGH = 2 ** 53 - 1;
/** The last ARGV of a write script that carries a search seed (see `SEARCH_BUMP`). */
export const SEARCH_SENTINEL = '~sgen';

/**
 * Lua: `sbump(key, seed, read)` moves the search generation at `key` on (INCR) while its value
 * counts, else sets it to `seed` (a caller without one INCRs: a value readers do not count);
 * `read`: only seeds, never INCRs. Returns the value after. Also takes a seed tail (`seed`,
 * `SEARCH_SENTINEL`) off ARGV into `sseed`: after `LIFE`'s tail, before `SHAPE_TAIL` reads its own.
 */
export const SEARCH_BUMP = `local sseed
if ARGV[#ARGV] == '${SEARCH_SENTINEL}' then
sseed = ARGV[#ARGV - 1]
ARGV[#ARGV] = nil
ARGV[#ARGV] = nil
end
local function sbump(k, seed, read)
local s = tonumber(redis.call('GET', k) or '')
if s and s >= ${SEARCH_LOW} and s < ${SEARCH_HIGH} then
if read then return s end
return redis.call('INCR', k)
end
if not seed then return redis.call('INCR', k) end
redis.call('SET', k, seed)
return tonumber(seed)
end`;

/**
 * The search generation KEYS[1] as a reader may use it: seeded with ARGV[1] unless its value
 * counts (see `SEARCH_BUMP`). Reply: the value.
 */
export const SEED_SEARCH: L2Script = {
  name: 'seed-search',
  source: `${SEARCH_BUMP}
return sbump(KEYS[1], ARGV[1], true)`,
};

/** A fresh seed: SEARCH_LOW plus 51 random bits (below SEARCH_HIGH by 2^51 writes). */
export function searchSeed(): string {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return String(SEARCH_LOW + (high! & 0x7ffff) * 2 ** 32 + low!);
}

/** The value of a search generation if it counts (see `SEARCH_BUMP`), else undefined. */
export function countedSearch(value: unknown): number | undefined {
  const n = Number(value ?? 0);
  return n >= SEARCH_LOW && n < SEARCH_HIGH ? n : undefined;
}

/**
 * Seeds a search generation a read found missing or not counted: the value then in Redis (this
 * seed, or one a write or another reader set meanwhile), for the read to store its list under.
 */
export async function seedSearch(l2: L2Tier, key: string): Promise<number> {
  return Number(await l2.run(SEED_SEARCH, [key], [searchSeed()]));
}
