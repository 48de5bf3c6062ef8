import { decodeEnvelope, type Envelope, encodeEnvelope } from '../l2/envelope.js';
import { PUT } from '../l2/scripts.js';
import { PENDING_HOLD_MS } from './ordered-writes.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * `told`: the row at exactly the version the bus told. `newer`: any row newer than the version given,
 * which is this instance's own unflushed write that row refused when it was put back
 * (`restoreOwnPending`): the newer write's message never reached this instance (pub/sub delivers at
 * most once, and the reset itself can drop it: reliability/test/regression-restart-replaced-unheard),
 * so nothing told it, yet the row that refused its own is that newer write's, for the reason below.
 */
export type AdoptMatch = 'told' | 'newer';

/**
 * After a Redis reset: takes into the new generation the pending rows of other instances' writes
 * that replaced this instance's own unflushed writes, where L2 still holds them (a restart that
 * kept its data, a failover or a snapshot that had them) at exactly the version the bus told this
 * instance, live, before the reset (`OwnPending.replaced`).
 *
 * Why: the reset's generation move orphans every pending row until its writer finds the reset and
 * puts its own back (`restoreOwnPending`), which may be seconds later (its next generation read).
 * This instance forgot its own write when the newer one was told, so meanwhile it read what
 * Postgres had, older than its own acknowledged write (model-deployments, seed 482529423;
 * reliability/test/regression-restart-superseded-own.test.ts). Its own older row cannot be put back
 * instead: the newer row still on the key refuses it (a PUT lands only at a version as new), and
 * where no row is left, the newer write may have been a delete Postgres already has.
 *
 * Why such a row can be trusted, when the reset's move distrusts every other: its version is the
 * one told for the key, so it is that write's row; a newer write's row would be on the key instead
 * (unless a restore from an older snapshot took it: its writer puts it back, newer, when it finds
 * the reset), and one Postgres has is found there. Left: a newer delete this instance missed (a
 * bus gap) and flushed before the restore (Postgres cannot say a deleted key's version): the row
 * is read until the delete's writer finds the reset, if it still remembers it, or the L2 TTL. It
 * stays pending at its version; its writer's own restore puts the same row (equal versions
 * replace) and queues the write again. `told`: those Postgres has no version as new of
 * (`restoreOwnPending` read it).
 *
 * Returns those of `told` it found no such row for (a Redis that restarted empty): their reads wait
 * a while for their writers to put them back (see `ReplacedWaits`; `restoreOwnPending` uses this
 * for `told` matches only).
 */
export async function adoptReplaced(
  cache: SchemaCache,
  told: readonly (readonly [string, number])[],
  match: AdoptMatch = 'told',
): Promise<(readonly [string, number])[]> {
  if (told.length === 0 || !cache.l2) return [];
  const l2 = cache.l2;
  const lost: (readonly [string, number])[] = [];
  await cache.byBucket(
    told.map(([key]) => key),
    async (bucket, at) => {
      const mine = at ? at.map((i) => told[i]!) : told;
      const values = await l2.getMany(mine.map(([key]) => bucket.keys.row(key)));
      const found: [string, Envelope][] = [];
      mine.forEach(([key, version], i) => {
        const e = values[i] ? decodeEnvelope(values[i]!) : undefined;
        // Another schema's value (a mistaken keyPrefix) is not taken: its owner tag (with a tag stamp or not).
        const fits = match === 'told' ? e?.version === version : e !== undefined && e.version > version;
        if (e?.pending && fits && e.owner.startsWith(cache.owner)) found.push([key, e]);
        else lost.push(mine[i]!);
      });
      if (found.length === 0) return [];
      await cache.runWatched(
        PUT,
        (generation) => {
          const args = [String(found.length)];
          for (const [, e] of found)
            args.push(String(e.version), String(PENDING_HOLD_MS), encodeEnvelope({ ...e, generation }));
          return { keys: found.map(([key]) => bucket.keys.row(key)), args };
        },
        { bumps: true, redoAfterReset: true },
        bucket,
      );
      return [];
    },
  );
  return lost;
}
