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
