import type { Bucket } from './buckets.js';

/*
 * A committed write's row goes into L2 at the version Postgres gave it, over older copies only, and
 * every write marks its keys under the table's other live shapes (a rolling deploy, see
 * `LiveShapes`). The registry of live shapes lives in Redis: a reset loses it. A write of another
 * shape that took a later version after the reset, before this shape was confirmed live again,
 * marked nothing under this shape: this write's late reply then put its older row in this shape's
 * key for good, over no marker (reliability/test/regression-late-reply-shapes.test.ts, the reset
 * while the reply is held). Nothing in Redis remembers that mark: the write's commit, once its
 * bucket's watch has seen a reset since it took its versions, leaves a superseded marker at each
 * version instead of its rows (a miss: readers read Postgres, no older fill lands under it).
 * Only while this instance knows another shape live: a single-shape app keeps its rows in L2 across
 * a reset (reliability/test/faults-redis.test.ts). Left: an instance that knows no other shape
 * live while one is (it learns them at its next generation read) still puts its row in.
 */

/** Per bucket, the resets its watch had seen when a write took its versions (`SchemaCache.resetsSeen`). */
export type ResetsSeen = readonly number[];

/**
 * Whether `bucket` (index `b` of `buckets`) saw a reset since `since` was taken (never without one)
 * while another shape of the table is known live: with one shape, every write of the key is
 * compared on the key itself (PUT takes nothing older), so the row goes in as before.
 */
export function resetSince(
  buckets: readonly Bucket[],
  b: Bucket | number,
  since: ResetsSeen | undefined,
): boolean {
  if (since === undefined) return false;
  const at = typeof b === 'number' ? b : buckets.indexOf(b);
  const bucket = buckets[at];
  if (bucket === undefined || since[at] === bucket.watch.resets) return false;
  return (bucket.generation?.shapes.others.length ?? 0) > 0;
}
