import { messageOf } from '../errors.js';
import type { Row } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';
import type { RefusedSet } from './superseded-epoch.js';

/** A refused (or skipped) write to merge: a set, or without `row` a delete (see `L3Tier.mergeRefused`). */
export type RefusedWrite = Omit<RefusedSet, 'row'> & { readonly row?: Row; readonly replace?: boolean };

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
  refused: readonly RefusedWrite[],
  publish: Publish,
): Promise<boolean> {
  const l3 = cache.l3;
  if (!l3?.mergeRefused) return false;
  const keys = refused.map((r) => r.key);
  cache.beginWrite(keys);
  try {
    const [outcomes = []] = await withTimeout(
      l3.mergeRefused([
        {
          schema: cache.schema,
          writes: refused.map((r) =>
            r.row
              ? { row: r.row, version: r.version, ...(r.replace && { replace: true }) }
              : { id: r.id, version: r.version },
          ),
        },
      ]),
      ctx.config.timeouts.l3,
      `L3 merge (${l3.name})`,
    );
    // A constraint refused these alone (the others merged): their columns keep their values.
    const notMerged = outcomes.find((o) => o.refusedBy !== undefined);
    if (notMerged) {
      ctx.counters.error('l3');
      ctx.config.logger.warn('merge refused by a constraint', {
        schema: cache.schema.name,
        error: messageOf(notMerged.refusedBy),
      });
    }
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

/**
 * After a write that committed (a transaction, or a write-behind batch committed through Postgres
 * while another shape is live): its sets Postgres skipped as older (a later write of the key landed
 * first) take the columns no later write set (`mergeRefusedSets`). The write stands: a failed merge
 * is counted (`errorsBy.l3`) and logged, not the write's failure.
 */
export async function mergeSkipped(
  ctx: EngineContext,
  cache: SchemaCache,
  refused: readonly RefusedWrite[],
  publish: Publish,
  what: string,
): Promise<void> {
  try {
    await mergeRefusedSets(ctx, cache, refused, publish);
  } catch (err) {
    ctx.counters.error('l3');
    ctx.config.logger.warn(`merge of ${what} skipped sets failed`, {
      schema: cache.schema.name,
      error: messageOf(err),
    });
  }
}
