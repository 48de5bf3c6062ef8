import { countedSearch } from '../l2/search-generation.js';
import type { Bucket } from './buckets.js';
import { readWatched } from './l2-row-reads.js';
import type { SchemaCache } from './schema-cache.js';

/** What `readVector` read for a cached search of a bucketed schema. */
export interface VectorRead {
  /** The bucket that holds the list: the one its query's hash names. */
  readonly home: Bucket;
  /** The cached list, if any. */
  readonly list: string | null;
  /** The home bucket's generation: the list's. */
  readonly generation: number;
  /** The highest search generation, 0 when one does not count: the list's version. */
  readonly tag: number;
  /** Every bucket's generation and search generation: a list built under another vector is a miss. */
  readonly vector: string;
  /** The values of the query's tags (in bucket 0, with the app's other tags). */
  readonly tags: readonly (string | null)[];
}

/**
 * The search generation of a schema over several buckets (`config.buckets`) is the vector of every
 * bucket's: a write in any bucket moves its own, in the same request, so a list stored with the
 * vector it was built under is never served after a write acknowledged since. One MGET per bucket
 * (its tick, its search generation; the list too in its home bucket, the query's tags in bucket 0,
 * where the app's tags live), all in parallel.
 */
export async function readVector(
  cache: SchemaCache,
  queryHash: string,
  tags: readonly string[],
): Promise<VectorRead> {
  const { buckets } = cache;
  const home = buckets[Number.parseInt(queryHash.slice(0, 8), 16) % buckets.length]!;
  const reads = await Promise.all(
    buckets.map((bucket, b) =>
      readWatched(
        cache,
        [
          bucket.keys.searchGenerationKey,
          ...(bucket === home ? [bucket.keys.list(queryHash)] : []),
          ...(b === 0 ? tags.map((t) => bucket.keys.tag(t)) : []),
        ],
        bucket,
      ),
    ),
  );
  const at = buckets.indexOf(home);
  const zero = reads[0]!.values;
  let tag = 0;
  let counted = true;
  const vector = reads.map(({ values, generation }) => {
    const sgen = countedSearch(values[0]);
    // The highest, not the sum (2^52 and up each): exact, and it grows as each does.
    if (sgen > tag) tag = sgen;
    counted &&= sgen > 0;
    return `${generation}.${sgen}`;
  });
  return {
    home,
    list: reads[at]!.values[1] ?? null,
    generation: reads[at]!.generation,
    // One bucket's not counted (see l2/search-generation.ts): 0, no list served or stored.
    tag: counted ? tag : 0,
    vector: vector.join('.'),
    tags: zero.slice(zero.length - tags.length),
  };
}
