import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';
import type { RefusedSet } from './superseded-epoch.js';

/**
 * Write-behind sets refused at their flush as older: each applies, in Postgres, the columns it set
 * that no write of a higher version set since (`L3Tier.mergeRefused`). A write of a later epoch
 * (another app that took the table over, or this app after its Redis lost the counter) merged over
 * Postgres' row without them, and they would be lost (reliability/test/probe-hostile-6.test.ts);
 * a write of this app and epoch carried them, and its version row says so: nothing is set again.
 * The key's version stays the newer write's, so the copies of the row before the merge are dropped
 * (fenced meanwhile, as a re-encryption does), here and, up to it, in the app's other instances.
 * Resolves false when the L3 cannot merge; throws as the L3 call does (the caller retries).
 */
export async function mergeRefusedSets(
  ctx: EngineContext,
  cache: SchemaCache,
  refused: readonly RefusedSet[],
  publish: Publish,
): Promise<boolean> {
  const l3 = cache.l3;
  if (!l3?.mergeRefused) return false;
  const keys = refused.map((r) => r.key);
  cache.beginWrite(keys);
  try {
    const [outcomes = []] = await withTimeout(
      l3.mergeRefused([
        { schema: cache.schema, writes: refused.map((r) => ({ row: r.row, version: r.version })) },
      ]),
      ctx.config.timeouts.l3,
      `L3 merge (${l3.name})`,
    );
    const merged = refused.flatMap((r, i) =>
      outcomes[i]?.applied ? [{ key: r.key, version: outcomes[i]!.version }] : [],
    );
    if (merged.length === 0) return true;
    const [mergedKeys, upTo] = [merged.map((m) => m.key), merged.map((m) => m.version)];
    // A pending row of a write queued since stays (it carries what it merged over; its flush merges).
    await cache.drop(ctx, mergedKeys, 'unlessPending');
    await publish(cache, mergedKeys, upTo, 'invalidate');
    return true;
  } finally {
    cache.endWrite(keys);
  }
}
