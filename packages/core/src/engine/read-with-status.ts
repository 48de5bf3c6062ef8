import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { readL1Id } from './l1-copies.js';
import { loadBelowL1, refreshBelowL1 } from './load-below-l1.js';
import { Loaded } from './loaded.js';
import { agedL1, refreshLater } from './read-aged.js';
import { fullStatus, l1Status, type PositionStatus, type ReadStatus } from './read-status.js';
import type { SchemaCache } from './schema-cache.js';

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
