import { waitShared } from '../resilience/bounded-share.js';
import type { EngineContext } from './context.js';
import type { Loaded } from './loaded.js';

/**
 * A load another read started (request coalescing), waited for at most the longest a live load
 * takes (an L2 call's deadline and an L3 call's), then this read's own load (`own`: listed in its
 * place, so reads after it join the new one).
 *
 * Why: in a Worker the read that started the load may belong to a request that has ended; workerd
 * cancelled its fetches (a cancelled fetch never settles) and drops its timers (its deadlines never
 * fire), so its load never settles. Joined unbounded, it would hold every later request reading the
 * key, for the isolate's life. A load that is only slow costs a second read of the key, no more.
 *
 * @example
 * const found = await joinLoad(ctx, running, () => startLoad(ctx, cache, [key], [id]));
 */
export function joinLoad(
  ctx: EngineContext,
  running: Promise<Loaded>,
  own: () => Promise<Loaded>,
): Promise<Loaded> {
  const { l2, l3 } = ctx.config.timeouts;
  return waitShared(running, ctx.waits.now(), l2 + l3, own, ctx.waits);
}
