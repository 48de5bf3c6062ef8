import type { ResolvedConfig } from '../config.js';
import type { Bucket } from './buckets.js';
import type { OrderedWrite, OrderOptions, WrittenInOrder } from './ordered-writes.js';
import type { SchemaCache } from './schema-cache.js';
import type { VectorRead } from './search-vector.js';

/**
 * What an app over several buckets (`config.buckets` > 1: Redis Cluster over TCP, a Node thing)
 * needs beyond the key layout: its start-up refusals, the searches over every bucket, and the
 * split of key requests and write-behind batches by bucket (one script per bucket). Passed in
 * (`config.bucketing: clusterBuckets`, which adapter-node's createStrata passes), so that a Worker,
 * always on one bucket, does not bundle them.
 *
 * @example
 * import { clusterBuckets, Strata } from '@strata/core';
 * const strata = new Strata({ l2, l3, keyPrefix: 'app', buckets: 16, bucketing: clusterBuckets, schemas });
 */
export interface Bucketing {
  /** Refuses at start-up (INVALID_CONFIG, nothing opened) what buckets cannot serve. */
  check(config: ResolvedConfig): void;
  /** A cached search's list and the vector of every bucket's search generation (see search-vector.ts). */
  readVector(cache: SchemaCache, queryHash: string, tags: readonly string[]): Promise<VectorRead>;
  /** `cache.byBucket` over several buckets: `run` per bucket `keys` touch, the replies merged in key order. */
  byBucket(cache: SchemaCache, keys: readonly string[], run: RunPerBucket): Promise<unknown[]>;
  /** `writeOrdered` over several buckets: one script per bucket touched, each with its own counter (and stream). */
  writeOrdered(
    cache: SchemaCache,
    writes: readonly OrderedWrite[],
    options: OrderOptions,
  ): Promise<WrittenInOrder | undefined>;
  /** `reserveVersions` over several buckets: from each key's bucket's counter. */
  reserveVersions(
    cache: SchemaCache,
    keys: readonly string[],
    expected?: ReadonlyMap<string, string>,
  ): Promise<number[] | undefined>;
  /** `peekPending` over several buckets: one PENDING `peek` per bucket touched (`marks`: see `peekIn`). */
  peekPending(
    cache: SchemaCache,
    keys: readonly string[],
    shape: string,
    marks?: boolean,
  ): Promise<unknown[]>;
}

/** One bucket's request: the positions of its keys among all (undefined: all of them), its reply's items in that order. */
export type RunPerBucket = (bucket: Bucket, at: readonly number[] | undefined) => Promise<readonly unknown[]>;
