import { invalidQuery, preview } from './invalid.js';

/** The seed's default page size. */
export const DEFAULT_LIMIT = 100;

/**
 * The largest page a search may ask for. A search materialises every row in memory (a Worker has
 * 128 MB) and `searchCached` stores the whole list as one L2 value (Upstash caps a request at a few
 * MB): an unbounded limit would let one request exhaust both. Walk bigger sets with `offset`
 * pages, or `warmCache`.
 */
export const MAX_LIMIT = 10_000;

/**
 * The limit, checked: an integer in 1..MAX_LIMIT. `undefined` means the default (a hand-made query).
 * @example checkLimit(25); // 25
 */
export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw invalidQuery('limit', `limit must be an integer from 1 to ${MAX_LIMIT}, got ${preview(limit)}`, {
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
