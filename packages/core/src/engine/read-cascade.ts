import { isStrataError } from '../errors.js';
import type { L3Tier, PendingWrite, PendingWrites, Row } from '../l3/types.js';
import { fillCaches } from './cache-fill.js';
import type { EngineContext } from './context.js';
import type { ReadToken } from './fence.js';
import { type Id, idKey } from './ids.js';
import { joinLoad } from './joined-load.js';
import { readL1, readL1Id } from './l1-copies.js';
import { fromL2, type LoadMode } from './l2-answers.js';
import { type L2Rows, type SentRowRead, sendRowRead, tookRows } from './l2-row-reads.js';
import { Loaded } from './loaded.js';
import { overlayPending, pendingElsewhere } from './pending-elsewhere.js';
import { answerInserts } from './queued-inserts.js';
import { agedL1, answerFromGrace, leased, refreshLater } from './read-aged.js';
import { fullStatus, l1Status, type PositionStatus, positionStatus, type ReadStatus } from './read-status.js';
import { readPastReplaced } from './replaced-wait.js';
import type { SchemaCache, Versioned } from './schema-cache.js';

/**
 * THE read path, for one id or many: L1, then ONE L2 request for L1's misses, then ONE L3 query
 * for L2's misses, filling the tiers above with what was found, each value with its version (no
 * cache takes it over a newer one). Concurrent reads of a key in this instance share one load
 * (request coalescing). Results follow `ids`; `null` where no row exists.
 * `l1Read`: the caller already asked L1 for these ids (and counted the misses).
 *
 * Works by position, not by key: a batch of 1,000 ids costs one Map entry per distinct key here
 * (duplicates) and the `inflight` entries coalescing needs, rather than a result Map filled and
 * read back per key.
 */
export async function readRows(
  ctx: EngineContext,
  cache: SchemaCache,
  ids: readonly Id[],
  l1Read = false,
  maxStale = Number.POSITIVE_INFINITY,
): Promise<(Row | null)[]> {
  if (ids.length === 1) {
    const key = idKey(ids[0]!);
    const found = readRow(ctx, cache, ids[0]!, key, l1Read, maxStale);
    return [found instanceof Promise ? ((await found).get(key) ?? null) : found];
  }
  const n = ids.length;
  const out = new Array<Row | null>(n).fill(null);
  const keys = new Array<string>(n);
  // Keys seen: a key twice in `ids` is read once and copied (from its first position, see
  // `firstPositions`). A Set and its size, not a Map of positions: one hash operation per id
  // instead of two (`has`, then `set`), and a smaller table (~35 % less time per 1,000 keys, measured).
  const seenKeys = new Set<string>();
  let dupes: number[] | undefined;
  // Positions this read loads itself, and those that join a load already running (by load).
  const own: number[] = [];
  let joins: Map<Promise<Loaded>, number[]> | undefined;
  // Positions L1 answered stale (aging schemas): refreshed together, in one load.
  let stale: number[] | undefined;
  const seen = { stale: false };
  // With no load in flight there is nothing to join: no lookup per id. This loop lists no load
  // itself (its own starts after it); one listed meanwhile by a hook's own read is only not joined.
  const joinable = maxStale === Infinity && cache.inflight.size > 0;
  for (let i = 0; i < n; i++) {
    const key = idKey(ids[i]!);
    keys[i] = key;
    const before = seenKeys.size;
    if (seenKeys.add(key).size === before) {
      dupes ??= [];
      dupes.push(i);
      continue;
    }
    const hit = l1Read
      ? undefined
      : cache.aging
        ? agedL1(ctx, cache, key, maxStale, seen)
        : readL1(cache, ctx, key);
    if (hit !== undefined) {
      out[i] = hit;
      if (seen.stale) {
        seen.stale = false;
        stale ??= [];
        stale.push(i);
      }
      continue;
    }
    // A read that takes less than the schema's window does not join a load that may answer more.
    const running = joinable ? cache.inflight.get(key) : undefined;
    if (!running) own.push(i);
    else {
      joins ??= new Map();
      const at = joins.get(running);
      if (at) at.push(i);
      else joins.set(running, [i]);
    }
  }
  if (stale)
    refreshLater(
      ctx,
      cache,
      stale.map((i) => keys[i]!),
      stale.map((i) => ids[i]!),
      refreshBelowL1,
    );
  if (own.length > 0) {
    const ownKeys = own.map((i) => keys[i]!);
    const load = startLoad(
      ctx,
      cache,
      ownKeys,
      own.map((i) => ids[i]!),
      maxStale,
    );
    const rows = (await load).rows;
    for (let j = 0; j < own.length; j++) out[own[j]!] = rows[j]!;
  }
  if (joins) {
    for (const [load, positions] of joins) {
      const found = await joinLoad(ctx, load, () =>
        startLoad(
          ctx,
          cache,
          positions.map((i) => keys[i]!),
          positions.map((i) => ids[i]!),
          maxStale,
        ),
      );
      for (const i of positions) out[i] = found.get(keys[i]!) ?? null;
    }
  }
  if (dupes) {
    const first = firstPositions(keys, dupes);
    for (const i of dupes) out[i] = out[first(keys[i]!)]!;
  }
  return out;
}

