import type { ResolvedConfig } from '../config.js';
import { StrataError } from '../errors.js';
import { peekByBucket, reserveByBucket, writeOrderedByBucket } from './bucketed-writes.js';
import type { Bucketing, RunPerBucket } from './bucketing.js';
import type { SchemaCache } from './schema-cache.js';
import { readVector } from './search-vector.js';

/**
 * Buckets for a Redis Cluster (`config.buckets` > 1, layout C: docs/cluster-notes.md), passed in as
 * `config.bucketing` (adapter-node's createStrata does): their refusals, their searches, and key
 * requests and write-behind batches split by bucket.
 * @example new Strata({ l2, l3, keyPrefix: 'shop', buckets: 16, bucketing: clusterBuckets });
 */
export const clusterBuckets: Bucketing = {
  check: checkBuckets,
  readVector,
  byBucket,
  writeOrdered: writeOrderedByBucket,
  reserveVersions: reserveByBucket,
  peekPending: peekByBucket,
};

/**
 * Refuses at start-up (INVALID_CONFIG, nothing opened) what buckets cannot serve: a keyPrefix with
 * a `{tag}` of its own (Redis hashes the first `{…}` only: Strata adds one per bucket). The change
 * relay is served: its state in bucket 0's slot, each row marked in its own bucket (`relayKeys`).
 */
function checkBuckets({ keyPrefix }: ResolvedConfig): void {
  if (keyPrefix.includes('{')) {
    throw new StrataError(
      'INVALID_CONFIG',
      'config.keyPrefix: has a hash tag: with buckets, Strata adds one per bucket',
      {
        details: { field: 'keyPrefix' },
      },
    );
  }
}

/** One request per bucket `keys` touch, in parallel; the replies' items put back at their keys' positions. */
async function byBucket(cache: SchemaCache, keys: readonly string[], run: RunPerBucket): Promise<unknown[]> {
  const groups = new Map<number, number[]>();
  keys.forEach((key, i) => {
    const b = cache.router.bucket(key);
    groups.get(b)?.push(i) ?? groups.set(b, [i]);
  });
  const merged = new Array<unknown>(keys.length);
  await Promise.all(
    [...groups].map(async ([b, at]) => {
      const reply = await run(cache.buckets[b]!, at);
      at.forEach((i, j) => {
        merged[i] = reply[j];
      });
    }),
  );
  return merged;
}
