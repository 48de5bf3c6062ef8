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
 * Whatever shapes this instance knows live: the reset may have taken the registry and another
 * shape's marks with it (regression-late-reply-shapes, "reset after v1's write"), and with one shape
 * a newer write's copy, which would have refused the row (regression-late-reply-reset). The cost: the
 * writes in flight when an instance finds a reset leave markers, so their keys' next reads go to
 * Postgres (once each; writes taking their versions after the reset is found put rows as ever).
 */

/** Per bucket, the resets its watch had seen when a write took its versions (`SchemaCache.resetsSeen`). */
export type ResetsSeen = readonly number[];

/** Whether `bucket` (index `b` of `buckets`) saw a reset since `since` was taken (never without one). */
export function resetSince(
  buckets: readonly Bucket[],
  b: Bucket | number,
  since: ResetsSeen | undefined,
): boolean {
  if (since === undefined) return false;
  const at = typeof b === 'number' ? b : buckets.indexOf(b);
  const bucket = buckets[at];
  return bucket !== undefined && since[at] !== bucket.watch.resets;
}
