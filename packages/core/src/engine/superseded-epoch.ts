import { StrataError } from '../errors.js';
import { EPOCH_SPAN } from '../l3/epoch-span.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
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
 * Reports each of `refused` that a write of a later epoch superseded while some column it set holds
 * another value in Postgres now: counted (`errorsBy.superseded`), logged, and given to
 * `hooks.onWriteError` as WRITE_BEHIND_SUPERSEDED naming those columns. One Postgres query for them
 * all (only on this rare path); its failure is tolerated (logged, counted).
 */
export async function reportSupersededAcrossEpoch(
  ctx: EngineContext,
  cache: SchemaCache,
  refused: readonly RefusedSet[],
): Promise<void> {
  if (refused.length === 0 || !cache.l3) return;
  const { schema } = cache;
  let stored: Map<string, { row: Row; version: number }>;
  try {
    const found = await cache.l3.findMany(
      schema,
      refused.map((r) => r.id),
    );
    stored = new Map(found.map((f) => [idKey(f.row[schema.primaryKey.key] as Id), f]));
  } catch (err) {
    ctx.tolerate(schema.name, 'l3', 'superseded', err);
    return;
  }
  for (const r of refused) {
    const now = stored.get(r.key);
    // Deleted since (a delete supersedes every column), or superseded within its own epoch: carried.
    if (!now || epochOf(now.version) <= epochOf(r.version)) continue;
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
    };
    ctx.counters.error('superseded');
    ctx.config.logger.warn('write-behind write superseded by a later epoch', details);
    reportWriteError(
      ctx,
      schema,
      r.key,
      new StrataError(
        'WRITE_BEHIND_SUPERSEDED',
        `schema ${schema.name}: ${r.key} was written at a later epoch before this write's flush; ${differ.join(', ')} not applied`,
        { details },
      ),
    );
  }
}
