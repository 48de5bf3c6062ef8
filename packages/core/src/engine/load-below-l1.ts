import { isStrataError } from '../errors.js';
import type { EngineContext } from './context.js';
import type { ReadToken } from './fence.js';
import type { Id } from './ids.js';
import { fromL2, type LoadMode } from './l2-answers.js';
import { type L2Rows, type SentRowRead, sendRowRead, tookRows } from './l2-row-reads.js';
import { fromL3 } from './l3-answers.js';
import { Loaded } from './loaded.js';
import { answerFromGrace, leased, refreshLater } from './read-aged.js';
import { readPastReplaced } from './replaced-wait.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Loads `keys` (of `ids`) below L1, listed in `inflight` for its keys until it settles (concurrent
 * misses of a key join it). One promise for the whole batch, shared by its keys: no promise or
 * closure per key.
 */
export function startLoad(
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
export function loadBelowL1(
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
export function refreshBelowL1(
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
