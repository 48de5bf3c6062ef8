import { inArray } from 'drizzle-orm';
import type { PendingWrite, StoredRow } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { Loaded } from './loaded.js';
import { positionStatus } from './read-status.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A queued write-behind set of a key Postgres held no row for when a read asked it: this shape's
 * own pending row a hard move orphaned (see orphaned-pending.ts), or another live shape's queued
 * write (a rolling deploy: see pending-elsewhere.ts). Its flush inserts it only when it is newer
 * than the version Postgres keeps for the key, a delete's included (`_strata_versions`): one older
 * than a delete Postgres records is refused, so the read must not answer it (it did for another
 * shape's, at stored version 0: reliability/test/rolling-deploy-shapes.test.ts, "deleted since").
 *
 * So such sets are answered from ONE statement, the search overlay (the flush's own rule over the
 * table and `_strata_versions` together), which gives each key as it is once the set's flush is
 * done. It runs after the read of Postgres, and answers the key as the overlay has it at its own
 * moment: a set flushed in between (or a later write) is the table's row then, not a miss; a delete
 * committed in between is a miss. Either is the key's state during this read. Nothing of it is
 * cached (the flush settles the key).
 */

/**
 * Answers the positions of `open` (key -> position, keys Postgres held no row for) whose `queued`
 * write is a set, as the overlay of their flush has them (see above); each answered key leaves
 * `open`. A failing statement, or a row that cannot be decrypted here, is counted and logged, and
 * Postgres's answer (none) stands.
 */
export async function answerInserts(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  open: Map<string, number>,
  queued: ReadonlyMap<string, PendingWrite>,
): Promise<void> {
  const pk = cache.schema.primaryKey;
  let found: StoredRow[];
  try {
    found = await overlaidInserts(cache, open.keys(), queued);
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l3', 'pending', err);
    return;
  }
  for (const { row, version } of found) {
    const key = idKey(row[pk.key] as Id);
    const i = open.get(key);
    if (i === undefined) continue;
    try {
      loaded.rows[i] = cache.rows.encrypts ? await cache.rows.decryptRow(row, key) : row;
    } catch (err) {
      ctx.tolerate(cache.schema.name, 'l3', 'pending', err);
      continue;
    }
    open.delete(key);
    // Laid over: the set's version (the overlay gives Postgres's); a row stored since: its own.
    if (loaded.status)
      loaded.status[i] = positionStatus('l3', Math.max(version, queued.get(key)!.version), null);
  }
}

/**
 * The rows the `queued` sets of `keys` (keys Postgres held no row for) leave once flushed, as the
 * search overlay has them (see above): a key found counts, one not found does not (a delete
 * Postgres records is newer). One statement; none without a set among them. Rejects as L3 does.
 */
export async function overlaidInserts(
  cache: SchemaCache,
  keys: Iterable<string>,
  queued: ReadonlyMap<string, PendingWrite>,
): Promise<StoredRow[]> {
  const pk = cache.schema.primaryKey;
  // Only what counts for a key read: its set's version and row (no carried writes, no defaults).
  const writes: PendingWrite[] = [];
  for (const key of keys) {
    const w = queued.get(key);
    if (w?.row) writes.push({ id: w.id, version: w.version, row: w.row });
  }
  if (writes.length === 0 || !cache.l3) return [];
  return cache.l3.search(cache.schema, {
    where: inArray(
      pk.column,
      writes.map((w) => w.row![pk.key]),
    ),
    limit: writes.length,
    offset: 0,
    pending: writes,
  });
}
