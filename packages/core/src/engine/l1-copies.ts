import { freezeRow } from '../l1/freeze-row.js';
import type { L1Tier } from '../l1/types.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { idKey, mayBeKey, normalizeId } from './ids.js';
import { ABSENT, type L1Value, type SchemaCache } from './schema-cache.js';

/*
 * A schema's copies in L1: what a read answers from it (counted, a protected copy), and the offers
 * that put a row or an absence into it, refused when it holds, or was announced, a newer version.
 */

/** L1's answer: a row, null (cached absent), or undefined (ask below). Counts the outcome. */
export function readL1(cache: SchemaCache, ctx: EngineContext, key: string): Row | null | undefined {
  if (!cache.l1 || !cache.l1AnswersGets) return undefined;
  return answerL1(cache, ctx, cache.l1.get(key));
}

/**
 * `readL1` of an id as the caller gave it (a bad one throws), for the synchronous get path, whose
 * caller has checked that L1 answers gets. A string that may be a key is looked up as given, and
 * only normalized when L1 does not hold it (see {@link mayBeKey}); normalizing it then may give
 * another key (an upper-case uuid), which is looked up too.
 */
export function readL1Id(cache: SchemaCache, ctx: EngineContext, id: unknown): Row | null | undefined {
  const l1 = cache.l1 as L1Tier<L1Value>;
  const probed = mayBeKey(id);
  let value = probed ? l1.get(id) : undefined;
  if (value === undefined) {
    const key = idKey(normalizeId(cache.schema, id));
    if (!probed || key !== id) value = l1.get(key);
  }
  return answerL1(cache, ctx, value);
}

/** A value L1 held, as a read answers it (a protected copy), counted as a hit; undefined: a miss. */
export function answerL1(
  cache: SchemaCache,
  ctx: EngineContext,
  value: L1Value | undefined,
): Row | null | undefined {
  if (value === undefined) {
    ctx.miss('l1', cache.schema.name);
    return undefined;
  }
  if (value === ABSENT) {
    ctx.counters.negativeHits += 1;
    return null;
  }
  ctx.hit('l1', cache.schema.name);
  return cache.config.l1.protect === 'copy' ? structuredClone(value) : (value as Row);
}

/**
 * Puts a value into L1 unless it holds a newer version of the key; false when it does. `ttlMs` is
 * the row's fresh time: a schema with `stale`/`grace` keeps rows that much longer (see
 * `Staleness`), unless `held` says `ttlMs` is the whole time to keep it already.
 */
export function offerL1(
  cache: SchemaCache,
  key: string,
  value: L1Value,
  ttlMs: number,
  version: number,
  held = false,
): boolean {
  const l1 = cache.l1;
  if (!l1) return true;
  // Reads take L2 unchecked until L3 names its database: what they found may be another app's, so
  // L1 keeps none of it (an L1 hit never asks again). Checked at the next generation read. Asked
  // of the key's own bucket: each has its own claim and check, and a row of bucket k read
  // unchecked says nothing of bucket 0, which may never have been read (l3-claim.test.ts).
  const { buckets } = cache;
  if (buckets[buckets.length > 1 ? cache.router.bucket(key) : 0]!.generation?.readsUnchecked) return true;
  const announced = cache.announced.of(key);
  if (announced !== undefined && announced > version) return false;
  const ttl = cache.aging && !held && value !== ABSENT ? cache.aging.hold(ttlMs) : ttlMs;
  if (!l1.offer(key, value, ttl, version)) return false;
  // Taken: the announcement is met (a refused offer leaves it, as L1 holds newer anyway).
  if (announced !== undefined) cache.announced.met(key);
  return true;
}

/**
 * Whether L1 must not take `version` of `key`: a newer one was announced to it (see `announced`).
 * For a fill that sets L1 itself (a search's, which peeks once for both tiers): one that may go
 * ahead meets the announcement, which is forgotten, as `offerL1` forgets it when L1 takes a value.
 */
export function refusesL1(cache: SchemaCache, key: string, version: number): boolean {
  const announced = cache.announced.of(key);
  if (announced === undefined) return false;
  if (announced > version) return true;
  cache.announced.met(key);
  return false;
}

/** What L1 keeps of a row: frozen (default) or a private copy, never the caller's objects. */
export function l1Value(cache: SchemaCache, plain: Row, owned: boolean): Row {
  const row = cache.rows.toL1(owned ? plain : cache.rows.fromL2(cache.rows.toL2(plain)));
  return cache.config.l1.protect === 'freeze' ? freezeRow(row) : structuredClone(row);
}

/**
 * `l1Value(plain, false)` for a row whose stored shape is its plaintext (no encrypted field), given
 * `l2`, the L2 string the write encoded already: L1's private copy is what decoding it gives (see
 * `RowCodec.fromEncoded`), without encoding it again.
 */
export function l1ValueFromL2(cache: SchemaCache, plain: Row, l2: string): Row {
  const row = cache.rows.toL1(cache.rows.fromEncoded(plain, l2));
  return cache.config.l1.protect === 'freeze' ? freezeRow(row) : structuredClone(row);
}
