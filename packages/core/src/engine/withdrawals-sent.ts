import type { WithdrawnWrite } from '../l3/types.js';
import type { QueuedWrite } from '../queue/types.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Tells Postgres that these writes, recorded withdrawn (`FlushOutcome.dead`'s `withdrawn`, a write
 * `withdrawMoved` recorded), are in a dead-letter store now (`L3Tier.withdrawalsSent`): only then may a withdrawal cleanup
 * remove them. Before, a dead letter whose send failed could lose its withdrawal to another dead
 * letter's cleanup (a later write of its key had landed) before its message was delivered again;
 * refused as older then, it was acked: told to `onWriteError`, in no store
 * (regression-withdrawal-swept-unsent.test.ts). One statement per table. A failure is counted and
 * logged: those withdrawals stay (the table only grows by them), nothing else changes.
 */
export async function withdrawalsSent(
  ctx: EngineContext,
  lookup: (identity: string) => SchemaCache | undefined,
  sent: readonly QueuedWrite[],
): Promise<void> {
  const bySchema = new Map<SchemaCache, WithdrawnWrite[]>();
  for (const write of sent) {
    const cache = lookup(write.schema);
    if (!cache?.l3?.withdrawalsSent) continue;
    const writes = bySchema.get(cache) ?? [];
    writes.push({ id: write.id, version: write.version });
    bySchema.set(cache, writes);
  }
  for (const [cache, writes] of bySchema) {
    try {
      await cache.l3!.withdrawalsSent!(cache.schema, writes);
    } catch (err) {
      ctx.tolerate(cache.schema.name, 'l3', 'mark withdrawals sent', err);
    }
  }
}
