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
  #running: Promise<void> | undefined;
  #again = false;

  /** The restores under way, the ones asked for meanwhile included (reads of L2 wait for them). */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /**
   * Runs `restore` now, or once more after the one running (however many ask meanwhile). Resolves
   * the chain it joined: undefined when it joined a running one (tracked already). `restore` must
   * not reject: it counts and logs its own failure.
   */
  request(restore: () => Promise<void>): Promise<void> | undefined {
    if (this.#running) {
      this.#again = true;
      return undefined;
    }
    const running = this.#run(restore);
    this.#running = running;
    return running;
  }

  async #run(restore: () => Promise<void>): Promise<void> {
    try {
      do {
        this.#again = false;
        await restore();
      } while (this.#again);
    } finally {
      this.#running = undefined;
    }
  }
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
 * Puts this instance's unflushed write-behind writes of `cache` back into L2 (`restoreOwnPending`),
 * one restore at a time (see {@link RestoreChain}); then tells the other instances their keys
 * (`tellRestored`: reads there waiting for them go on) and that this one is done (`answerReset`),
 * for the resets found before that restore began and no later one (a later one gets the answer of
 * the restore it asked for). Neither is waited for by the restore (a publish counts and logs its
 * own failure).
 */
export function restoreAfterReset(ctx: EngineContext, cache: SchemaCache, tell: ResetTell): void {
  const chain = cache.restore.request(async () => {
    const resets = cache.buckets.map((bucket) => bucket.watch.resets);
    try {
      const checked = await restoreOwnPending(ctx, cache);
      ctx.track(
        tellRestored((...a) => tell.publish(...a), cache, checked).then(() =>
          answerReset(ctx, cache, resets, () => tell.publishRestored(cache)),
        ),
      );
    } catch (err) {
      ctx.tolerate(cache.schema.name, 'l2', 'restore-pending', err);
    }
  });
  if (chain) ctx.track(chain);
}
