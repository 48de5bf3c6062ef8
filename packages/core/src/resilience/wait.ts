import type { EngineContext } from '../engine/context.js';

/**
 * Resolves after `ms`: on the host's `scheduler.after` when it lends one (a test drives it, so no
 * test sleeps for core's waits), else the runtime's `setTimeout`. Core's one-shot waits all go
 * through here (a retry's, a flush waiting on another consumer, a conditional write's deadline, a
 * poll for another version's writes, a bus answer held back): one place that touches a timer. Not
 * tracked: work its caller does not await tracks it itself (`ctx.track`), as `retryAfter` does.
 *
 * @example await wait(ctx, 25); // then poll again
 */
export function wait(ctx: Pick<EngineContext, 'config'>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const { scheduler } = ctx.config;
    if (scheduler?.after) scheduler.after(ms, resolve);
    else setTimeout(resolve, ms);
  });
}
