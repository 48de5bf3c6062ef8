import type { Row, WriteOutcome } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { RefusedWrite } from './merge-refused.js';
import type { ResetsSeen } from './reset-since.js';
import type { SchemaCache, Versioned } from './schema-cache.js';
import type { KeyedWrite } from './write-through.js';

/**
 * Writes Postgres skipped as older: a Redis-ordered write (a write-behind schema's, in a
 * transaction) or a floored one (a write-through write of an app that also orders the table in
 * Redis: `Write.floor`), outrun by a write of the key with a higher version. The write is ordered
 * just before that one (they overlapped: either order is one the callers could see), so the newer
 * row stands: the caches take nothing at the skipped write's version, and its sets are merged after
 * (`mergeSkipped`: the columns no later write set; a delete's, their defaults).
 */
const skipped = (outcome: WriteOutcome | undefined) => outcome?.applied === false;

/**
 * `items` (one per write, as `committedItems` makes them) into the caches, except the skipped ones:
 * their row (or, without one, a tombstone) at their own version would stand in L2 over a copy older
 * than the row Postgres holds. Their versions have passed all the same (see `OwnPending`). `since`:
 * the resets seen when the write took its versions (see reset-since.ts).
 */
export async function commitApplied(
  ctx: EngineContext,
  cache: SchemaCache,
  items: readonly Versioned[],
  outcomes: readonly (WriteOutcome | undefined)[],
  since?: ResetsSeen,
): Promise<void> {
  const applied = items.filter((_, i) => !skipped(outcomes[i]));
  for (const [i, item] of items.entries())
    if (skipped(outcomes[i])) cache.ownPending?.passed(item.key, item.version);
  await cache.commit(ctx, applied, since && { since });
}

/**
 * The writes of `writes` (rows as sent: `encrypted`) Postgres skipped as older, to merge: a set's
 * columns, a delete's defaults (the columns no later write set: see `L3Tier.mergeRefused`).
 */
export function skippedWrites(
  writes: readonly KeyedWrite[],
  encrypted: readonly (Row | undefined)[],
  outcomes: readonly (WriteOutcome | undefined)[],
  replaced: ReadonlySet<string> = new Set(),
): RefusedWrite[] {
  return writes.flatMap((w, i) => {
    const outcome = outcomes[i];
    if (!outcome || !skipped(outcome)) return [];
    const row = withoutDefaults(encrypted[i], w.defaults);
    const write = { key: w.key, id: w.id, version: outcome.version };
    if (!row) return [write];
    // A set that replaced its row resets the columns it left out as well, where no later write set them.
    return [{ ...write, row, ...(replaced.has(w.key) && { replace: true }) }];
  });
}

/**
 * A skipped set's row for its merge, less the queued new row's defaults it carried (`KeyedWrite.defaults`):
 * a newer write of the key landed first, so the row exists, and a default is never laid over a
 * stored value (as `refusedRow` for a refused write-behind set).
 */
function withoutDefaults(row: Row | undefined, defaults: readonly string[] | undefined): Row | undefined {
  if (!row || !defaults?.length) return row;
  const out = { ...row };
  for (const key of defaults) delete out[key];
  return out;
}
