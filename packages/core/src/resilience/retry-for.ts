import type { EngineContext } from '../engine/context.js';
import type { Tier } from '../observability/metrics.js';
import { wait } from './wait.js';

/*
 * Background work tried again later (a reset's generation read, a restore after a Redis reset, a
 * write of unknown outcome the queue did not take), one way for all of it:
 *
 * - each failed attempt is counted and logged (`ctx.tolerate`: `stats().errorsBy[tier]`, metric
 *   `error`), never dropped silently;
 * - the waits are core's one wait (`wait`: the host's `scheduler.after`, tests drive it, else the
 *   runtime's `setTimeout`), and are tracked (`settled()`, a host's `waitUntil`);
 * - no attempt begins once `close()` began (`ctx.closing`), nor past the bound: no wait is begun
 *   that would end past it (monotonic time, the attempts' own included).
 */

/** Where a run of retries is: the next wait (ms), doubling, and the bound (`performance.now()`). */
export interface RetryAt {
  readonly delay: number;
  readonly until: number;
}

/** What a failed attempt is counted and logged as (see `EngineContext.tolerate`). */
export type RetryLabel = readonly [schema: string, tier: Tier, op: string];

/** The start of a run of retries: first wait `delay`, attempts begun for `forMs` from now. */
export function retryAt(delay: number, forMs: number): RetryAt {
  return { delay, until: performance.now() + forMs };
}

/**
 * An attempt failed with `err` (counted and logged here; `undefined`: the attempt counted its own):
 * resolves, once the wait is over, the next point (its wait doubled up to `maxDelay`), or undefined
 * at once when close began or the wait would end past the bound, and after it when close began
 * meanwhile. The wait is tracked. For work that asks for its next attempt itself (see `retryFor`).
 */
export function retryAfter(
  ctx: EngineContext,
  err: unknown,
  at: RetryAt,
  maxDelay: number,
  label: RetryLabel,
): Promise<RetryAt | undefined> {
  if (err !== undefined) ctx.tolerate(...label, err);
  if (ctx.closing || performance.now() + at.delay >= at.until) return Promise.resolve(undefined);
  const waited = wait(ctx, at.delay).then(() =>
    ctx.closing ? undefined : { delay: Math.min(at.delay * 2, maxDelay), until: at.until },
  );
  ctx.track(waited);
  return waited;
}

/**
 * Runs `step` until it succeeds (resolves true), tried again as {@link retryAfter} says. `step`
 * resolves false when it failed and counted its failure itself; it throws when it failed otherwise
 * (counted and logged here). Tracked; never rejects. Resolves whether `step` succeeded (false: given
 * up).
 */
export function retryFor(
  ctx: EngineContext,
  step: () => Promise<boolean>,
  at: RetryAt,
  maxDelay: number,
  label: RetryLabel,
): Promise<boolean> {
  const work = (async () => {
    for (
      let next: RetryAt | undefined = at;
      next;
      next = await retryAfter(ctx, undefined, next, maxDelay, label)
    ) {
      try {
        if (await step()) return true;
      } catch (err) {
        ctx.tolerate(...label, err);
      }
    }
    return false;
  })();
  ctx.track(work);
  return work;
}
