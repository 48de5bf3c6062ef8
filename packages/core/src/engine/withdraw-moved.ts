import type { QueuedWrite } from '../queue/types.js';
import { adminOperation } from './admin-op.js';
import { ownCache } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';
import type { Strata } from './strata.js';
import { recordWithdrawal, withdrawWrites } from './withdraw.js';
import { withdrawalsSent } from './withdrawals-sent.js';

/** What {@link withdrawMoved} did with each write, by its index in the call's list. */
export interface WithdrawMovedResult {
  /** Their copies are gone from L2 (unless a newer write had replaced them) and the other instances told. */
  readonly withdrawn: number[];
  /** L2 or Postgres did not take the withdrawal: call again with these later. */
  readonly failed: number[];
  /**
   * Not this instance's: another keyPrefix's write, a table it does not register (with an L3), or a
   * write of unknown outcome (version -1: which version it landed at, if any, is Redis' to say).
   */
  readonly skipped: number[];
}

/**
 * Withdraws the cached copies of write-behind writes a queue platform gave up on by itself (a
 * Cloudflare Queue past the consumer's `max_retries` moves a message to its `dead_letter_queue`
 * as sent: Strata never saw it dead-lettered). Each write's pending row goes from L2 and its
 * pending-index entry is settled, at its own version only (a newer write's copy stays), then the
 * other instances are told (an invalidation at that version), and the withdrawal is recorded in
 * Postgres (`recordWithdrawal`), as for a dead letter of the flush: the same write delivered again is
 * refused.
 * A write Postgres did apply loses only its copy: the next read fills from Postgres. Resolves once
 * the invalidations have gone. An admin operation, in `@strata/core/admin`, so that a Worker that
 * never calls it does not bundle it.
 * @example
 * import { withdrawMoved } from '@strata/core/admin';
 * const { failed } = await withdrawMoved(strata, [write]); // write: the dead-letter message's body
 */
export function withdrawMoved(strata: Strata, writes: readonly QueuedWrite[]): Promise<WithdrawMovedResult> {
  return adminOperation(strata, 'withdrawMoved', {}, async ({ engine }) => {
    const { ctx, coherence, lookup } = engine;
    const result = { withdrawn: [] as number[], failed: [] as number[], skipped: [] as number[] };
    const bySchema = new Map<SchemaCache, number[]>();
    for (const [i, write] of writes.entries()) {
      const cache = ownCache(ctx, lookup, write);
      if (!cache?.l2 || !cache.l3 || write.version < 0) result.skipped.push(i);
      else bySchema.set(cache, [...(bySchema.get(cache) ?? []), i]);
    }
    for (const [cache, indexes] of bySchema) {
      const keys = indexes.map((i) => writes[i]!.id);
      const versions = indexes.map((i) => writes[i]!.version);
      const took = await withdrawWrites(ctx, cache, keys, versions, (c, k, v, op) =>
        coherence.publish(c, k, v, op),
      );
      // Recorded in Postgres too, as a dead letter of the flush is (see `recordWithdrawal`): a Redis
      // gone back to an older snapshot would bring the pending row back. Harmless where Postgres
      // applied the write: a withdrawal at or below the key's stored version changes nothing.
      const recorded = took && (await recordWithdrawal(ctx, cache, keys, versions));
      // In a dead-letter store already (the platform's): its withdrawal may be cleaned up once reached.
      if (recorded)
        await withdrawalsSent(
          ctx,
          lookup,
          indexes.map((i) => writes[i]!),
        );
      (recorded ? result.withdrawn : result.failed).push(...indexes);
    }
    await ctx.settled();
    return result;
  });
}
