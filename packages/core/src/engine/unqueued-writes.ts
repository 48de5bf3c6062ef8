import { messageOf } from '../errors.js';
import type { QueuedWrite, WriteQueue } from '../queue/types.js';
import { retryAt, retryFor } from '../resilience/retry-for.js';
import { DUE_SLACK_MS, landed } from './conditional-writes.js';
import type { EngineContext } from './context.js';
import type { Publish } from './flusher.js';
import { RESTORE_FOR_MS, RESTORE_RETRY_MAX_MS, RESTORE_RETRY_MS } from './l2-reset.js';
import type { SchemaCache } from './schema-cache.js';
import { withdrawWrites } from './withdraw.js';

/**
 * Conditional writes (see conditional-writes.ts) whose enqueue failed too, the queue down as well as
 * L2's reply lost: no queue entry stands for them, and a script that ran left its rows pending (read
 * by every instance) for a week with no flush. So this instance settles them itself: once Redis'
 * clock is past their deadline (the flush's reading, `landed`), one that did not land is done
 * (`conditionalDropped`); those that landed are queued again at their versions (the queue may be
 * back by then) and, if the queue still refuses, withdrawn as the two-request path withdraws a
 * refused enqueue (their copies dropped unless a newer write replaced them, the other instances
 * told: `withdrawWrites`; their index entries settled): every tier then keeps what it held before, which the caller's error allowed
 * (`queued: false`). Every step can be run again, so a failed one (L2 unreachable) runs the whole
 * again as a failed restore after a Redis reset is (`retryFor`: 100 ms doubling to 2 s), for 30 s
 * past the deadline, and not once `close()` began. Tracked: `settled()` (a host's `waitUntil`),
 * `flushDirty()` and `close()` wait for it.
 */
export function settleUnqueued(
  ctx: EngineContext,
  cache: SchemaCache,
  queue: WriteQueue,
  publish: Publish,
  writes: readonly QueuedWrite[],
): void {
  const name = cache.schema.name;
  const waitMs = ctx.config.timeouts.l2 + DUE_SLACK_MS;
  // The writes that landed, at their versions, once decided.
  let done: QueuedWrite[] | undefined;
  const step = async (): Promise<boolean> => {
    if (!done) {
      const found: QueuedWrite[] = [];
      for (const w of writes) {
        const version = await landed(ctx, cache, w, waitMs);
        if (version === null) throw new Error('its deadline is still ahead');
        const { conditional: _, ...write } = w;
        if (version !== undefined) found.push({ ...write, version });
      }
      ctx.counters.conditionalDropped += writes.length - found.length;
      done = found;
    }
    if (done.length === 0) return true;
    const refused = await queue.enqueue(done).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!refused) {
      ctx.counters.enqueued += done.length;
      return true;
    }
    // Still refused: withdrawn (see above). A withdrawal L2 did not take counted itself.
    ctx.counters.error('queue');
    ctx.config.logger.warn('write-behind: queue refused a landed write: withdrawn', {
      schema: name,
      error: messageOf(refused),
    });
    return withdrawWrites(
      ctx,
      cache,
      done.map((w) => w.id),
      done.map((w) => w.version),
      publish,
    );
  };
  const at = retryAt(RESTORE_RETRY_MS, waitMs + RESTORE_FOR_MS);
  const work = retryFor(ctx, step, at, RESTORE_RETRY_MAX_MS, [name, 'l2', 'settle unqueued write']).then(
    (settled) => {
      // Its row stays pending until it expires: said once more, as such.
      if (!settled) ctx.config.logger.warn('write-behind: unsettled write left pending', { schema: name });
    },
  );
  ctx.unqueued.add(work);
  void work.finally(() => ctx.unqueued.delete(work));
}
