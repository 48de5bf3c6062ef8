import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { l1Value, offerL1 } from './l1-copies.js';
import type { L2Rows } from './l2-row-reads.js';
import { floorOf, type L2Hit, readL2 } from './l2-values.js';
import type { Loaded } from './loaded.js';
import { keepOrphan, orphanedPending } from './orphaned-pending.js';
import { positionStatus } from './read-status.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/*
 * What a load below L1 takes from L2's reply (load-below-l1.ts `loadBelowL1`): each key's value
 * decoded and checked (version, generation, tags, age), answered and offered to L1, or left for
 * the source.
 */

/**
 * How a load treats rows past their fresh time (schemas with `stale`/`grace` only): `read` answers
 * a stale L2 row and refreshes it in the background; `fresh` (a call's `stale: false`) reads
 * Postgres for it; `refresh` is that background refresh: L2 (another instance may have refreshed
 * it), then Postgres under a lease; `refreshL3`, the refresh of rows this read found stale in L2
 * itself: straight to the lease (L2 was just read).
 */
export type LoadMode = 'read' | 'fresh' | 'refresh' | 'refreshL3';

/** The remaining-TTL rule: an upper tier never keeps a value longer than the tier it came from. */
function fillTtl(policyMs: number, remainingMs: number): number {
  if (remainingMs <= 0) return policyMs;
  return policyMs === 0 ? remainingMs : Math.min(policyMs, remainingMs);
}

/**
 * Takes what L2 answered for the keys of `loaded` (`reply`: the tick, then a value per key): the
 * positions it did not answer. Reads the clock once for the batch (an entry's remaining time is its
 * expiry minus that). No await, so no promise, for a schema without encrypted fields whose rows'
 * tags are known here (every schema without tags): its rows are answered as they are decoded.
 * Else a promise: the rows to decrypt are decrypted in order after the pass, then the rows whose
 * tags' values were not known are decided.
 */
export function fromL2(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  { values, generation, generations }: L2Rows,
  fenced: (key: string) => boolean,
  mode: LoadMode,
): number[] | Promise<number[]> {
  const name = cache.schema.name;
  const { keys } = loaded;
  const missing: number[] = [];
  const decrypts = cache.rows.encrypts;
  const now = cache.l2Now();
  // Key reads that may go to a replica keep, per miss, the version L2 held there (see fromL3).
  if (cache.rowReader !== cache.l3) loaded.floors = new Array<number>(keys.length).fill(0);
  // Rows whose plaintext needs an await (a decrypt), by position, in order.
  let encrypted: { i: number; hit: RowHit }[] | undefined;
  // A tagged schema's rows whose tags' values this instance does not know now: read, then decided.
  let unsure: Unsure[] | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    try {
      // values[0] is the app's tick (see sendRowRead): key i's value is at i + 1.
      const value = values[i + 1] ?? null;
      if (loaded.floors && value !== null) loaded.floors[i] = floorOf(cache, value);
      const at = generations ? generations[i]! : generation;
      const hit = readL2(cache, ctx, key, value, at, now);
      if (!hit) {
        ctx.miss('l2', name);
        missing.push(i);
        // A pending row a hard move orphaned: Postgres decides whether it still answers.
        if (value !== null) keepOrphan(loaded, orphanedPending(cache, key, value, at));
        continue;
      }
      if ('absent' in hit) {
        ctx.counters.negativeHits += 1;
        if (loaded.status) loaded.status[i] = positionStatus('l2', hit.version, hit.remainingMs || null);
        const ttl = fillTtl(cache.negativeTtlMs || cache.l1TtlMs, hit.remainingMs);
        if (fenced(key) || !offerL1(cache, key, ABSENT, ttl, hit.version)) ctx.counters.fencedFills += 1;
        continue;
      }
      if (decrypts) {
        encrypted ??= [];
        encrypted.push({ i, hit });
        continue;
      }
      // No encrypted field: the row as decoded is its plaintext.
      unsure = takeRow(ctx, cache, loaded, i, hit, hit.row, mode, fenced, missing, unsure);
    } catch (err) {
      // An entry this instance cannot read (tampered, another key, another codec): L3 answers for it.
      ctx.tolerate(name, 'l2', 'decode', err);
      if (loaded.rows[i] === null) missing.push(i);
    }
  }
  if (encrypted || unsure) return fromL2Later(ctx, cache, loaded, encrypted, unsure, mode, fenced, missing);
  return missing;
}

type Unsure = { i: number; hit: RowHit; plain: Row };

/**
 * A row L2 answered at position `i`, as plaintext: answered when its tags allow (see `answerRow`),
 * kept in `unsure` when its tags' values are not known here yet; else its position is `missing`.
 * Returns `unsure` (made when the first such row comes).
 */
