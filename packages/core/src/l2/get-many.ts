import { StrataError } from '../errors.js';

/**
 * The L2 seam's `getMany` over a Redis client's `MGET`, for every Redis L2 whatever its client: no
 * request for an empty list, and a reply that is not one value per key is L2_UNAVAILABLE (a proxy
 * or a misbehaving server), never values handed to the wrong keys. Anything but a string reads as
 * `null` (a missing key, or a client that parsed a reply).
 *
 * @example
 * async getMany(keys: readonly string[]) {
 *   return getManyByMget('ioredis', keys, (k) => this.#redis.mget(k));
 * }
 */
export async function getManyByMget(
  tier: string,
  keys: readonly string[],
  mget: (keys: string[]) => Promise<unknown>,
): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  // Not copied: `mget` only reads it (this runs on every L2 read, with up to thousands of keys).
  return mgetValues(tier, keys, await mget(keys as string[]));
}

/**
 * The values of an MGET `reply` to `keys`, checked as {@link getManyByMget} does, for a tier that
 * sends the MGET itself (the ioredis L2 calls it as its command converts the reply: no `.then`).
 */
export function mgetValues(tier: string, keys: readonly string[], reply: unknown): (string | null)[] {
  if (!Array.isArray(reply) || reply.length !== keys.length) {
    throw new StrataError('L2_UNAVAILABLE', `L2 ${tier} getMany: unexpected reply for ${keys.length} keys`);
  }
  // The client's fresh reply array, normalised in place rather than copied.
  const values = reply as unknown[];
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'string') values[i] = null;
  return values as (string | null)[];
}
