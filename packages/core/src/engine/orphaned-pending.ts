import { isCurrent } from '../l2/envelope.js';
import type { PendingWrite } from '../l3/types.js';
import { sliceFrom } from '../strings.js';
import { type Id, idKey } from './ids.js';
import { heldIn } from './l2-values.js';
import type { Loaded } from './loaded.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * A hard generation move (a committed write L2 missed that is not sent again: see `GENERATION_ERA`)
 * orphans every pending write-behind row, because one may be older than the write L2 missed. Only
 * a writer that finds a Redis RESET puts its rows back (`restoreOwnPending`): after a missed write
 * nothing did, and every instance, the writer included once its L1 copy went, read the older row
 * Postgres holds until the flush (reliability/test/probe-hard-move-pending.test.ts).
 *
 * So a read that finds such a row (pending, of an earlier era) reads Postgres as for a miss, and
 * answers the row when it is newer than the version Postgres holds for its key: the flush's own
 * rule, and what a search lays over the table. That is exactly why it was orphaned, checked key by
 * key: every committed write, the ones L2 missed included, is in Postgres with its version, so a
 * pending row older than one of them is never answered over it, and one newer is what its flush
 * will make of the key (a key Postgres holds no row for: queued-inserts.ts). Nothing of it is
 * cached (its flush settles it); once flushed, Postgres is at its version and answers.
 */

/**
 * The pending write-behind row `value` holds for `key`, when it is one a move into a later era
 * orphaned (see above): its version, and its row (none for a pending delete). Undefined for any
 * other value (current, not pending, another schema's or id's).
 */
export function orphanedPending(
  cache: SchemaCache,
  key: string,
  value: string | null,
  generation: number,
): PendingWrite | undefined {
  if (value === null) return undefined;
  const e = cache.header;
  if (!e.read(value) || !e.pending || (e.kind !== 'r' && e.kind !== 'a') || isCurrent(e, generation))
    return undefined;
  // Of this schema (its owner stamp): `heldIn` reads it in the value's own generation.
  const version = heldIn(cache, value, e.generation);
  if (version === 0) return undefined;
  if (e.kind === 'a') return { id: key, version };
  const row = cache.rows.fromL2(sliceFrom(value, e.payloadAt));
  return idKey(row[cache.schema.primaryKey.key] as Id) === key ? { id: key, version, row } : undefined;
}

/** Keeps a key's orphaned pending row (see {@link orphanedPending}) for the load's read of Postgres. */
export function keepOrphan(loaded: Loaded, pending: PendingWrite | undefined): void {
  if (!pending) return;
  loaded.orphaned ??= new Map();
  loaded.orphaned.set(pending.id, pending);
}
