import { invalidQuery, preview } from './invalid.js';

/** The default page size, as in the Go library Strata. */
export const DEFAULT_LIMIT = 100;

/**
 * The largest page a search may ask for. A search materialises every row in memory (a Worker has
 * 128 MB) and `searchCached` stores the whole list as one L2 value (Upstash caps a request at a few
 * MB): an unbounded limit would let one request exhaust both. Walk bigger sets with `offset`
 * pages, or `warmCache`.
 */
export const MAX_LIMIT = 10_000;

/**
 * The limit, checked: an integer in 0..MAX_LIMIT, where 0 (or `undefined`, in a hand-made query)
 * means DEFAULT_LIMIT, as the Go library Strata documents ("0 = use default: 100").
 * @example checkLimit(25); // 25
 * @example checkLimit(0); // 100
 */
export function checkLimit(limit: unknown): number {
  if (limit === undefined || limit === 0) return DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    const range = `an integer from 1 to ${MAX_LIMIT} (0 = the default, ${DEFAULT_LIMIT})`;
    throw invalidQuery('limit', `limit must be ${range}, got ${preview(limit)}`, {
      value: typeof limit === 'number' ? limit : typeof limit,
    });
  }
  return limit;
}

/**
 * The offset, checked: a safe integer >= 0. `undefined` means 0.
 * @example checkOffset(50); // 50
 */
export function checkOffset(offset: unknown): number {
  if (offset === undefined) return 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw invalidQuery('offset', `offset must be an integer >= 0, got ${preview(offset)}`, {
      value: typeof offset === 'number' ? offset : typeof offset,
    });
  }
  return offset;
}
