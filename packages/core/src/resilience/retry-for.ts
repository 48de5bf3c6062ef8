import type { EngineContext } from '../engine/context.js';
import type { Tier } from '../observability/metrics.js';

/**
 * Background work tried again later (a reset's generation read, a restore after a Redis reset, a
 * write of unknown outcome the queue did not take), one way for all of it:
 *
 * - each failed attempt is counted and logged (`ctx.tolerate`: `stats().errorsBy[tier]`, metric
 *   `error`), never dropped silently;
 * - waits come from the host's `scheduler.after` (tests drive it), else the runtime's `setTimeout`,
 *   and are tracked (`settled()`, a host's `waitUntil`);
 * - no attempt begins once `close()` began (`ctx.closing`), nor after the bound: no wait is begun
 *   that would end past it (monotonic time, from when the retries were set up).
 */
export interface RetryOptions {
  /** The wait after the first failed attempt (ms). */
  readonly delay: number;
  /** Each later wait doubles, up to this (default `delay`: every wait the same). */
  readonly maxDelay?: number;
  /** For how long from now attempts may begin (ms). */
  readonly forMs: number;
  /** What a failed attempt is counted and logged as (see `EngineContext.tolerate`). */
  readonly label: { readonly schema: string; readonly tier: Tier; readonly op: string };
}

/** One point of a run of retries: the wait before the next attempt, and the bound (immutable). */
export class Retry {
  /** Monotonic (`performance.now()`) time past which no attempt begins. */
  readonly until: number;

  constructor(
    readonly ctx: EngineContext,
    readonly options: RetryOptions,
    readonly delay = options.delay,
    until?: number,
  ) {
    this.until = until ?? performance.now() + options.forMs;
  }

  /**
   * An attempt failed with `err` (counted and logged here; `undefined`: the attempt counted its own
   * failure): `again` is called with the next point after the wait, unless close began or the wait
   * would end past the bound. The wait is tracked. Says whether `again` will be called (close may
   * still begin during the wait: then it is not).
   */
  later(err: unknown, again: (next: Retry) => void): boolean {
    const next = this.#after(err);
    if (!next) return false;
    this.ctx.track(
      wait(this.ctx, this.delay).then(() => {
        if (!this.ctx.closing) again(next);
      }),
    );
    return true;
  }

  /** The next point, or undefined when no attempt may follow (see {@link later}). */
  #after(err: unknown): Retry | undefined {
    const { ctx, options } = this;
    if (err !== undefined) ctx.tolerate(options.label.schema, options.label.tier, options.label.op, err);
    if (ctx.closing || performance.now() + this.delay >= this.until) return undefined;
    const delay = Math.min(this.delay * 2, options.maxDelay ?? options.delay);
    return new Retry(ctx, options, delay, this.until);
  }

  /** The attempts of {@link retryFor}, in turn. */
  async run(step: () => Promise<boolean>): Promise<boolean> {
    for (let at: Retry | undefined = this; ; ) {
      let err: unknown;
      try {
        if (await step()) return true;
      } catch (e) {
        // Never undefined, so that `#after` counts it (a rejection with no reason still failed).
        err = e ?? new Error('the attempt failed');
      }
      const next: Retry | undefined = at.#after(err);
      if (!next) return false;
      await wait(at.ctx, at.delay);
      if (at.ctx.closing) return false;
      at = next;
    }
  }
}

/**
 * Runs `step` until it succeeds (resolves true), tried again as {@link RetryOptions} say. `step`
 * resolves false when it failed and counted its failure itself; it throws when it failed otherwise
 * (counted and logged here). Tracked; never rejects. Resolves whether `step` succeeded (false: given up).
 */
export function retryFor(
  ctx: EngineContext,
  step: () => Promise<boolean>,
  options: RetryOptions,
): Promise<boolean> {
  const work = new Retry(ctx, options).run(step);
  ctx.track(work);
  return work;
}

/** Resolves after `ms` on the host's one-shot timer (`scheduler.after`), else on `setTimeout`. */
function wait(ctx: EngineContext, ms: number): Promise<void> {
  const scheduler = ctx.config.scheduler;
  return new Promise((resolve) => {
    if (scheduler?.after) scheduler.after(ms, resolve);
    else setTimeout(resolve, ms);
  });
}
