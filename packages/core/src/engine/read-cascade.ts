import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { ABSENT, type Loaded, type SchemaCache, type Versioned } from './schema-cache.js';

/** The remaining-TTL rule: an upper tier never keeps a value longer than the tier it came from. */
function fillTtl(policyMs: number, remainingMs: number): number {
  if (remainingMs <= 0) return policyMs;
  return policyMs === 0 ? remainingMs : Math.min(policyMs, remainingMs);
}

/**
 * THE read path, for one id or many: L1, then ONE L2 request for L1's misses, then ONE L3 query
 * for L2's misses, filling the tiers above with what was found, each value with its version (no
 * cache takes it over a newer one). Concurrent reads of a key in this instance share one load
 * (request coalescing). Results follow `ids`; `null` where no row exists.
 * `l1Read`: the caller already asked L1 for these ids (and counted the misses).
 */
export async function readRows(
  ctx: EngineContext,
  cache: SchemaCache,
  ids: readonly Id[],
  l1Read = false,
): Promise<(Row | null)[]> {
  if (ids.length === 1) return [await readRow(ctx, cache, ids[0]!, l1Read)];
  const results = new Map<string, Row | null>();
  const own = new Map<string, Id>();
  // The loads this read waits for, each with the keys it wants from it: usually one, its own.
  const waits = new Map<Promise<Loaded>, string[]>();
  for (const id of ids) {
    const key = idKey(id);
    if (results.has(key) || own.has(key)) continue;
    const hit = l1Read ? undefined : cache.readL1(ctx, key);
    if (hit !== undefined) {
      results.set(key, hit);
      continue;
    }
    const running = cache.inflight.get(key);
    if (!running) own.set(key, id);
    else {
      // A key twice in `ids` is listed twice here: harmless, it is looked up twice.
      const keys = waits.get(running);
      if (keys) keys.push(key);
      else waits.set(running, [key]);
    }
  }
  if (own.size > 0) waits.set(startLoad(ctx, cache, own), [...own.keys()]);
  for (const [load, keys] of waits) {
    const found = await load;
    for (const key of keys) results.set(key, found.get(key) ?? null);
  }
  return ids.map((id) => results.get(idKey(id)) ?? null);
}

/** `readRows` of one id, without the maps a batch needs: the path of every `get` and `find`. */
export async function readRow(
  ctx: EngineContext,
  cache: SchemaCache,
  id: Id,
  l1Read: boolean,
): Promise<Row | null> {
  const key = idKey(id);
  const hit = l1Read ? undefined : cache.readL1(ctx, key);
  if (hit !== undefined) return hit;
  const load = cache.inflight.get(key) ?? startLoad(ctx, cache, new Map([[key, id]]));
  return (await load).get(key) ?? null;
}

/**
 * Loads `own` below L1, listed in `inflight` for its keys until it settles (concurrent misses of
 * a key join it). One promise for the whole batch, shared by its keys: no promise or closure per key.
 */
function startLoad(ctx: EngineContext, cache: SchemaCache, own: ReadonlyMap<string, Id>): Promise<Loaded> {
  const batch = loadBelowL1(ctx, cache, own);
  for (const key of own.keys()) cache.inflight.set(key, batch);
  const done = () => {
    for (const key of own.keys()) if (cache.inflight.get(key) === batch) cache.inflight.delete(key);
  };
  batch.then(done, done);
  return batch;
}

async function loadBelowL1(
  ctx: EngineContext,
  cache: SchemaCache,
  own: ReadonlyMap<string, Id>,
): Promise<Loaded> {
  // One token for the whole batch: a write of any of its keys fences that key.
  const token = cache.fence.beginRead();
  // A whole-L1 clear (invalidateAll, a bus gap, a Redis reset) while this read is out fences every key.
  const clears = cache.clears;
  const fenced = (key: string) => cache.clears !== clears || cache.fence.stale(key, token);
  try {
    const results = new Map<string, Row | null>();
    const missing = new Map(own);
    // An L2 that just failed this read is not asked again to take the fill: one failure, one call.
    const l2Answered = cache.l2 ? await fromL2(ctx, cache, missing, fenced, results) : false;
    if (missing.size > 0) await fromL3(ctx, cache, missing, fenced, results, l2Answered);
    return results;
  } finally {
    cache.fence.endRead(token);
  }
}