/**
 * The first position of a key in `keys` (a batch's, in order), for its `dupes`: a scan from the
 * start for a few of them, a Map of first positions (made once) for more, so a batch of one id many
 * times costs a pass, not a pass per copy.
 */
function firstPositions(keys: readonly string[], dupes: readonly number[]): (key: string) => number {
  if (dupes.length <= 8) return (key) => keys.indexOf(key);
  const first = new Map<string, number>();
  for (let i = keys.length - 1; i >= 0; i--) first.set(keys[i]!, i);
  return (key) => first.get(key)!;
}

/**
 * `readRows` of one id, without the maps a batch needs: the path of every `get` and `find`. L1's
 * answer (the row, or null: cached absent) when it has one, else the load that answers `key` (the
 * key of `id`), whose `get(key)` the caller takes once it settles. Not async: the caller awaits
 * the load itself, one promise and one turn of the microtask queue fewer on every L2 hit.
 */
export function readRow(
  ctx: EngineContext,
  cache: SchemaCache,
  id: Id,
  key: string,
  l1Read: boolean,
  maxStale = Number.POSITIVE_INFINITY,
): Row | null | Promise<Loaded> {
  if (!l1Read && cache.aging) {
    const seen = { stale: false };
    const hit = agedL1(ctx, cache, key, maxStale, seen);
    if (seen.stale) refreshLater(ctx, cache, [key], [id], refreshBelowL1);
    if (hit !== undefined) return hit;
  } else {
    const hit = l1Read ? undefined : readL1(cache, ctx, key);
    if (hit !== undefined) return hit;
  }
  // A read that takes less than the schema's window does not join a load that may answer more.
  const running = maxStale === Infinity ? cache.inflight.get(key) : undefined;
  if (running) return joinLoad(ctx, running, () => startLoad(ctx, cache, [key], [id], maxStale));
  return startLoad(ctx, cache, [key], [id], maxStale);
}

/**
 * L1's answer for `id` (normalized) without an await: the row, null (cached absent), or undefined
 * (a miss, counted). For a schema with windows a stale row is answered and its refresh started;
 * `seen` says how it was answered (see {@link agedL1}).
 */
export function readL1Now(
  ctx: EngineContext,
  cache: SchemaCache,
  id: Id,
  maxStale: number,
  seen: { stale: boolean; grace?: boolean } = { stale: false },
): Row | null | undefined {
  if (!cache.l1 || !cache.l1AnswersGets) return undefined;
  if (!cache.aging) return readL1Id(cache, ctx, id);
  const key = idKey(id);
  const hit = agedL1(ctx, cache, key, maxStale, seen);
  if (seen.stale) refreshLater(ctx, cache, [key], [id], refreshBelowL1);
  return hit;
}

/** The status of the answer L1 just gave for `id` (`seen`: how {@link readL1Now} answered it). */
export function l1ReadStatus(
  cache: SchemaCache,
  id: Id,
  seen: { stale: boolean; grace?: boolean },
): ReadStatus {
  const key = idKey(id);
  return fullStatus(cache, key, l1Status(cache, key, seen));
}