function takeRow(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  i: number,
  hit: RowHit,
  plain: Row,
  mode: LoadMode,
  fenced: (key: string) => boolean,
  missing: number[],
  unsure: Unsure[] | undefined,
): Unsure[] | undefined {
  const valid = hit.stamp === undefined || cache.tags!.check(plain, hit.stamp);
  if (valid === undefined) {
    unsure ??= [];
    unsure.push({ i, hit, plain });
  } else if (!valid || !answerRow(ctx, cache, loaded, i, hit, plain, mode, fenced)) {
    if (!valid) ctx.miss('l2', cache.schema.name);
    missing.push(i);
  }
  return unsure;
}

/** The part of `fromL2` that awaits: decrypts (one row after another), then the tag checks. */
async function fromL2Later(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  encrypted: { i: number; hit: RowHit }[] | undefined,
  unsure: Unsure[] | undefined,
  mode: LoadMode,
  fenced: (key: string) => boolean,
  missing: number[],
): Promise<number[]> {
  const name = cache.schema.name;
  for (const { i, hit } of encrypted ?? []) {
    try {
      const plain = await cache.rows.decryptRow(hit.row, loaded.keys[i]!);
      unsure = takeRow(ctx, cache, loaded, i, hit, plain, mode, fenced, missing, unsure);
    } catch (err) {
      ctx.tolerate(name, 'l2', 'decode', err);
      if (loaded.rows[i] === null) missing.push(i);
    }
  }
  if (unsure) {
    await cache.tags!.know(unsure.map((u) => u.plain));
    for (const { i, hit, plain } of unsure) {
      if (
        cache.tags!.check(plain, hit.stamp!) === true &&
        answerRow(ctx, cache, loaded, i, hit, plain, mode, fenced)
      )
        continue;
      ctx.miss('l2', name);
      missing.push(i);
    }
  }
  return missing;
}

type RowHit = Extract<L2Hit, { row: Row }>;

/**
 * A row L2 answered at position `i`: fresh, it is the answer (and L1 takes it unless a drop fenced
 * it); past its fresh time, see {@link agedFromL2}. False when the source must answer instead.
 */
function answerRow(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  i: number,
  hit: RowHit,
  plain: Row,
  mode: LoadMode,
  fenced: (key: string) => boolean,
): boolean {
  if (hit.age) return agedFromL2(ctx, cache, loaded, i, plain, hit.version, hit.remainingMs, mode, fenced);
  const key = loaded.keys[i]!;
  ctx.hit('l2', cache.schema.name);
  loaded.rows[i] = plain;
  if (loaded.status) loaded.status[i] = positionStatus('l2', hit.version, hit.remainingMs || null);
  // Asked after the decrypt's await: a drop (a write here, a bus message) may land meanwhile.
  if (fenced(key)) ctx.counters.fencedFills += 1;
  // Without an L1 the row is not frozen or copied for it: that work would be thrown away.
  else if (cache.l1) {
    const ttl = fillTtl(cache.l1TtlMs, hit.remainingMs);
    if (!offerL1(cache, key, l1Value(cache, plain, true), ttl, hit.version)) ctx.counters.fencedFills += 1;
  }
  return true;
}

/**
 * A row L2 held past its fresh time, at position `i`: answered stale (true; its refresh follows the
 * load) when the read takes stale rows, none of this instance's writes is newer, and it is inside
 * the stale window; else kept as the position's grace copy (false: the source is asked).
 */
function agedFromL2(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  i: number,
  plain: Row,
  version: number,
  remainingMs: number,
  mode: LoadMode,
  fenced: (key: string) => boolean,
): boolean {
  const aging = cache.aging!;
  const key = loaded.keys[i]!;
  const name = cache.schema.name;
  if (!aging.mayServe(key, version)) {
    ctx.miss('l2', name);
    return false;
  }
  const past = -remainingMs;
  if (mode !== 'read' || past >= aging.staleMs || past >= loaded.maxStale) {
    ctx.miss('l2', name);
    if (past < aging.graceMs) {
      loaded.grace ??= [];
      loaded.grace[i] = { tier: 'l2', row: plain, version, until: aging.clock.now() + aging.graceMs - past };
    }
    return false;
  }
  ctx.hit('l2', name);
  ctx.servedStale();
  loaded.rows[i] = plain;
  loaded.stale ??= [];
  loaded.stale.push(i);
  if (loaded.status) loaded.status[i] = positionStatus('l2', version, remainingMs, true);
  // L1 keeps it for what is left of its windows, stale already: its reads refresh it too.
  const hold = Math.ceil(aging.tailMs - past);
  if (
    cache.l1 &&
    hold > 0 &&
    !fenced(key) &&
    !offerL1(cache, key, l1Value(cache, plain, true), hold, version, true)
  )
    ctx.counters.fencedFills += 1;
  return true;
}
