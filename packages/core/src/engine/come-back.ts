import type { Write } from '../l3/types.js';
import type { Base } from './partial-rows.js';
import type { SchemaCache } from './schema-cache.js';
import type { KeyedWrite } from './write-through.js';

/*
 * A shape that comes back after other shapes wrote while it was not live (its instance held past
 * 30 s) finds its queued write-behind writes marked at its generation read (a come-back mark, see
 * GENERATION): writes that did not see this shape may have superseded them without marking them.
 * A write-behind set leaving columns out carries them beneath its own (`QueuedWrite.under`); a
 * transaction (how this shape writes while another one is live) cannot lay columns beneath its
 * own in one statement, so it applies the queued writes first, as their flush would. So does a
 * transaction over a reservation mark (a write whose outcome is unknown may never land): else, the
 * queued writes refused as older at their flush, a queued delete was lost (the merge of a refused
 * set only sets columns) and their columns were missing until that flush
 * (reliability/test/probe-marks-lifecycle.test.ts).
 */

/**
 * Applies the queued writes of `writes`' keys that `bases` finds under a mark (`Base.carried`), each at its
 * version, as their flush would: Postgres takes one only where it holds the key at an older version
 * (nothing that superseded it landed), else refuses it as older. Their flush then finds them applied.
 * A failure throws (the caller's transaction fails: nothing of it was written).
 */
export async function applyCameBack(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  bases: ReadonlyMap<string, Base>,
): Promise<void> {
  const pk = cache.schema.primaryKey.key;
  const queued: Write[] = [];
  for (const w of writes) {
    const base = bases.get(w.key);
    if (!base?.carried || !w.row) continue;
    const version = Number(base.expected);
    const { row, defaults } = base.carried.beneath;
    // A new row's defaults it holds only insert, as their flush would (regression-defaults-carried).
    queued.push(
      row === undefined
        ? { id: w.row[pk], version }
        : { row: cache.rows.fromQueue(row), version, ...(defaults && { defaults }) },
    );
  }
  if (queued.length > 0) await cache.l3!.write([{ schema: cache.schema, writes: queued }]);
}
