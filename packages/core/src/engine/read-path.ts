import type { L2Entry, L2SetEntry } from '../l2/types.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { ABSENT_MARKER } from './keys.js';
import { ABSENT, type SchemaRuntime } from './schema-runtime.js';

/**
 * An L2 cache fill: `SET … NX`. A fill carries what L3 held when its read began; another instance's
 * write (or a delete's tombstone) may have reached L2 since, and must win.
 */
export function cacheFill(key: string, value: string, ttlMs: number): L2SetEntry {
  return { key, value, ttlMs, ifAbsent: true };
}

/** The remaining-TTL rule: an upper tier never keeps a value longer than the tier it came from. */
export function fillTtl(policyMs: number, remainingMs: number): number {
  if (remainingMs <= 0) return policyMs;
  return policyMs === 0 ? remainingMs : Math.min(policyMs, remainingMs);
}

/**
 * Reads one id below L1 (L2, then L3), filling the tiers above with what it found. Concurrent calls
 * for one id share one load; a write that starts meanwhile detaches it, and its result fills nothing.
 */
export function loadOne(ctx: EngineContext, rt: SchemaRuntime, id: Id): Promise<Row | null> {
  const key = idKey(id);
  const running = rt.inflight.get(key);
  if (running) return running;
  const load = loadBelowL1(ctx, rt, id, key).finally(() => {
    if (rt.inflight.get(key) === load) rt.inflight.delete(key);
  });
  rt.inflight.set(key, load);
  return load;
}

async function loadBelowL1(ctx: EngineContext, rt: SchemaRuntime, id: Id, key: string): Promise<Row | null> {
  const token = rt.fence.beginRead(key);
  const { counters } = ctx;
  const name = rt.schema.name;
  try {
    let l2Key: string | undefined;
    if (rt.l2) {
      try {
        l2Key = await rt.l2Key(key);
        const [entry] = await rt.l2.getMany([l2Key]);
        if (entry) return await fromL2Entry(ctx, rt, key, entry, token);
        ctx.miss('l2', rt.schema.name);
      } catch (err) {
        ctx.tolerate(name, 'l2', 'get', err);
        l2Key = undefined;
      }
    }
    if (!rt.l3) return null;
    counters.l3Reads += 1;
    let rows: Row[];
    try {
      rows = await rt.l3.findMany(rt.schema, [id]);
    } catch (err) {
      throw ctx.l3Error(name, 'get', err);
    }
    const stored = rows[0];
    if (!stored) {
      ctx.miss('l3', rt.schema.name);
      if (rt.negativeTtlMs > 0 && !token.stale) {
        rt.l1?.set(key, ABSENT, rt.negativeTtlMs);
        if (l2Key) {
          const k = l2Key;
          await ctx.defer(name, 'l2', 'fill', () =>
            rt.l2!.setMany([cacheFill(k, ABSENT_MARKER, rt.negativeTtlMs)]),
          );
        }
      }
      return null;
    }
    ctx.hit('l3', rt.schema.name);
    const plain = await rt.rows.decryptRow(stored, key);
    if (!token.stale) {
      rt.l1?.set(key, rt.protect(rt.rows.toL1(plain)), rt.l1TtlMs);
      if (l2Key) {
        const k = l2Key;
        const value = rt.rows.toL2(stored);
        await ctx.defer(name, 'l2', 'fill', () => rt.l2!.setMany([cacheFill(k, value, rt.l2TtlMs)]));
      }
    } else {
      counters.fencedFills += 1;
    }
    return plain;
  } finally {
    rt.fence.endRead(key, token);
  }
}

async function fromL2Entry(
  ctx: EngineContext,
  rt: SchemaRuntime,
  key: string,
  entry: L2Entry,
  token: { stale: boolean },
): Promise<Row | null> {
  if (entry.value === ABSENT_MARKER) {
    ctx.counters.negativeHits += 1;
    if (!token.stale) rt.l1?.set(key, ABSENT, fillTtl(rt.negativeTtlMs || rt.l1TtlMs, entry.ttlMs));
    return null;
  }
  ctx.hit('l2', rt.schema.name);
  const plain = await rt.rows.decryptRow(rt.rows.fromL2(entry.value), key);
  if (!token.stale) rt.l1?.set(key, rt.protect(rt.rows.toL1(plain)), fillTtl(rt.l1TtlMs, entry.ttlMs));
  else ctx.counters.fencedFills += 1;
  return plain;
}

/** L1 lookup: a row, ABSENT (cached not-found), or undefined (ask below). Counts the outcome. */
export function readL1(ctx: EngineContext, rt: SchemaRuntime, key: string): Row | null | undefined {
  if (!rt.l1 || !rt.l1AnswersGets) return undefined;
  const value = rt.l1.get(key);
  if (value === undefined) {
    ctx.miss('l1', rt.schema.name);
    return undefined;
  }
  if (value === ABSENT) {
    ctx.counters.negativeHits += 1;
    return null;
  }
  ctx.hit('l1', rt.schema.name);
  return rt.handOut(value as Row);
}
