/*
 * The search generation (`{base}:sgen`) names cached search lists: a list is served only while the
 * generation still holds the value it was read under, and every write moves it on (INCR). It carries
 * no TTL, but an `allkeys-*` Redis evicts it, a FLUSH or an empty restart takes it, a restore puts
 * an older value back: counted up again from nothing, it came back to a value a live list was
 * stored under, and that list was served over every write made since
 * (reliability/test/probe-evict.test.ts). No key of the app survives such a loss to count on (the
 * tick and boot marker go too), so a value a list may be stored under is never counted from a
 * shared start: only values from 2^52 up count, and only the generation read (GENERATION, which
 * every instance sends before its first L2 use and every 5 s after) puts one there, a random seed
 * (2^52 plus 51 bits of the reader's crypto.getRandomValues, sent as an argument) in place of a
 * value that does not count. A missing value, or one counted up from nothing since (by writes:
 * INCR, as before; by an older Strata in a rolling deploy too), serves no list and stores none;
 * the reader then reads the generation again at its next call, which seeds it. Two lives of the key
 * share a value only if a seed lands among the other's values still named by a live list: about
 * 2 x (writes per list TTL) / 2^51 per loss. Below 2^53 (where Lua and JS stop counting exactly)
 * that leaves 2^51 writes: centuries.
 */

/** The lowest search generation that counts (see above). */
export const SEARCH_LOW = 2 ** 52;

/** A fresh seed: 2^52 plus 51 random bits. */
export function searchSeed(): string {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return String(SEARCH_LOW + (high! & 0x7ffff) * 2 ** 32 + low!);
}

/** The value of a search generation if it counts (see above), else 0: no list is served or stored under it. */
export function countedSearch(value: unknown): number {
  const n = Number(value);
  return n >= SEARCH_LOW ? n : 0;
}
