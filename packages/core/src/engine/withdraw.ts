import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Withdraws write-behind writes the queue did not take (a refused enqueue, or a write of unknown
 * outcome that landed and still found the queue refusing: see unqueued-writes.ts): their pending
 * copies dropped from L2 and L1 unless a newer write replaced them (`cache.drop` at their versions),
 * then the other instances told, as a dead letter is (an invalidation at those versions): one that
 * read a pending row drops it from L1 and reads the row before it, one holding a newer keeps it.
 * Untold, they kept the withdrawn row until their L1 TTL (regression-unqueued-unknown-write.test.ts). Told
 * only once L2 took the drop: before, a read there would take the same pending row back. Resolves
 * whether L2 took it (a failure is counted and logged by the drop, the publish's by the publish).
 */
export async function dropWithdrawn(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  publish: Publish,
): Promise<boolean> {
  const dropped = await cache.drop(ctx, keys, versions);
  if (dropped) await publish(cache, keys, versions, 'invalidate');
  return dropped;
}
