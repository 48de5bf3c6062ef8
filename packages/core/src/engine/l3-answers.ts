import type { L3Tier, PendingWrite, PendingWrites, Row } from '../l3/types.js';
import { fillCaches } from './cache-fill.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { Loaded } from './loaded.js';
import { overlayPending, pendingElsewhere } from './pending-elsewhere.js';
import { answerInserts } from './queued-inserts.js';
import { positionStatus } from './read-status.js';
import type { SchemaCache, Versioned } from './schema-cache.js';

/**
 * Answers `missing` (positions of `loaded`) from L3, with the queued writes a read lays over its
 * rows, and fills the caches above with what it read (L2 only with `fillL2`).
 */
export async function fromL3(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
  missing: readonly number[],
  fenced: (key: string) => boolean,
  fillL2: boolean,
  stamp: number,
  tick?: number,
): Promise<void> {
  const name = cache.schema.name;
  const { keys, rows } = loaded;
  // With no L3, L2 is the source of truth: what it does not hold does not exist (rows stay null).
  if (!cache.l3) return;
  ctx.counters.l3Reads += 1;
  // Another version's queued writes (a rolling deploy): asked before Postgres, see pendingElsewhere.
  const elsewhere = fillL2
    ? await pendingElsewhere(
        ctx,
        cache,
        missing.map((i) => keys[i]!),
      )
    : undefined;
  // This shape's own pending rows a hard move orphaned (see orphaned-pending.ts); another live
  // shape's newer queued write of a key wins.
  const queued = withOrphans(loaded.orphaned, elsewhere);
  let found: Awaited<ReturnType<typeof cache.l3.findMany>>;
  try {
    // With the queued writes it may lay over them: each row says whether its key's was withdrawn.
    const pending = queued && [...queued.values()];
    found = await cache.rowReader!.findMany(
      cache.schema,
      missing.map((i) => ids[i]!),
      pending,
    );
    if (loaded.floors) found = await aboveFloors(cache, loaded, ids, missing, found, pending);
  } catch (err) {
    throw ctx.l3Error(name, 'get', err);
  }
  // Key -> position, for the keys still to find (a row found twice, or not asked for, is skipped).
  const open = new Map<string, number>();
  for (const i of missing) open.set(keys[i]!, i);
  const pk = cache.schema.primaryKey.key;
  const read: Versioned[] = [];
  for (const { row: stored, version, withdrawn } of found) {
    const key = idKey(stored[pk] as Id);
    const i = open.get(key);
    if (i === undefined) continue;
    open.delete(key);
    ctx.hit('l3', name);
    // A withdrawn write (a dead letter a Redis rollback brought back): never flushed, never answered.
    if (
      queued?.has(key) &&
      !withdrawn &&
      (await answerQueued(ctx, cache, loaded, i, key, stored, version, queued))
    )
      continue;
    const plain = cache.rows.encrypts ? await cache.rows.decryptRow(stored, key) : stored;
    rows[i] = plain;
    if (loaded.status)
      loaded.status[i] = positionStatus('l3', version, (cache.l1 ? cache.l1TtlMs : cache.l2TtlMs) || null);
    read.push({ key, version, stored, plain });
  }
  // Queued sets of keys Postgres has no row for: as their flush leaves them (a newer delete wins).
  if (queued) await answerInserts(ctx, cache, loaded, open, queued);
  for (const [key, i] of open) {
    // Another shape's queued delete: absent, not cached (an orphaned one reads as Postgres has it).
    const deleted = elsewhere?.has(key) && !queued!.get(key)!.row;
    if (deleted && (await answerQueued(ctx, cache, loaded, i, key, null, 0, queued!))) continue;
    ctx.miss('l3', name);
    rows[i] = null;
    if (loaded.status) loaded.status[i] = positionStatus('l3', 0, null);
    // Version 0: an absence read here never replaces anything a write put in a cache.
    read.push({ key, version: 0 });
  }
  // A tagged schema's L1 takes rows whose tags' values are known here (see `fillCaches`).
  if (cache.tags) await cache.tags.know(read.flatMap((r) => (r.plain ? [r.plain] : [])));
  // Decided after the last await, and `fill` takes L1 before its own first one: a drop that landed
  // while this read was out keeps its key out of the caches.
  const fills = read.filter((r) => {
    if (!fenced(r.key)) return true;
    ctx.counters.fencedFills += 1;
    return false;
  });
  await fillCaches(cache, ctx, fills, { l2: fillL2, stamp, tick });
}

/** `orphaned` (this shape's) and `elsewhere` (other live shapes') by key, the newer where both hold one. */
function withOrphans(
  orphaned: ReadonlyMap<string, PendingWrite> | undefined,
  elsewhere: Map<string, PendingWrite> | undefined,
): ReadonlyMap<string, PendingWrite> | undefined {
  if (!orphaned) return elsewhere;
  const all = new Map(orphaned);
  for (const [key, w] of elsewhere ?? []) if (w.version > (all.get(key)?.version ?? 0)) all.set(key, w);
  return all;
}

/**
 * Answers position `i` with another version's queued write of `key` over the row Postgres holds at
 * `version` (see `pendingElsewhere`), unless Postgres has that write already: false then, or when
 * the queued row cannot be decrypted here (counted, logged; Postgres's row answers). No tier takes
 * it (Postgres has not, and a dead-lettered write is withdrawn only from that version's keys).
 */
async function answerQueued(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  i: number,
  key: string,
  stored: Row | null,
  version: number,
  queued: ReadonlyMap<string, PendingWrite>,
): Promise<boolean> {
  const pending = queued.get(key)!;
  const row = overlayPending(cache.schema, stored, version, pending);
  if (row === undefined) return false;
  try {
    loaded.rows[i] = row && cache.rows.encrypts ? await cache.rows.decryptRow(row, key) : row;
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'pending', err);
    return false;
  }
  if (loaded.status) loaded.status[i] = positionStatus('l3', pending.version, null);
  return true;
}

/**
 * Key reads that went to a read replica: a key whose row the replica answered older than the
 * version L2 held for it (`loaded.floors`), or not at all while L2 held a version, is read again
 * from the primary. The replica has not replayed a write L2 already saw: one this instance
 * acknowledged (flushed by another instance's flusher, so its WAL position is not known here) or
 * another instance's, whose copy an `invalidate`, `invalidateAll` or `expire` then dropped. Versions,
 * not clocks: a replica that has replayed it answers as before, with no extra query.
 */
async function aboveFloors(
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
  missing: readonly number[],
  found: Awaited<ReturnType<L3Tier['findMany']>>,
  pending: PendingWrites | undefined,
): Promise<Awaited<ReturnType<L3Tier['findMany']>>> {
  const floors = loaded.floors!;
  const pk = cache.schema.primaryKey.key;
  const versions = new Map<string, number>();
  for (const { row, version } of found) versions.set(idKey(row[pk] as Id), version);
  const behind = missing.filter((i) => floors[i]! > (versions.get(loaded.keys[i]!) ?? 0));
  if (behind.length === 0) return found;
  const again = await cache.l3!.findMany(
    cache.schema,
    behind.map((i) => ids[i]!),
    pending,
  );
  const redone = new Set(behind.map((i) => loaded.keys[i]!));
  return [...found.filter(({ row }) => !redone.has(idKey(row[pk] as Id))), ...again];
}
