import { COUNTER_VALUE } from '../l2/scripts.js';
import type { CounterMark } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Postgres' marks of the app's write-behind version counters (`_strata_counters`, see
 * `L3Tier.markCounters`): the greatest version each counter is known to have handed out — its
 * seeds, and the versions its writes are flushed at. Redis restored from an older snapshot brings
 * the counter back below versions Postgres already holds, and with it the tick, the boot marker,
 * the shared writer claim and the L2 rows: an instance that does not remember a newer tick (a new
 * one: every instance restarted) cannot tell from Redis alone. Its writes would take versions at or
 * below stored ones, be acknowledged, and be refused at their flush as older: lost. Postgres is not
 * restored with Redis, so the counter is checked against its mark wherever Postgres is asked anyway
 * (an instance's first write of a schema, its claims in Postgres, a flush that finds a write
 * superseded); one found below its mark is a Redis that went back: the bucket's watch resets (as a
 * tick that went back does), so the counter moves into a new epoch (above every version ever handed
 * out) before this instance hands out another, and the generation moves past the restored rows.
 */

/**
 * Per schema cache and bucket, the greatest mark its counter was found below (`checkCounters`). A
 * write-behind write of that epoch at or below it, refused at its flush as older, may have lost to a
 * write the gone-back counter numbered above it though it came first (see `superseded-epoch.ts`).
 */
const foundBelow = new WeakMap<SchemaCache, Map<number, number>>();

/** The greatest mark bucket `b`'s counter was found below by this instance (0: never). */
export function wentBackBelow(cache: SchemaCache, b: number): number {
  return foundBelow.get(cache)?.get(b) ?? 0;
}

/** The marks of writes (a flush's, a transaction's): per write its table, its counter and its version. */
export function marksOf(
  writes: readonly { cache: SchemaCache; key: string; version: number }[],
): CounterMark[] {
  return writes.map(({ cache, key, version }) => ({
    schema: cache.schema.identity,
    counter: cache.router.of(key).versionKey,
    version,
  }));
}

/**
 * Marks `marks` in Postgres, where the L3 keeps marks. A failure goes to `failed` (counted and
 * logged by the caller) and the caller goes on: the mark is a defence against a rare restore, and
 * failing the flush or seed it rides on would turn a problem with it into a write-behind outage.
 */
export async function markCounters(
  cache: SchemaCache,
  marks: readonly CounterMark[],
  failed: (err: unknown) => void,
): Promise<void> {
  const mark = cache.l3?.markCounters;
  if (!mark || marks.length === 0) return;
  try {
    await mark.call(cache.l3, marks);
  } catch (err) {
    failed(err);
  }
}

/**
 * Compares each bucket's counter with Postgres' mark of it. The mark is read first, the counter
 * after it: every version a mark holds was handed out before the counter's read, so a counter that
 * kept its data is never below it (read at once, a version handed out and marked between the two
 * reads would make a busy app's counter look behind: a needless reset of every instance's caches).
 * A counter below its mark resets its bucket's watch. Resolves how many counters were behind.
 * Throws what L2 or L3 throws.
 */
export async function checkCounters(cache: SchemaCache): Promise<number> {
  const { l2, l3 } = cache;
  if (!l2 || !l3?.counterMarks || cache.writeMode !== 'write-behind') return 0;
  const counters = cache.buckets.map((bucket) => bucket.keys.versionKey);
  const marks = await l3.counterMarks(cache.schema.identity, counters);
  if (marks.length === 0) return 0; // nothing marked (a table new to the app): nothing to compare
  const values = await Promise.all(counters.map((counter) => l2.run(COUNTER_VALUE, [counter], [])));
  let behind = 0;
  cache.buckets.forEach((bucket, b) => {
    const mark = marks.find((m) => m.counter === counters[b]);
    const value = String(values[b] ?? '');
    // A missing counter is seeded from a new epoch by the next write anyway.
    if (!mark || value === '' || Number(value) >= mark.version) return;
    behind += 1;
    const below = foundBelow.get(cache) ?? new Map<number, number>();
    below.set(b, Math.max(below.get(b) ?? 0, mark.version));
    foundBelow.set(cache, below);
    bucket.watch.wentBack(
      `write-behind counter of ${cache.schema.name} (${value}) is below its mark in Postgres (${mark.version})`,
    );
  });
  return behind;
}

/** `checkCounters`, its failure counted and logged (the caller goes on without it). */
export async function checkCountersTolerated(
  ctx: EngineContext,
  cache: SchemaCache,
  op: string,
): Promise<void> {
  try {
    await checkCounters(cache);
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l3', op, err);
  }
}

/**
 * Marks the versions a write-through write reserved from its app's counters (`floors`, per write;
 * `buckets`, each write's bucket, undefined with one): the greatest of each counter. They are
 * stored by the write, so a Redis restored to before them has the counter below Postgres' rows,
 * and only the mark tells. Sent beside the write; a failure is logged, never thrown.
 */
export function markReserved(
  cache: SchemaCache,
  buckets: readonly number[] | undefined,
  floors: readonly (number | undefined)[],
): Promise<void> {
  const greatest = new Map<number, number>();
  floors.forEach((f, i) => {
    const b = buckets?.[i] ?? 0;
    if (f !== undefined && f > (greatest.get(b) ?? 0)) greatest.set(b, f);
  });
  const marks = [...greatest].map(([b, version]) => ({
    schema: cache.schema.identity,
    counter: cache.buckets[b]!.keys.versionKey,
    version,
  }));
  return markCounters(cache, marks, (err) =>
    cache.config.logger.warn('write-through versions reserved, their mark in Postgres not written', {
      schema: cache.schema.name,
      writes: floors.length,
      error: String(err),
    }),
  );
}
