import { waitShared } from '../resilience/bounded-share.js';
import { type RetryAt, retryAfter, retryAt } from '../resilience/retry-for.js';
import type { Waits } from '../resilience/wait.js';
import { forgetAfterReset } from './cache-forget.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import { restoreOwnPending } from './own-pending.js';
import { answerReset, tellRestored } from './reset-told.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * A schema's restores after Redis resets (see `restoreOwnPending`): one at a time, and none missed.
 * With L2 split into buckets (a Redis Cluster), each shard resets on its own, so a reset can be
 * found while the restore of another runs. That restore's PUTs are made again after a reset their
 * own replies find (`redoAfterReset`), but a bucket whose PUT was done before its shard reset lost
 * the rows put back: this instance's queued, acknowledged writes were missing from L2 and every
 * instance read Postgres below them until the flush
 * (reliability/test/regression-restore-chained-reset.test.ts). So a reset found while one runs
 * asks for one more once it ends; several such resets, one more in all.
 */
export class RestoreChain {
  #running: Run | undefined;
  #again = false;

  /** `ms`: the longest a live restore pass takes (see {@link restoreMs}); `waits`: the engine's. */
  constructor(
    readonly ms: number,
    readonly waits: Waits,
  ) {}

  /** The restores under way, the ones asked for meanwhile included (raw: wait with {@link wait}). */
  get running(): Promise<void> | undefined {
    return this.#running?.done;
  }

  /**
   * The restores under way, waited for on this caller's own timer for as long as a live pass takes;
   * past that, the chain is dropped and its restore run again, here (undefined: none under way).
   * Why: in a Worker the pass may belong to a request that has ended, its fetches cancelled (they
   * never settle): shared unbounded it held every later read of L2 (cut-short-restore.test.ts),
   * and no restore ran again. A pass run twice puts the same rows back at the same versions.
   */
  wait(): Promise<void> | undefined {
    const run = this.#running;
    if (!run) return undefined;
    return waitShared(
      run.done,
      run.at,
      this.ms,
      () => {
        if (this.#running === run) {
          this.#running = undefined;
          this.request(run.restore, run.track);
        }
        return this.#running?.done ?? Promise.resolve();
      },
      this.waits,
    );
  }

  /**
   * Runs `restore` now, or once more after the one running (however many ask meanwhile). Resolves
   * the chain it joined: undefined when it joined a running one (tracked already). `restore` must
   * not reject: it counts and logs its own failure. `track` is given each chain begun (`ctx.track`).
   */
  request(restore: () => Promise<void>, track?: (work: Promise<void>) => void): Promise<void> | undefined {
    if (this.#running) {
      this.#again = true;
      return undefined;
    }
    const run: Run = { done: Promise.resolve(), at: this.waits.now(), restore, track };
    this.#running = run;
    run.done = this.#run(run);
    track?.(run.done);
    return run.done;
  }

  async #run(run: Run): Promise<void> {
    try {
      do {
        this.#again = false;
        run.at = this.waits.now();
        await run.restore();
      } while (this.#again && this.#running === run);
    } finally {
      if (this.#running === run) this.#running = undefined;
    }
  }
}

/** A chain of restores under way: since when its pass runs (on `waits`), and what to run again. */
interface Run {
  done: Promise<void>;
  at: number;
  readonly restore: () => Promise<void>;
  readonly track: ((work: Promise<void>) => void) | undefined;
}

/**
 * The longest a live restore pass takes: its calls in turn, each within its deadline (its Postgres
 * read; the L2 calls: adopting replaced rows, the PUT with its generation read, each again after a
 * reset its reply found, adopting refused rows, the pending index; the queue's send).
 */
export function restoreMs({ l2, l3, queue }: { l2: number; l3: number; queue: number }): number {
  return l3 + 7 * l2 + queue;
}

/** What the restores tell the other instances through (see `Coherence`). */
type ResetTell = Pick<Coherence, 'publish' | 'publishRestored'>;

/**
 * Redis (bucket `b`'s shard) was reset, as `cache` is concerned: its cached rows go (its
 * generation there moves past every one seen: `forgetAfterReset`); this instance's unflushed
 * write-behind writes go back into L2 (the queue still has them), the rows of those that replaced
 * them are taken into the new generation, and the keys of other writes it was told of wait for
 * their writers (`HeardVersions`): see {@link restoreAfterReset}. With a `bus`, every write-behind
 * schema settles (reads that miss L2 wait for the other writers' restores) and answers (see
 * `ResetSettle`), whatever it holds itself. The other instances are told (they also find out
 * themselves at their next generation read).
 */
export function schemaReset(
  ctx: EngineContext,
  cache: SchemaCache,
  replace: string,
  b: number,
  bus: boolean,
  tell: ResetTell,
): void {
  forgetAfterReset(cache, replace, b);
  const own = cache.ownPending;
  if (own && bus) own.settle.begin();
  if (own && (own.afterReset || bus)) restoreAfterReset(ctx, cache, tell);
  void tell.publish(cache, null, null, 'invalidateAll');
}

/**
 * A restore whose L2 call failed (Redis restarted and still loading, a timeout, a dropped link) is
 * asked for again after this long, doubled at each failure up to {@link RESTORE_RETRY_MAX_MS}, for
 * {@link RESTORE_FOR_MS} after the reset was found (`retryAfter`). Without it this instance's
 * acknowledged writes stayed out of L2 until the flush, it never answered the reset, and the other
 * instances read Postgres below them (reliability/test/regression-restore-failed.test.ts). The
 * chain ends at a failure: reads do not wait out the delay (they read what L2 and Postgres have
 * meanwhile).
 */
export const RESTORE_RETRY_MS = 100;
export const RESTORE_RETRY_MAX_MS = 2_000;
/** Long enough for a Redis to load its data or a replica to be promoted; past it the flush serves. */
export const RESTORE_FOR_MS = 30_000;

/**
 * Puts this instance's unflushed write-behind writes of `cache` back into L2 (`restoreOwnPending`),
 * one restore at a time (see {@link RestoreChain}), tried again while it fails (see
 * {@link RESTORE_RETRY_MS}); then tells the other instances their keys
 * (`tellRestored`: reads there waiting for them go on) and that this one is done (`answerReset`),
 * for the resets found before that restore began and no later one (a later one gets the answer of
 * the restore it asked for). Neither is waited for by the restore (a publish counts and logs its
 * own failure).
 */
export function restoreAfterReset(
  ctx: EngineContext,
  cache: SchemaCache,
  tell: ResetTell,
  at: RetryAt = retryAt(RESTORE_RETRY_MS, RESTORE_FOR_MS),
): void {
  cache.restore.request(
    async () => {
      const resets = cache.buckets.map((bucket) => bucket.watch.resets);
      try {
        const checked = await restoreOwnPending(ctx, cache);
        ctx.track(
          tellRestored((...a) => tell.publish(...a), cache, checked).then(() =>
            answerReset(ctx, cache, resets, () => tell.publishRestored(cache)),
          ),
        );
      } catch (err) {
        // A pass the chain runs again (a reset found meanwhile) goes on from this same point.
        void retryAfter(ctx, err, at, RESTORE_RETRY_MAX_MS, [
          cache.schema.name,
          'l2',
          'restore-pending',
        ]).then((next) => next && restoreAfterReset(ctx, cache, tell, next));
      }
    },
    (work) => ctx.track(work),
  );
}
