import type { Delivery } from '../queue/types.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/** The dead-letter reason of a write delivered again after its withdrawal was recorded. */
export const WITHDRAWN_AGAIN = 'withdrawn: given up on at an earlier delivery';

/** What `withdrawnAgain` found among one schema's refused writes. */
export interface WithdrawnAgain {
  /** Recorded withdrawn (a restored copy: and not known sent): to be dead-lettered (again). */
  readonly withdrawn: ReadonlySet<string>;
  /** Postgres did not say (a failure, counted and logged): held and delivered again. */
  readonly unknown: boolean;
}

/**
 * Which of the deliveries `write` refused (not applied, not a fold) are recorded withdrawn
 * (`L3Tier.withdrawnAmong`), by handle. A write is recorded withdrawn before its dead letter is
 * sent (flusher.ts `failed`), so a send that fails (a dead-letter queue or store down, the Redis
 * Stream queue's Redis gone) leaves the message to be delivered again; refused then as older is,
 * and acked, it reached no dead-letter store while `onWriteError` was told it was given up on.
 * Dead-lettered again instead, every withdrawn write ends in the store: once, where the queue
 * drops a message as it stores its dead letter (the Redis Stream queue's one script), or takes a
 * message whose send failed back (Cloudflare's retry). A message a Redis rollback brought back with
 * its stream brings its dead letter's loss with it (the dead-letter stream went back too).
 *
 * A copy its writer queued again after a Redis reset (`QueuedWrite.restored`) is dead-lettered only
 * while its dead letter is not known sent (`WithdrawalFound.sent`; not said: not known). Known sent,
 * the store has it: acked, as the queue's original dead-lettered on its own is. Not known, the reset
 * may have taken the original unsent (the Redis Stream queue on the Redis that reset, its move to
 * the dead-letter stream failed); acked, the write was in no store
 * (reliability/test/regression-restored-dead-letter-unsent.test.ts). Where the queue kept the
 * original, both may be sent: twice at worst, never lost.
 *
 * One statement, only when a batch had writes refused (redeliveries, writes a transaction passed).
 */
export async function withdrawnAgain(
  ctx: EngineContext,
  cache: SchemaCache,
  refused: readonly { key: string; delivery: Delivery }[],
): Promise<WithdrawnAgain> {
  const ask = cache.l3?.withdrawnAmong;
  if (!ask || refused.length === 0) return { withdrawn: new Set(), unknown: false };
  try {
    const found = await ask.call(
      cache.l3,
      cache.schema,
      refused.map(({ key, delivery }) => ({ id: key, version: delivery.write.version })),
    );
    const sent = new Map(found.map((w) => [`${w.version}\u0000${w.id}`, w.sent === true]));
    const withdrawn = refused.filter(({ key, delivery }) => {
      const known = sent.get(`${delivery.write.version}\u0000${key}`);
      return known !== undefined && !(delivery.write.restored && known);
    });
    return { withdrawn: new Set(withdrawn.map(({ delivery }) => delivery.handle)), unknown: false };
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l3', 'read withdrawals', err);
    return { withdrawn: new Set(), unknown: true };
  }
}
