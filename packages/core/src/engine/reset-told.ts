import type { EngineContext } from './context.js';
import type { Remembered } from './own-pending.js';
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
 * A whole-schema message (its `ticks`) or a bus gap (no `ticks`) reached this instance: with
 * unflushed writes of `cache`, its generation is read now (`forgetAll` dropped it), one L2 request
 * per bucket, in the background, unless the message names the Redis life this instance knows in
 * every bucket (an `invalidateAll`, or the message of an instance that found a reset this one has
 * found too): a reset's finder tells a new boot marker, or none (a Redis gone back keeps its
 * marker, which it then no longer tells). A failure is counted and logged (the next read tries again).
 */
export function hearReset(ctx: EngineContext, cache: SchemaCache, ticks?: readonly string[]): void {
  if (!cache.ownPending?.size) return;
  if (ticks && cache.buckets.every((b, i) => sameLife(ticks[i], b.watch.life()))) return;
  for (const { generation } of cache.buckets) {
    if (!generation) continue;
    ctx.track(
      generation.current().catch((err: unknown) => ctx.tolerate(cache.schema.name, 'l2', 'generation', err)),
    );
  }
}

/** Whether `told` (`{boot}:{tick}`, see `L2Watch.told`) is of the life whose marker is `boot`. */
function sameLife(told: string | undefined, boot: string | undefined): boolean {
  if (!told || boot === undefined) return false;
  return told.slice(0, told.lastIndexOf(':')) === boot;
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