/**
 * The load of `readRow` below L1 (L1 missed), with where its answer came from (see
 * {@link ReadStatus}). It makes its own load (it joins no other read's, and none joins it): the
 * status is of this read's answer.
 */
export async function loadRowWithStatus(
  ctx: EngineContext,
  cache: SchemaCache,
  id: Id,
  maxStale: number,
): Promise<{ row: Row | null; status: ReadStatus }> {
  const key = idKey(id);
  const loaded = new Loaded([key]);
  loaded.status = [];
  loaded.maxStale = maxStale;
  await loadBelowL1(ctx, cache, loaded, [id], maxStale > 0 ? 'read' : 'fresh');
  return { row: loaded.rows[0] ?? null, status: fullStatus(cache, key, loaded.status[0]) };
}

/**
 * `readRows` with where each answer came from, by position (see {@link ReadStatus}): L1 answers by
 * age without an await, then one load of its own below L1 for the rest (it joins no other read's,
 * and none joins it: each status is of this read's answer).
 */
export async function readRowsWithStatus(
  ctx: EngineContext,
  cache: SchemaCache,
  ids: readonly Id[],
  maxStale: number,
): Promise<{ rows: (Row | null)[]; status: ReadStatus[] }> {
  const rows = new Array<Row | null>(ids.length).fill(null);
  const status = new Array<ReadStatus>(ids.length);
  // Key -> its position in the load; positions the load answers.
  const below = new Map<string, number>();
  const waiting: [position: number, at: number][] = [];
  const belowIds: Id[] = [];
  // Stale L1 answers: refreshed together, in one load (as `readRows` does).
  let stale: number[] | undefined;
  const hits: [position: number, key: string, status: PositionStatus][] = [];
  const byAge = cache.aging && cache.l1 && cache.l1AnswersGets;
  for (let i = 0; i < ids.length; i++) {
    const key = idKey(ids[i]!);
    const seen = { stale: false, grace: false };
    const hit = byAge ? agedL1(ctx, cache, key, maxStale, seen) : readL1Now(ctx, cache, ids[i]!, maxStale);
    if (hit !== undefined) {
      rows[i] = hit;
      // Completed once the refreshes started (its `refreshing`).
      hits.push([i, key, l1Status(cache, key, seen)]);
      if (seen.stale) {
        stale ??= [];
        stale.push(i);
      }
      continue;
    }
    let at = below.get(key);
    if (at === undefined) {
      at = belowIds.push(ids[i]!) - 1;
      below.set(key, at);
    }
    waiting.push([i, at]);
  }
  if (stale)
    refreshLater(
      ctx,
      cache,
      stale.map((i) => idKey(ids[i]!)),
      stale.map((i) => ids[i]!),
      refreshBelowL1,
    );
  for (const [i, key, l1] of hits) status[i] = fullStatus(cache, key, l1);
  if (belowIds.length === 0) return { rows, status };
  const keys = [...below.keys()];
  const loaded = new Loaded(keys);
  loaded.status = [];
  loaded.maxStale = maxStale;
  await loadBelowL1(ctx, cache, loaded, belowIds, maxStale > 0 ? 'read' : 'fresh');
  for (const [i, at] of waiting) {
    rows[i] = loaded.rows[at]!;
    status[i] = fullStatus(cache, keys[at]!, loaded.status[at]);
  }
  return { rows, status };
}

/**
 * Loads `keys` (of `ids`) below L1, listed in `inflight` for its keys until it settles (concurrent
 * misses of a key join it). One promise for the whole batch, shared by its keys: no promise or
 * closure per key.
 */
function startLoad(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  ids: readonly Id[],
  maxStale = Number.POSITIVE_INFINITY,
): Promise<Loaded> {
  const loaded = new Loaded(keys);
  loaded.maxStale = maxStale;
  const batch = loadBelowL1(ctx, cache, loaded, ids, maxStale > 0 ? 'read' : 'fresh');
  // Unlisted by the load itself as it ends (see `unlist`): no closure and no `.then` per load.
  loaded.listed = batch;
  for (const key of keys) cache.inflight.set(key, batch);
  return batch;
}

