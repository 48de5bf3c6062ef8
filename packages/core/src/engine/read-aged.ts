import { TAKE_LEASES } from '../l2/scripts.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { Id } from './ids.js';
import { answerL1, l1Value, offerL1 } from './l1-copies.js';
import { Loaded } from './loaded.js';
import { positionStatus } from './read-status.js';
import { ABSENT, type SchemaCache } from './schema-cache.js';

/*
 * The read path's part for schemas with `stale` / `grace` windows (see staleness.ts): L1's answer
 * by age, the background refresh of stale rows, its lease across instances, and grace when the
 * source fails. Schemas without windows never come here.
 */

/** Loads rows below L1 in refresh mode (load-below-l1.ts `loadBelowL1`): passed in, not imported back. */
export type RefreshLoad = (
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  ids: readonly Id[],
) => Promise<Loaded>;

/**
 * L1's answer for an aging schema: a fresh row; a stale one (`seen.stale` set: the caller starts
 * its refresh); a graced one while its key is in backoff after a source failure; else undefined (a
 * miss, counted). `maxStale` (a call's `stale`, see `maxStaleOf`) takes rows stale for longer as misses.
 */
export function agedL1(
  ctx: EngineContext,
  cache: SchemaCache,
  key: string,
  maxStale: number,
  seen: { stale: boolean; grace?: boolean },
): Row | null | undefined {
  const l1 = cache.l1;
  if (!l1 || !cache.l1AnswersGets) return undefined;
  const aging = cache.aging!;
  const entry = l1.getEntry(key);
  if (entry !== undefined) {
    // An absence takes no window: fresh while L1 holds it.
    const age = entry.value === ABSENT ? 'fresh' : aging.l1Age(entry.expiresAt);
    if (age === 'fresh') return answerL1(cache, ctx, entry.value);
    if (aging.mayServe(key, entry.version)) {
      if (
        age === 'stale' &&
        (maxStale === Infinity || aging.clock.now() - (entry.expiresAt - aging.tailMs) < maxStale)
      ) {
        ctx.servedStale();
        seen.stale = true;
        return answerL1(cache, ctx, entry.value);
      }
      if (aging.backingOff(key) && aging.l1GraceEnd(entry.expiresAt) > aging.clock.now()) {
        ctx.servedStale(true);
        seen.grace = true;
        return answerL1(cache, ctx, entry.value);
      }
    }
  }
  ctx.miss('l1', cache.schema.name);
  return undefined;
}

/**
 * Refreshes `keys` in the background (never on the caller's path, whatever `background` says), each
 * key at most once at a time in this instance. The refresh reads L2 first (another instance may
 * have refreshed it), then Postgres for what L2 holds stale, under a lease (see `leased`).
 */
export function refreshLater(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  ids: readonly Id[],
  load: RefreshLoad,
): void {
  const refreshing = cache.aging!.refreshing;
  const todo: number[] = [];
  for (let i = 0; i < keys.length; i++) if (!refreshing.has(keys[i]!)) todo.push(i);
  if (todo.length === 0) return;
  const mine = todo.map((i) => keys[i]!);
  for (const key of mine) refreshing.add(key);
  ctx.counters.refreshes += mine.length;
  const work = load(
    ctx,
    cache,
    new Loaded(mine),
    todo.map((i) => ids[i]!),
  ).finally(() => {
    for (const key of mine) refreshing.delete(key);
  });
  ctx.detach(cache.schema.name, 'l3', 'refresh', work);
}

/**
 * The positions (of `keys`) whose refresh lease this instance took: another instance holding one
 * refreshes that key from Postgres already (at most one refresh per key per lease across
 * instances). The lease lives the row's fresh time in L2 (a refresh that landed leaves a row that
 * fresh, which no one refreshes meanwhile), at most the L3 timeout (the longest a refresh's query
 * may take), so it needs no release: one refresh per key per window. When L2 cannot take leases,
 * every key is refreshed (the per-instance rule still holds).
 */
export async function leased(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  positions: readonly number[],
): Promise<number[]> {
  if (!cache.l2 || positions.length === 0) return [...positions];
  try {
    const { l3 } = cache.config.timeouts;
    const ms = String(Math.max(1, Math.min(l3, cache.l2TtlMs || l3)));
    const ids = positions.map((i) => keys[i]!);
    // One request per bucket: a bucket's leases share its slot.
    const reply = await cache.byBucket(ids, (bucket, at) => {
      const leases = (at ? at.map((j) => ids[j]!) : ids).map((k) => bucket.keys.refreshLease(k));
      return cache.l2!.run(TAKE_LEASES, leases, [cache.owner, ms]) as Promise<unknown[]>;
    });
    const taken = positions.filter((_, j) => Number(reply[j]) === 1);
    ctx.counters.refreshesLeased += positions.length - taken.length;
    return taken;
  } catch (err) {
    ctx.tolerate(cache.schema.name, 'l2', 'lease', err);
    return [...positions];
  }
}

/** A row kept past its fresh time that may answer if the source fails, with its version. */
export interface GraceCopy {
  readonly tier: 'l1' | 'l2';
  readonly row: Row;
  readonly version: number;
  /** When its grace ends (ms since the epoch). */
  readonly until: number;
}

/**
 * After the source failed for `positions` of `loaded`: answers each from its grace copy (the newer
 * of L2's, kept by the read, and L1's), counted, its key backing off; false (nothing answered) when
 * a position has none. A copy L1 does not hold yet goes into L1 for the rest of its grace, so the
 * reads during backoff answer from there without asking the source.
 */
export function answerFromGrace(
  ctx: EngineContext,
  cache: SchemaCache,
  loaded: Loaded,
  positions: readonly number[],
): boolean {
  const aging = cache.aging!;
  const now = aging.clock.now();
  const copies: GraceCopy[] = [];
  for (const i of positions) {
    const key = loaded.keys[i]!;
    let best = loaded.grace?.[i];
    const entry = cache.l1?.peek(key);
    if (entry && entry.value !== ABSENT && entry.expiresAt > 0) {
      const until = aging.l1GraceEnd(entry.expiresAt);
      if (until > now && (!best || entry.version > best.version))
        best = { tier: 'l1', row: entry.value as Row, version: entry.version, until };
    }
    if (!best || best.until <= now || !aging.mayServe(key, best.version)) return false;
    copies.push(best);
  }
  positions.forEach((i, j) => {
    const key = loaded.keys[i]!;
    const copy = copies[j]!;
    loaded.rows[i] = cache.config.l1.protect === 'copy' ? structuredClone(copy.row) : copy.row;
    if (loaded.status)
      loaded.status[i] = positionStatus(
        copy.tier,
        copy.version,
        copy.until - aging.graceMs - now,
        true,
        true,
      );
    ctx.servedStale(true);
    aging.backOff(key);
    // A copy from L2 goes into L1 for the rest of its grace (versioned: never over a newer row).
    if (copy.tier === 'l2')
      offerL1(cache, key, l1Value(cache, copy.row, true), Math.ceil(copy.until - now), copy.version, true);
  });
  return true;
}
