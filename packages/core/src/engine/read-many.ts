import type { L2SetEntry } from '../l2/types.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { ReadToken } from './fence.js';
import { type Id, idKey } from './ids.js';
import { ABSENT_MARKER } from './keys.js';
import { cacheFill, fillTtl, readL1 } from './read-path.js';
import { ABSENT, type SchemaRuntime } from './schema-runtime.js';

/**
 * Batch read: one L1 pass, ONE L2 request for the L1 misses, ONE L3 query for the L2 misses, and one
 * L2 request to fill what L3 found. Results follow `ids`; `null` where a row does not exist.
 */
export async function loadMany(
  ctx: EngineContext,
  rt: SchemaRuntime,
  ids: readonly Id[],
): Promise<(Row | null)[]> {
  const results = new Map<string, Row | null>();
  const missing = new Map<string, Id>();
  for (const id of ids) {
    const key = idKey(id);
    if (results.has(key) || missing.has(key)) continue;
    const hit = readL1(ctx, rt, key);
    if (hit === undefined) missing.set(key, id);
    else results.set(key, hit);
  }
  if (missing.size > 0) {
    const tokens = new Map<string, ReadToken>([...missing.keys()].map((k) => [k, rt.fence.beginRead(k)]));
    try {
      await loadMissing(ctx, rt, missing, tokens, results);
    } finally {
      for (const [key, token] of tokens) rt.fence.endRead(key, token);
    }
  }
  return ids.map((id) => results.get(idKey(id)) ?? null);
}

async function loadMissing(
  ctx: EngineContext,
  rt: SchemaRuntime,
  missing: Map<string, Id>,
  tokens: Map<string, ReadToken>,
  results: Map<string, Row | null>,
): Promise<void> {
  const name = rt.schema.name;
  const l2Keys = new Map<string, string>();
  if (rt.l2) {
    try {
      const generation = await rt.generation();
      for (const key of missing.keys()) l2Keys.set(key, rt.keys.row(generation, key));
      const entries = await rt.l2.getMany([...l2Keys.values()]);
      let i = 0;
      for (const key of [...missing.keys()]) {
        const entry = entries[i++];
        if (!entry) {
          ctx.miss('l2', rt.schema.name);
          continue;
        }
        const stale = tokens.get(key)!.stale;
        if (entry.value === ABSENT_MARKER) {
          missing.delete(key);
          ctx.counters.negativeHits += 1;
          results.set(key, null);
          if (!stale) rt.l1?.set(key, ABSENT, rt.negativeTtlMs || rt.l1TtlMs);
          continue;
        }
        let plain: Row;
        try {
          plain = await rt.rows.decryptRow(rt.rows.fromL2(entry.value), key);
        } catch (err) {
          // An entry this instance cannot read (tampered, or another key): L3 answers for it, as in get.
          ctx.tolerate(name, 'l2', 'getMany decode', err);
          continue;
        }
        missing.delete(key);
        ctx.hit('l2', rt.schema.name);
        results.set(key, plain);
        if (!stale) rt.l1?.set(key, rt.protect(rt.rows.toL1(plain)), fillTtl(rt.l1TtlMs, entry.ttlMs));
      }
    } catch (err) {
      ctx.tolerate(name, 'l2', 'getMany', err);
      l2Keys.clear();
    }
  }
  if (missing.size === 0 || !rt.l3) return;
  ctx.counters.l3Reads += 1;
  let rows: Row[];
  try {
    rows = await rt.l3.findMany(rt.schema, [...missing.values()]);
  } catch (err) {
    throw ctx.l3Error(name, 'getMany', err);
  }
  const fills: L2SetEntry[] = [];
  const pk = rt.schema.primaryKey.key;
  for (const stored of rows) {
    const key = idKey(stored[pk] as Id);
    if (!missing.delete(key)) continue;
    ctx.hit('l3', rt.schema.name);
    const plain = await rt.rows.decryptRow(stored, key);
    results.set(key, plain);
    if (tokens.get(key)?.stale) {
      ctx.counters.fencedFills += 1;
      continue;
    }
    rt.l1?.set(key, rt.protect(rt.rows.toL1(plain)), rt.l1TtlMs);
    const l2Key = l2Keys.get(key);
    if (l2Key) fills.push(cacheFill(l2Key, rt.rows.toL2(stored), rt.l2TtlMs));
  }
  for (const key of missing.keys()) {
    ctx.miss('l3', rt.schema.name);
    results.set(key, null);
    if (rt.negativeTtlMs > 0 && !tokens.get(key)?.stale) {
      rt.l1?.set(key, ABSENT, rt.negativeTtlMs);
      const l2Key = l2Keys.get(key);
      if (l2Key) fills.push(cacheFill(l2Key, ABSENT_MARKER, rt.negativeTtlMs));
    }
  }
  if (fills.length > 0) await ctx.defer(name, 'l2', 'fill', () => rt.l2!.setMany(fills));
}