/**
 * Takes a listed load's keys out of `inflight` (those still its own: a write may have detached
 * one, and a later load listed it again). Runs as the load ends, in `tookFromL2` (the `.then` of
 * the tier's promise) or in `loadBelow`'s `finally` after its first await, so `startLoad` has
 * listed it by then; nothing runs between that and the load settling.
 */
function unlist(cache: SchemaCache, loaded: Loaded): void {
  const batch = loaded.listed;
  if (batch === undefined) return;
  cache.inflight.unlist(loaded.keys, batch);
}

/**
 * Loads `loaded`'s keys below L1. The usual L2 hit (L2 before the source, no tags: `read` and
 * `fresh` loads) has no async frame: the fence token is taken, the MGET sent, and its values taken
 * in the `.then` of the tier's promise (`tookFromL2`); what that does not finish (a miss, a
 * decrypt, a Redis reset, a failure) goes on in `loadBelow`, with the same token.
 */
function loadBelowL1(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
  mode: LoadMode = 'read',
): Promise<Loaded> {
  // One token for the whole batch: a write of any of its keys fences that key.
  const token = cache.fence.beginRead();
  // A whole-L1 clear (invalidateAll, a bus gap, a Redis reset) while this read is out fences every key.
  const clears = cache.clears;
  const fenced = (key: string) => cache.clears !== clears || cache.fence.stale(key, token);
  if (!cache.l2 || cache.tags || (mode !== 'read' && mode !== 'fresh'))
    return loadBelow(ctx, cache, loaded, ids, mode, token, fenced);
  let read: SentRowRead | Promise<L2Rows>;
  try {
    read = sendRowRead(cache, loaded.keys);
  } catch (err) {
    read = Promise.reject(err);
  }
  if (read instanceof Promise) return loadBelow(ctx, cache, loaded, ids, mode, token, fenced, read);
  const sent = read;
  return sent.values.then(
    (values) => tookFromL2(ctx, cache, loaded, ids, mode, token, fenced, sent, values),
    (err: unknown) => loadBelow(ctx, cache, loaded, ids, mode, token, fenced, Promise.reject(err)),
  );
}

/**
 * The reply of `loadBelowL1`'s MGET (`values`), taken without an await: when L2 answered every
 * key, the load ends here; else `loadBelow` goes on from where this stopped.
 */
function tookFromL2(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
  mode: LoadMode,
  token: ReadToken,
  fenced: (key: string) => boolean,
  sent: SentRowRead,
  values: (string | null)[],
): Loaded | Promise<Loaded> {
  let reply: L2Rows | Promise<L2Rows>;
  try {
    reply = tookRows(cache, sent, values);
  } catch (err) {
    reply = Promise.reject(err);
  }
  // A reset found, or keys it left waiting for another instance's write: read on in `loadBelow`.
  if (reply instanceof Promise || cache.ownPending?.waiting)
    return loadBelow(ctx, cache, loaded, ids, mode, token, fenced, reply);
  const tick = Number(reply.values[0] ?? 0);
  let missing: number[] | Promise<number[]>;
  try {
    missing = fromL2(ctx, cache, loaded, reply, fenced, mode);
  } catch (err) {
    missing = Promise.reject(err);
  }
  if (missing instanceof Promise || missing.length > 0)
    return loadBelow(ctx, cache, loaded, ids, mode, token, fenced, undefined, { missing, tick });
  cache.fence.endRead(token);
  unlist(cache, loaded);
  return loadEnded(ctx, cache, loaded, ids);
}

/**
 * The load below L1 from where `loadBelowL1` left it: from the start (`sent` and `taken` absent),
 * from L2's reply (`sent`: the read, sent already), or from what L2 did not answer (`taken`).
 */
