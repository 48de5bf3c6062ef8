import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import { settlePending } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Withdraws write-behind writes that will not reach Postgres through the queue (a refused enqueue,
 * a write of unknown outcome that landed and still found the queue refusing: see
 * unqueued-writes.ts; a dead letter; a write Postgres refused as older): their pending copies
 * dropped from L2 and L1 unless a newer write replaced them (`cache.drop` at their versions), their
 * pending-index entries settled, then the other instances told (an invalidation at those versions):
 * one that read a pending row drops it from L1 and reads the row before it, one holding a newer
 * keeps it. Untold, they kept a withdrawn row until their L1 TTL (regression-unqueued-unknown-write
 * .test.ts). Resolves whether L2 took both the drop and the settle (a failure is counted and logged
 * by the step that failed, the publish's by the publish).
 */
export async function withdrawWrites(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  publish: Publish,
): Promise<boolean> {
  const dropped = await cache.drop(ctx, keys, versions);
  const settled = await settlePending(ctx, cache, keys, versions);
  await publish(cache, keys, versions, 'invalidate');
  return dropped && settled;
}

/**
 * Records a dead letter's withdrawal in Postgres (`L3Tier.withdraw`), where a Redis gone back to an
 * older snapshot cannot undo it: such a Redis brings back the write's pending row, its pending-index
 * entry and (the Redis Stream queue on it) its message, and the reads that lay pending writes over
 * Postgres, and the flush, then refuse it (reliability/test/probe-restore-dead-letter.test.ts).
 * Resolves whether Postgres took it (true for an L3 without `withdraw`); a failure is counted and
 * logged, and the dead letter waits for it (held: see `failed` in flusher.ts), as it waits for L2
 * (and after L2: a write recorded withdrawn is refused, not dead-lettered, when delivered again).
 *
 * Only dead letters: a refused enqueue, or a landed write of unknown outcome the queue refused again
 * (unqueued-writes.ts), may have reached the queue all the same (the reply lost), and is applied then
 * as ever; its pending row lived only until its withdrawal. A write refused as older is below the
 * version Postgres keeps: nothing lays or applies it.
 */
export async function recordWithdrawal(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
): Promise<boolean> {
  try {
    await cache.l3?.withdraw?.(
      cache.schema,
      keys.map((id, i) => ({ id, version: versions[i]! })),
    );
    return true;
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l3', 'withdraw', err);
    return false;
  }
}