async function fromL2(
  ctx: EngineContext,
  cache: SchemaCache,
  missing: Map<string, Id>,
  fenced: (key: string) => boolean,
  results: Map<string, Row | null>,
): Promise<boolean> {
  const name = cache.schema.name;
  let values: (string | null)[];
  let generation: number;
  const keys = [...missing.keys()];
  try {
    ({ values, generation } = await cache.readWatched(cache.rowKeys(keys)));
  } catch (err) {
    ctx.tolerate(name, 'l2', 'get', err);
    return false;
  }
  const decrypts = cache.rows.encrypts;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    try {
      const hit = cache.readL2(ctx, key, values[i] ?? null, generation);
      if (!hit) {
        ctx.miss('l2', name);
        continue;
      }
      if ('absent' in hit) {
        missing.delete(key);
        ctx.counters.negativeHits += 1;
        results.set(key, null);
        const ttl = fillTtl(cache.negativeTtlMs || cache.l1TtlMs, hit.remainingMs);
        if (fenced(key) || !cache.offerL1(key, ABSENT, ttl, hit.version)) ctx.counters.fencedFills += 1;
        continue;
      }
      // No await for a schema without encrypted fields: the row as decoded is its plaintext.
      const plain = decrypts ? await cache.rows.decryptRow(hit.row, key) : hit.row;
      missing.delete(key);
      ctx.hit('l2', name);
      results.set(key, plain);
      // Asked after the decrypt's await: a drop (a write here, a bus message) may land meanwhile.
      if (fenced(key)) ctx.counters.fencedFills += 1;
      // Without an L1 the row is not frozen or copied for it: that work would be thrown away.
      else if (cache.l1) {
        const ttl = fillTtl(cache.l1TtlMs, hit.remainingMs);
        if (!cache.offerL1(key, cache.l1Value(plain, true), ttl, hit.version)) ctx.counters.fencedFills += 1;
      }
    } catch (err) {
      // An entry this instance cannot read (tampered, another key, another codec): L3 answers for it.
      ctx.tolerate(name, 'l2', 'decode', err);
    }
  }
  return true;
}

async function fromL3(
  ctx: EngineContext,
  cache: SchemaCache,
  missing: Map<string, Id>,
  fenced: (key: string) => boolean,
  results: Map<string, Row | null>,
  fillL2: boolean,
): Promise<void> {
  const name = cache.schema.name;
  if (!cache.l3) {
    // L2 is the source of truth: what it does not hold does not exist.
    for (const key of missing.keys()) results.set(key, null);
    return;
  }
  ctx.counters.l3Reads += 1;
  let found: Awaited<ReturnType<typeof cache.l3.findMany>>;
  try {
    found = await cache.l3.findMany(cache.schema, [...missing.values()]);
  } catch (err) {
    throw ctx.l3Error(name, 'get', err);
  }
  const pk = cache.schema.primaryKey.key;
  const read: Versioned[] = [];
  for (const { row: stored, version } of found) {
    const key = idKey(stored[pk] as Id);
    if (!missing.delete(key)) continue;
    ctx.hit('l3', name);
    const plain = cache.rows.encrypts ? await cache.rows.decryptRow(stored, key) : stored;
    results.set(key, plain);
    read.push({ key, version, stored, plain });
  }
  for (const key of missing.keys()) {
    ctx.miss('l3', name);
    results.set(key, null);
    // Version 0: an absence read here never replaces anything a write put in a cache.
    read.push({ key, version: 0 });
  }
  // Decided after the last await, and `fill` takes L1 before its own first one: a drop that landed
  // while this read was out keeps its key out of the caches.
  const fills = read.filter((r) => {
    if (!fenced(r.key)) return true;
    ctx.counters.fencedFills += 1;
    return false;
  });
  await cache.fill(ctx, fills, { l2: fillL2 });
}
