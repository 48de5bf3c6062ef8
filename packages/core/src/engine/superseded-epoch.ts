import { StrataError } from '../errors.js';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { Row, StoredRow } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { wentBackBelow } from './counter-marks.js';
import { reportWriteError } from './hooks.js';
import type { Id } from './ids.js';
import { idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A write-behind set refused at its flush as older is normally carried by the write that superseded
 * it: in one app, a later set that leaves columns out carries the queued writes' columns (their
 * pending index entry), and a transaction or a write-through write of the app merges over them too.
 * A write of a LATER EPOCH cannot: another app that took the table over once this app's claim lapsed
 * (its pending index is in another namespace, maybe on another Redis), or this app after its Redis
 * lost the counter and the index with it. Such a write merged over Postgres' row, which lacks the
 * refused write's columns: an L3 with `mergeRefused` applies those no later write set (see
 * merge-refused.ts). Without it, whatever the refused write set and the later writes left out is
 * lost, and made loud instead of silent (reliability/test/probe-hostile-8-takeover.test.ts).
 *
 * Within its epoch, a write is refused as older when a write the app's counter numbered above it
 * came after it, or when the counter went back (a Redis restored from an older snapshot handed out
 * again numbers it had handed out before) and numbered it below a write that came BEFORE it: lost.
 * Nothing in Redis, Postgres or the writer tells the two apart (reliability/test/
 * probe-restore-counter.test.ts: the known gap and the write queued before the snapshot), so the
 * refusal stands; but a refused write at or below a mark its counter was found below
 * (`wentBackBelow`) is reported the same way, as possibly lost to the restore, never silently dropped.
 *
 * Not a copy its writer queued again after an L2 reset (`QueuedWrite.restored`, see
 * `restoreOwnPending`): the reset's epoch change is what puts the app's next writes of the key in a
 * later epoch, and the restore put the write back into the app's pending index before them (when a
 * newer row was there already, it put back and queued nothing), so they merged over it: carried. The
 * copy's original, where the queue kept it, is judged as any write (a retry that orders the
 * original, not the copy, behind the newer write is still reported: nothing in it says a restore
 * happened). Left: a queue that lost the original with the reset, and another app taking the table
 * over and writing the key before the copy's flush: that loss goes unreported.
 * (reliability/test/regression-restore-duplicate.test.ts)
 */

/** One refused set: its key, id, version and the stored row it sent (the columns it set). */
export interface RefusedSet {
  readonly key: string;
  readonly id: Id;
  readonly version: number;
  readonly row: Row;
}

const epochOf = (version: number) => Math.floor(version / EPOCH_SPAN);

/**
 * Reports each of `refused` that a write of a later epoch superseded, or that its counter, found
 * gone back, may have numbered below an earlier write (see above), while some column it set holds
 * another value in Postgres now: counted (`errorsBy.superseded`), logged, and given to
 * `hooks.onWriteError` as WRITE_BEHIND_SUPERSEDED naming those columns. One Postgres query for them
 * all (only on this rare path); its failure is tolerated (logged, counted). Once `merged`
 * (`mergeRefused` applied what no later write set), only the gone-back case is left to report.
 */
export async function reportSupersededAcrossEpoch(
  ctx: EngineContext,
  cache: SchemaCache,
  refused: readonly RefusedSet[],
  merged = false,
): Promise<void> {
  if (refused.length === 0 || !cache.l3) return;
  const { schema } = cache;
  let stored: Map<string, StoredRow>;
  try {
    // With their versions: a withdrawn one (a dead letter a Redis rollback brought back) lost nothing.
    const found = await cache.l3.findMany(
      schema,
      refused.map((r) => r.id),
      refused.map((r) => ({ id: r.key, version: r.version })),
    );
    stored = new Map(found.map((f) => [idKey(f.row[schema.primaryKey.key] as Id), f]));
  } catch (err) {
    ctx.tolerate(schema.name, 'l3', 'superseded', err);
    return;
  }
  for (const r of refused) {
    const now = stored.get(r.key);
    // Deleted since (a delete supersedes every column), or superseded within its own epoch: carried,
    // unless its counter was found below a mark at or above it (in its epoch): perhaps lost instead.
    if (!now || now.withdrawn) continue;
    const later = epochOf(now.version) > epochOf(r.version);
    const below = wentBackBelow(cache, cache.router.bucket(r.key));
    const wentBack = !later && below > 0 && epochOf(below) === epochOf(r.version) && r.version <= below;
    if ((merged || !later) && !wentBack) continue;
    const differ = schema.columns.flatMap((c) =>
      c.key !== schema.primaryKey.key &&
      r.row[c.key] !== undefined &&
      cache.rows.toQueue({ [c.key]: r.row[c.key] }) !== cache.rows.toQueue({ [c.key]: now.row[c.key] })
        ? [c.key]
        : [],
    );
    if (differ.length === 0) continue;
    const details = {
      schema: schema.name,
      id: r.key,
      version: r.version,
      stored: now.version,
      columns: differ,
      ...(wentBack && { counterWentBackBelow: below }),
    };
    const why = wentBack
      ? 'refused as older after its counter went back (a Redis restored from an older snapshot): the newer version Postgres holds may come from a write made before it'
      : "written at a later epoch before this write's flush";
    ctx.counters.error('superseded');
    ctx.config.logger.warn(
      wentBack
        ? 'write-behind write refused after its counter went back'
        : 'write-behind write superseded by a later epoch',
      details,
    );
    reportWriteError(
      ctx,
      schema,
      r.key,
      new StrataError(
        'WRITE_BEHIND_SUPERSEDED',
        `schema ${schema.name}: ${r.key} ${why}; ${differ.join(', ')} not applied`,
        { details },
      ),
    );
  }
}
