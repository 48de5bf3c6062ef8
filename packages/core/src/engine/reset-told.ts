import { retryAt, retryFor } from '../resilience/retry-for.js';
import type { EngineContext } from './context.js';
import type { Remembered } from './own-pending.js';
import { sameLife } from './reset-settle.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A Redis reset (restarted empty, gone back to an older snapshot) orphans every unflushed
 * write-behind row until its writer finds the reset and puts its own back (`restoreOwnPending`).
 * An instance finds it at its next generation read: up to 5 s later, or never while it reads
 * nothing. Meanwhile an instance whose own write another's replaced (it forgot its own at the bus
 * message) read Postgres, below its own acknowledged write
 * (reliability/test/regression-restart-superseded-own.test.ts). So the writers are told at once, and
 * they tell back:
 *
 * - The instance that finds the reset publishes a whole-schema message per schema (as before);
 *   a bus gap says the same (the bus may be on the Redis that restarted). An instance that hears
 *   either while it holds unflushed writes of the schema reads its generation now ({@link hearReset}),
 *   rather than at its next read: a reset is found by that read, and its writes are put back.
 * - Having put them back, it publishes their keys at their versions ({@link tellRestored}): reads
 *   waiting for those versions (see `ReplacedWaits`) read L2 again, and find them.
 *
 * No new message: an instance from before this hears a whole-schema message as ever (finds the
 * reset at its next generation read) and the restore's messages as writes; one that waits for it
 * waits its bound, then reads Postgres as before.
 */

/**
 * A whole-schema message (its `ticks`) or a bus gap (no `ticks`) reached this instance: for a
 * write-behind schema (`cache.ownPending`), its generation is read now (`forgetAll` dropped it), one
 * L2 request per bucket, in the background, unless the message names the Redis life this instance
 * knows in every bucket (an `invalidateAll`, or the message of an instance that found a reset this
 * one has found too): a reset's finder tells a new boot marker, or none (a Redis gone back keeps its
 * marker, which it then no longer tells). With unflushed writes, so that they go back at once; with
 * none, so that it answers the reset (`answerReset`) and readers settling after it go on at once
 * rather than at their bound. A read that fails is tried again for a while (see {@link FIND_RETRY_MS}).
 */
export function hearReset(ctx: EngineContext, cache: SchemaCache, ticks?: readonly string[]): void {
  if (!cache.ownPending) return;
  if (ticks && cache.buckets.every((b, i) => sameLife(ticks[i], b.watch.life()))) return;
  for (const { generation } of cache.buckets) {
    if (generation)
      void retryFor(
        ctx,
        () => generation.current().then(() => true),
        retryAt(FIND_RETRY_MS, FIND_FOR_MS),
        FIND_RETRY_MS,
        [cache.schema.name, 'l2', 'generation'],
      );
  }
}

/**
 * Each generation read is tried until it answers (a reset it finds puts this instance's writes back
 * and answers it), again every this long for {@link FIND_FOR_MS} (`retryFor`): a bus gap is heard as
 * the subscription comes back, often before the L2 connection is, and that read failed (timed out
 * after the L2 deadline); left to this instance's next read, its writes came back after the readers' settle
 * (`REPLACED_WAIT_MS`) had ended, and they read Postgres below them (model-deployments
 * write-behind, seed 7306). Each failure is counted and logged.
 */
const FIND_RETRY_MS = 100;
/**
 * How long such reads are tried again after a reset was heard: the generation's own refresh
 * (5 s), past which this instance's next read would have found the reset anyway.
 */
const FIND_FOR_MS = 5_000;

/**
 * After this instance found a reset and put back its unflushed writes of `cache` (and told their
 * keys: `tellRestored`), or found it had none: tells the others so, in the life it is in now (every
 * bucket's generation read first: a reset found moves it there), so that their reads settling after
 * the reset go on (see `ResetSettle`). `resets`: each bucket's count of resets found (`L2Watch.resets`)
 * when the restore began; an answer is for no later reset. A failure is counted and logged (the publish's by the publish).
 */
export async function answerReset(
  ctx: EngineContext,
  cache: SchemaCache,
  resets: readonly number[],
  publishRestored: (cache: SchemaCache) => Promise<void>,
): Promise<void> {
  try {
    await Promise.all(cache.buckets.map((b) => b.generation?.current()));
  } catch (err) {
    // L2 down again: no answer (it would name the life before); readers wait their bound.
    ctx.tolerate(cache.schema.name, 'l2', 'generation', err);
    return;
  }
  // Another reset found meanwhile: an answer now would name that life before this instance put its
  // writes back there; readers wait for that reset's own answer (the restore it asked for, run once
  // this one ends: `RestoreChain`), or their bound.
  if (cache.buckets.some((b, i) => b.watch.resets !== resets[i])) return;
  await publishRestored(cache);
}

type PublishOp = (
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  op: 'set' | 'delete',
) => Promise<void>;

/**
 * After `restoreOwnPending`: tells the other instances the keys of the writes it checked at their
 * versions, sets and deletes apart (a message per op, as writes are told).
 */
export async function tellRestored(
  publish: PublishOp,
  cache: SchemaCache,
  checked: readonly (readonly [string, Remembered])[],
): Promise<void> {
  for (const op of ['set', 'delete'] as const) {
    const mine = checked.filter(([, e]) => (e.payload === undefined) === (op === 'delete'));
    if (mine.length === 0) continue;
    await publish(
      cache,
      mine.map(([key]) => key),
      mine.map(([, e]) => e.version),
      op,
    );
  }
}
