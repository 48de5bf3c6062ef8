import type { Clock } from '../clock.js';
import type { Scheduler } from '../scheduler.js';

/** What picks the timer: an engine context, or anything holding its `config.scheduler`. */
export interface TimerHost {
  readonly config: { readonly scheduler?: Scheduler | undefined };
}

/** Runs a task once after `ms`; returns what cancels it (see `Scheduler.after`). */
export type OneShot = (ms: number, task: () => void) => () => void;

/** The runtime's own one-shot timer, cleared by its cancel. */
export const runtimeTimer: OneShot = (ms, task) => {
  const timer = setTimeout(task, ms);
  return () => clearTimeout(timer);
};

/**
 * The one-shot timer core's waits and deadlines run on: the host's `scheduler.after` when it lends
 * one (a test drives it, so no test sleeps for core's waits), else the runtime's `setTimeout`. One
 * place that picks a timer; a bus gets it with its handlers (`BusHandlers.timer`). A host's `after` without a cancel leaves the task to run (a no-op then).
 */
export function hostTimer(ctx: TimerHost): OneShot {
  const { scheduler } = ctx.config;
  if (!scheduler?.after) return runtimeTimer;
  return (ms, task) => {
    const cancel = scheduler.after!(ms, task);
    return typeof cancel === 'function' ? cancel : () => {};
  };
}

/** The timer a wait runs on, and the clock the time it began and what passed since are read on. */
export interface Waits {
  readonly timer: OneShot;
  readonly now: () => number;
}

/**
 * An engine's waits (`ctx.waits`): on `hostTimer`, counted on the engine's clock, which a test moves
 * with the timer it drives. A manual clock under the runtime's own timer does not move with it: those
 * waits take real time, counted on `Date.now()` (as a conditional write's deadline is).
 */
export function hostWaits(config: {
  readonly scheduler?: Scheduler | undefined;
  readonly clock: Clock;
}): Waits {
  const { clock } = config;
  return {
    timer: hostTimer({ config }),
    now: clock.manual && !config.scheduler?.after ? Date.now : () => clock.now(),
  };
}

/**
 * Resolves after `ms`, on `hostTimer`. Core's one-shot waits all go through here (a retry's, a flush
 * waiting on another consumer, a conditional write's deadline, a poll for another version's writes,
 * a bus answer held back). Not tracked: work its caller does not await tracks it itself
 * (`ctx.track`), as `retryAfter` does.
 *
 * @example await wait(ctx, 25); // then poll again
 */
export function wait(ctx: TimerHost, ms: number): Promise<void> {
  return new Promise((resolve) => {
    hostTimer(ctx)(ms, resolve);
  });
}
