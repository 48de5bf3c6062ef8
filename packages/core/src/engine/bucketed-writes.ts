import {
  type OrderedWrite,
  type OrderOptions,
  reserveIn,
  type WrittenInOrder,
  writeOrderedIn,
} from './ordered-writes.js';
import { peekIn } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * Write-behind (and L2-only schemas) over several buckets (`config.buckets` > 1, Redis Cluster
 * layout C: docs/cluster-notes.md): each bucket's writes take versions from its own counter in one
 * script on its slot, and its pending index is in that slot too. The halves of `writeOrdered`,
 * `reserveVersions` and `peekPending` that split a batch by bucket, passed in with
 * `clusterBuckets` (see `Bucketing`) so that a Worker, always on one bucket, does not bundle them.
 */

/** `writeOrdered` over several buckets: one script per bucket touched (each on its slot, with its own counter and stream), in parallel; atomic per bucket, not across them (as setMany). */
export async function writeOrderedByBucket(
  cache: SchemaCache,
  writes: readonly OrderedWrite[],
  options: OrderOptions,
): Promise<WrittenInOrder | undefined> {
  const { enqueue, expected } = options;
  let moved = false;
  const merged = await cache.byBucket(
    writes.map((w) => w.key),
    async (bucket, at) => {
      const b = cache.buckets.indexOf(bucket);
      const mine = pickAt(writes, at);
      const done = await writeOrderedIn(cache, bucket, mine, {
        ...options,
        ...(enqueue && {
          enqueue: {
            stream: enqueue.streams?.[b] ?? enqueue.stream,
            field: enqueue.field,
            heads: pickAt(enqueue.heads, at),
          },
        }),
        ...(expected && { expected: pickAt(expected, at) }),
      });
      if (!done) moved = true;
      return mine.map((_, j) => (done ? [done.versions[j]!, done.held[j]!] : [0, false]));
    },
  );
  if (moved) return undefined;
  const pairs = merged as [number, boolean][];
  return { versions: pairs.map((p) => p[0]), held: pairs.map((p) => p[1]) };
}

/**
 * `reserveVersions` over several buckets: from each key's bucket's counter, each bucket checking
 * the `expected` versions of its own keys. Undefined when a key in any bucket moved (the versions
 * other buckets took are then skipped numbers).
 */
export async function reserveByBucket(
  cache: SchemaCache,
  keys: readonly string[],
  expected?: ReadonlyMap<string, string>,
): Promise<number[] | undefined> {
  let moved = false;
  const versions = await cache.byBucket(keys, async (bucket, at) => {
    const mine = pickAt(keys, at);
    const held = expected && new Map([...expected].filter(([key]) => mine.includes(key)));
    const taken = await reserveIn(cache, bucket, mine, held);
    if (!taken) moved = true;
    return taken ?? mine.map(() => 0);
  });
  return moved ? undefined : (versions as number[]);
}

/** `peekPending` over several buckets: one PENDING `peek` per bucket touched (its index is in its slot), in parallel. */
export async function peekByBucket(
  cache: SchemaCache,
  keys: readonly string[],
  shape: string,
  marks = false,
): Promise<unknown[]> {
  const pairs = await cache.byBucket(keys, async (bucket, at) => {
    const mine = pickAt(keys, at);
    const reply = await peekIn(cache, bucket.keys, mine, shape, marks);
    return mine.map((_, j) => [reply[2 * j], reply[2 * j + 1]]);
  });
  return (pairs as unknown[][]).flat();
}

/** The items at positions `at` (all of them when undefined: see `SchemaCache.byBucket`). */
function pickAt<T>(items: readonly T[], at: readonly number[] | undefined): T[] {
  return at ? at.map((i) => items[i]!) : [...items];
}