async function loadBelow(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
  mode: LoadMode,
  token: ReadToken,
  fenced: (key: string) => boolean,
  sent?: L2Rows | Promise<L2Rows>,
  taken?: { missing: number[] | Promise<number[]>; tick: number },
): Promise<Loaded> {
  const refresh = mode === 'refresh' || mode === 'refreshL3';
  // What is left for the source, by position: a grace answer covers these if it fails.
  let unanswered: readonly number[] | undefined;
  try {
    // A tagged schema's rows read now take the tick this instance knows now (see RowTags).
    if (cache.tags) await cache.tags.clock.known();
    const stamp = cache.tags?.clock.stamp() ?? 0;
    // What L2 did not answer, by position; null when L2 failed this read: it is not asked again
    // to take the fill (one failure, one call). The request is awaited here, not in a function of
    // its own: what it answered is taken without another await for most schemas (see `fromL2`).
    let missing: number[] | null;
    // The app's tick L2 answered before the source is read (one bucket): the fill carries it (see PUT).
    let tick: number | undefined;
    if (taken) {
      tick = taken.tick;
      missing = await taken.missing;
    } else if (cache.l2 && mode !== 'refreshL3') {
      let reply: L2Rows | undefined;
      try {
        if (sent) reply = await sent;
        else {
          // The tier's promise awaited here, not through a layer of ours (see `sendRowRead`).
          const read = sendRowRead(cache, loaded.keys);
          if (read instanceof Promise) reply = await read;
          else {
            const took = tookRows(cache, read, await read.values);
            reply = took instanceof Promise ? await took : took;
          }
        }
        // Keys a Redis reset left waiting for another instance's write (rare, and briefly).
        if (cache.ownPending?.waiting) reply = await readPastReplaced(cache, loaded.keys, reply);
      } catch (err) {
        l2ReadFailed(ctx, cache, err);
      }
      if (reply && !reply.generations) tick = Number(reply.values[0] ?? 0);
      const fromTier = reply ? fromL2(ctx, cache, loaded, reply, fenced, mode) : null;
      missing = fromTier instanceof Promise ? await fromTier : fromTier;
    } else missing = everything(loaded);
    if (refresh && missing) missing = await leased(ctx, cache, loaded.keys, missing);
    unanswered = missing ?? everything(loaded);
    if (missing === null) await fromL3(ctx, cache, loaded, ids, unanswered, fenced, false, stamp);
    else if (missing.length > 0) await fromL3(ctx, cache, loaded, ids, missing, fenced, true, stamp, tick);
  } catch (err) {
    // Grace answers only for the source failing (down, or timed out: l3Error makes both
    // L3_UNAVAILABLE; L2_UNAVAILABLE for a schema whose source is L2), never for the caller's own error.
    const grace =
      !refresh &&
      cache.aging &&
      cache.aging.graceMs > 0 &&
      isStrataError(err, cache.l3 ? 'L3_UNAVAILABLE' : 'L2_UNAVAILABLE');
    if (!grace || !answerFromGrace(ctx, cache, loaded, unanswered ?? everything(loaded))) throw err;
  } finally {
    cache.fence.endRead(token);
    unlist(cache, loaded);
  }
  return loadEnded(ctx, cache, loaded, ids);
}

/** A load's end: the rows it answered stale are refreshed from the source, in the background. */
function loadEnded(ctx: EngineContext, cache: SchemaCache, loaded: Loaded, ids: readonly Id[]): Loaded {
  const stale = loaded.stale;
  if (stale)
    refreshLater(
      ctx,
      cache,
      stale.map((i) => loaded.keys[i]!),
      stale.map((i) => ids[i]!),
      refreshFromL3,
    );
  return loaded;
}

/** The refresh of rows a read found stale in L2: no second L2 read (see `refreshL3`). */
function refreshFromL3(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
): Promise<Loaded> {
  return loadBelowL1(ctx, cache, loaded, ids, 'refreshL3');
}

/** The background refresh of stale rows (see read-aged.ts `refreshLater`). */
function refreshBelowL1(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
): Promise<Loaded> {
  return loadBelowL1(ctx, cache, loaded, ids, 'refresh');
}

function everything(loaded: Loaded): number[] {
  return Array.from(loaded.keys, (_, i) => i);
}

/** L2 failed a read: with no L3 it is the source of truth, and the read fails (L2_UNAVAILABLE); else L3 answers. */
function l2ReadFailed(ctx: EngineContext, cache: SchemaCache, err: unknown): void {
  if (!cache.l3) {
    ctx.counters.error('l2');
    throw err;
  }
  ctx.tolerate(cache.schema.name, 'l2', 'get', err);
}

async function fromL3(
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
