import { dropAll } from './cache-forget.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { readWatched } from './l2-row-reads.js';
import { readL2 } from './l2-values.js';
import { orphanedPending } from './orphaned-pending.js';
import { otherShapes } from './pending-elsewhere.js';
import { readRows } from './read-cascade.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/** Whether a row exists, asking the tiers in order and loading no columns from L3. */
export async function existsOne(ctx: EngineContext, cache: SchemaCache, id: Id): Promise<boolean> {
  const key = idKey(id);
  const entry = cache.l1?.getEntry(key);
  // A row kept only for grace says nothing about now.
  if (entry && cache.aging?.l1Age(entry.expiresAt) !== 'grace') return entry.value !== ABSENT;
  let queued = false;
  if (cache.l2) {
    try {
      const bucket = cache.buckets[cache.router.bucket(key)];
      const { values, generation } = await readWatched(cache, cache.rowKeys([key]), bucket);
      const hit = readL2(cache, ctx, key, values[0] ?? null, generation);
      // A tagged row whose tags moved (or are not known here) says nothing: Postgres answers.
      const tagged = hit && 'row' in hit && hit.stamp !== undefined;
      if (hit && hit.age !== 'grace' && (!tagged || cache.tags!.check(hit.row, hit.stamp!) === true))
        return !('absent' in hit);
      // A queued write L2 does not answer for (a pending row a hard move orphaned, or a write
      // another live shape queued): Postgres alone says what was there before it, so the key is
      // read as `find` reads it, which answers such writes (orphaned-pending.ts,
      // pending-elsewhere.ts). Before, `exists` said false of a queued insert `find` answered, and
      // true of a queued delete (reliability/test/probe-exists-pending.test.ts).
      queued =
        orphanedPending(cache, key, values[0] ?? null, generation) !== undefined ||
        // The load reads other shapes' queued writes for a write-behind schema only (pendingElsewhere).
        (cache.writeMode === 'write-behind' && otherShapes(cache).length > 0);
    } catch (err) {
      ctx.tolerate(cache.schema.name, 'l2', 'exists', err);
    }
  }
  if (queued) return (await readRows(ctx, cache, [id]))[0] !== null;
  if (!cache.l3) return false;
  try {
    return await cache.l3.exists(cache.schema, id);
  } catch (err) {
    throw ctx.l3Error(cache.schema.name, 'exists', err);
  }
}

/**
 * Drops one key's cached copies in L1 and L2, here and on the other instances: the next read
 * reloads it. A write-behind row still pending its flush stays in L2 (Postgres does not have it
 * yet: dropping it would lose sight of an acknowledged write), and so is what the next read returns.
 * `soft` (`strata.expire`): the L2 row is kept but expired (see DROP's `expire`): within the
 * schema's `stale` window the next read answers it and refreshes, else it reloads, keeping it for
 * `grace`; without windows it is the same as a drop.
 */
export async function invalidateOne(
  ctx: EngineContext,
  cache: SchemaCache,
  coherence: Coherence,
  id: Id,
  soft = false,
): Promise<void> {
  const key = idKey(id);
  await cache.drop(ctx, [key], soft ? 'expire' : 'unlessPending');
  await coherence.publish(cache, [key], null, 'invalidate');
}

/**
 * One write moves the schema's L2 generation on (every key holds it, so all cached rows are
 * orphaned at once), L1 is cleared, and the other instances are told to do the same and re-read
 * the generation. Without a bus, they re-read it within 5 s; their L1 entries live out their TTL.
 * Write-behind rows not yet flushed stay readable: the move is soft (one step within the era, see
 * `GENERATION_ERA`), and a pending row of the era is not a cached copy but the newest write.
 */
export async function invalidateSchema(cache: SchemaCache, coherence: Coherence): Promise<void> {
  await dropAll(cache);
  await coherence.publish(cache, null, null, 'invalidateAll');
}
