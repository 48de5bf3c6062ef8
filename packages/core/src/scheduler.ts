/**
 * Timers lent by a host that has them (a long-lived Node process). With one, Strata sweeps expired
 * L1 entries every `l1.sweepEvery` and flushes write-behind writes every
 * `writeBehind.flushInterval`; without one (Workers, functions) expiry is lazy and flushes are
 * driven by calls. Core never starts a repeating timer on its own. Its one-shot waits (work tried
 * again: a reset's generation read, a failed restore, a write the queue did not take; a flush
 * waiting on another consumer; a conditional write's deadline; a poll for another version's queued
 * writes; a bus answer held back), its bounded waits for work another call began (`waitShared`), and
 * every bus call's deadline (subscribe, publish, poll; a bus's own, through `BusHandlers.timer`) are
 * bounded and go through one helper: on `after` when the host lends it (a test drives them so), else
 * on the runtime's `setTimeout`.
 *
 * @example
 * import { nodeScheduler } from '@strata/adapter-node'; // unref'd Node timers
 * const scheduler: Scheduler = nodeScheduler();
 * const strata = new Strata({ l3, scheduler, l1: { sweepEvery: '30s' } });
 */
export interface Scheduler {
  /** Runs `task` every `ms` until the returned function is called. */
  every(ms: number, task: () => void): () => void;
  /**
   * Runs `task` once after `ms`. Work waits for it (`close()` does): a host must not drop it
   * (Node: a plain `setTimeout`, not unref'd). Optional: without it, `setTimeout`. May return a
   * function that cancels the task: core calls it when what the task bounded ended first (a poll
   * that answered in time), so no timer outlives its call; without one the task runs, as a no-op.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a host's `after` that returns nothing stays valid.
  after?(ms: number, task: () => void): (() => void) | void;
}
