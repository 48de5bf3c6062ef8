import type { PendingWrite, StoredRow } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { orphanedPending } from './orphaned-pending.js';
import { type Base, pendingBase } from './partial-rows.js';
import { overlayPending } from './pending-elsewhere.js';
import { overlaidInserts } from './queued-inserts.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * The base of each of `writes` from `peeked` (see `peekPending`, same keys in the same order): for a
 * pending key, its L2 row and queued sent fold (see `pendingBase`); for a key with nothing queued,
 * its fresh L2 copy, else Postgres (one query for them all). A base without omitCache columns (an
 * L2 copy) leaves them out of the merged row too. Postgres failing is tolerated (logged, counted):
 * those writes go as sent, and a get reads only their columns until the flush, as before.
 *
 * A pending row a hard move orphaned (see orphaned-pending.ts) is the base only where a full read
 * would answer it: newer than the version Postgres holds for its key, by the same rule and the same
 * query (`overlayPending` over the row Postgres gives, `overlaidInserts` where it gives none). Else
 * a committed write L2 missed is newer, and the partial set merges over Postgres's row: merged over
 * the orphaned one, it carried that older write's columns over the newer write's at its flush
 * (reliability/test/probe-hard-move-partial.test.ts). A withdrawn one (a dead letter a Redis rollback
 * brought back: `L3Tier.withdraw`) never is: the same query says so.
 */
export async function basesOf(
  ctx: EngineContext,
  cache: SchemaCache,
  writes: readonly { key: string; id: Id }[],
  keys: readonly string[],
  peeked: readonly unknown[],
): Promise<Map<string, Base>> {
  const bases = new Map<string, Base>();
  const ids = new Map(writes.map((w) => [w.key, w.id]));
  // The keys Postgres is asked for, with the version their L2 value held ('0': none).
  const expected = new Map<string, string>();
  let orphans: Map<string, PendingWrite> | undefined;
  const generations =
    cache.buckets.length === 1
      ? [await cache.generation!.current()]
      : await Promise.all(cache.buckets.map((b) => b.generation!.current()));
  keys.forEach((key, i) => {
    const generation = generations[generations.length === 1 ? 0 : cache.router.bucket(key)]!;
    const value = peeked[2 * i];
    const orphan = typeof value === 'string' ? orphanedPending(cache, key, value, generation) : undefined;
    if (orphan) {
      orphans ??= new Map();
      orphans.set(key, orphan);
      expected.set(key, String(orphan.version));
      return;
    }
    // A fresh copy in L2 (a get would answer it) stands for Postgres's row: no query. Not for a
    // tagged schema, whose copies a tag move refuses (checked on reads only).
    const base = pendingBase(cache, value, peeked[2 * i + 1], cache.tags ? undefined : generation);
    if (!base.unread) bases.set(key, base);
    else expected.set(key, base.expected);
  });
  if (expected.size === 0) return bases;
  try {
    const found = await cache.l3!.findMany(
      cache.schema,
      [...expected.keys()].map((key) => ids.get(key)!),
      orphans && [...orphans.values()],
    );
    const pk = cache.schema.primaryKey.key;
    const rows = new Map(found.map((f) => [idKey(f.row[pk] as Id), f]));
    const inserts =
      orphans &&
      new Set(
        (
          await overlaidInserts(
            cache,
            [...orphans.keys()].filter((key) => !rows.has(key)),
            orphans,
          )
        ).map((f) => idKey(f.row[pk] as Id)),
      );
    keys.forEach((key, i) => {
      const version = expected.get(key);
      if (version === undefined) return;
      const row = rows.get(key);
      const orphan = orphans?.get(key);
      if (orphan && counts(cache, orphan, row, inserts!))
        bases.set(key, pendingBase(cache, peeked[2 * i], peeked[2 * i + 1]));
      else bases.set(key, { expected: version, pending: false, ...(row && { stored: row.row }) });
    });
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l3', 'partial-set', err);
    for (const [key, version] of expected)
      bases.set(key, { expected: version, pending: false, unknown: true });
  }
  return bases;
}

/**
 * Whether an orphaned pending write still counts (its flush will apply it), as a full read decides
 * (l3-answers.ts `fromL3`): over Postgres's row, newer than its version and not withdrawn; over none, a delete
 * leaves none either way, and a set counts where newer than a delete Postgres keeps (`inserts`).
 */
function counts(
  cache: SchemaCache,
  orphan: PendingWrite,
  stored: StoredRow | undefined,
  inserts: ReadonlySet<string>,
): boolean {
  if (stored)
    return (
      !stored.withdrawn && overlayPending(cache.schema, stored.row, stored.version, orphan) !== undefined
    );
  return !orphan.row || inserts.has(orphan.id);
}
