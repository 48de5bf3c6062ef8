import { UNMARK } from '../l2/scripts.js';
import type { EngineContext } from './context.js';
import { otherShapes } from './pending-elsewhere.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A write-through write or a transaction marks the queued write-behind writes of its keys as
 * superseded where it takes its versions (RESERVE_THROUGH, RESERVE): it carries their columns, so
 * a partial set made before it commits must not carry them too (it would write their older values
 * over the ones it set). When Postgres refuses it, nothing superseded them: the marks are taken
 * back, or the next write of the key that leaves columns out would carry none of their columns and,
 * landing above them, lose them at their flush (reliability/test/probe-hostile-8.test.ts). A write
 * whose outcome is unknown keeps them (it may have committed).
 */

/**
 * The shapes whose pending indexes a reservation marks: this schema's, then the table's other live
 * ones of its codec (the ones `RESERVE_THROUGH` also peeks, so they come first), then those of
 * another codec (a mark needs no decoding). A rolling deploy's other version queues its writes in
 * its own index only, and its partial sets read its own marks: a transaction of this version that
 * marked only this shape's index let them carry the columns it superseded
 * (reliability/test/probe-marks-shapes.test.ts).
 */
export function markedShapes(cache: SchemaCache): readonly string[] {
  const others = otherShapes(cache);
  const foreign = otherShapes(cache, true);
  return others.length + foreign.length === 0
    ? [cache.keys.shape]
    : [cache.keys.shape, ...others, ...foreign];
}

/**
 * Takes back the marks of `keys` left at `versions` (undefined: none taken there) in every live
 * shape's pending index (see `markedShapes`), one request per bucket and shape; a failure is
 * tolerated (counted, logged): the marks then stay until the queued writes' flush.
 */
export async function unmarkSuperseded(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly (number | undefined)[],
): Promise<void> {
  const l2 = cache.l2;
  const marked = keys.flatMap((_, i) => (versions[i] === undefined ? [] : [i]));
  if (!l2 || marked.length === 0) return;
  const shapes = markedShapes(cache);
  const picked = marked.map((i) => keys[i]!);
  try {
    await cache.byBucket(picked, async ({ keys: space }, at) => {
      const mine = at ?? picked.map((_, j) => j);
      const args = mine.map((j) => String(versions[marked[j]!]));
      await Promise.all(
        shapes.map((shape) =>
          l2.run(
            UNMARK,
            [space.pendingIndexOf(shape), ...mine.map((j) => space.rowOf(shape, picked[j]!))],
            args,
          ),
        ),
      );
      return [];
    });
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'unmark', err);
  }
}
