import { StrataError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { runHook } from './hooks.js';
import { type Id, idKey, normalizeId } from './ids.js';
import { ABSENT_MARKER } from './keys.js';
import type { SchemaRuntime } from './schema-runtime.js';
import { dropCached, outcomeUnknown } from './unknown-outcome.js';

/**
 * Everything before a write touches a tier: beforeSet (may change the row or reject it), autoNow /
 * autoNowAdd, then validation. Any failure here leaves every tier untouched.
 */
export async function prepareRow(
  ctx: EngineContext,
  rt: SchemaRuntime,
  input: unknown,
): Promise<{ row: Row; id: Id }> {
  const { schema } = rt;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new StrataError('VALIDATION_FAILED', `schema ${schema.name}: a row must be an object`, {
      details: { schema: schema.name },
    });
  }
  const row: Row = { ...(input as Row) };
  await runHook(schema.name, 'beforeSet', schema.hooks.beforeSet, row);
  const now = new Date(ctx.config.clock.now());
  for (const column of schema.columns) {
    if (column.options.autoNow || (column.options.autoNowAdd && row[column.key] == null))
      row[column.key] = now;
  }
  const id = normalizeId(schema, row[schema.primaryKey.key]);
  await schema.validate(row);
  return { row, id };
}

/**
 * Write-through: L3 commits first; only then are L2 and L1 changed, so a failed L3 write leaves every
 * cache as it was. The fence makes reads that raced this write skip their cache fills.
 */
export async function writeRows(
  ctx: EngineContext,
  rt: SchemaRuntime,
  prepared: readonly { row: Row; id: Id }[],
): Promise<Row[]> {
  const name = rt.schema.name;
  const keys = prepared.map(({ id }) => idKey(id));
  const encrypted = await Promise.all(prepared.map(({ row }, i) => rt.rows.encryptRow(row, keys[i]!)));
  beginWrites(rt, keys);
  try {
    // No L3: what is stored is what L2 will give back, decoded afresh, so that L1 never holds (and
    // freezes) objects the caller still owns.
    let stored: Row[] = rt.l3 ? encrypted : encrypted.map((row) => rt.rows.fromL2(rt.rows.toL2(row)));
    if (rt.l3) {
      try {
        stored = matchStored(rt, keys, encrypted, await rt.l3.upsertMany(rt.schema, encrypted));
      } catch (err) {
        if (outcomeUnknown(err)) await dropCached(ctx, rt, keys);
        throw ctx.l3Error(name, 'set', err);
      }
    }
    return await cacheWrites(ctx, rt, keys, stored, prepared);
  } finally {
    endWrites(rt, keys);
  }
}

/** Rows as Postgres returned them, in the order of `keys` (RETURNING order is not relied upon). */
export function matchStored(
  rt: SchemaRuntime,
  keys: readonly string[],
  sent: readonly Row[],
  returned: readonly Row[],
): Row[] {
  const pk = rt.schema.primaryKey.key;
  const byKey = new Map(returned.map((row) => [idKey(row[pk] as Id), row]));
  return keys.map((key, i) => byKey.get(key) ?? sent[i]!);
}

/**
 * After L3 committed rows: L2 (with the search generation bumped in the same request), then L1.
 * Resolves the plaintext rows as stored: Postgres defaults, kept autoNowAdd values, the caller's plaintext.
 */
export async function cacheWrites(
  ctx: EngineContext,
  rt: SchemaRuntime,
  keys: readonly string[],
  stored: readonly Row[],
  prepared: readonly { row: Row }[],
): Promise<Row[]> {
  const plain = stored.map((row, i) => restorePlaintext(rt, row, prepared[i]!.row));
  await updateCaches(ctx, rt, keys, stored, plain);
  ctx.counters.sets += keys.length;
  return plain;
}

async function updateCaches(
  ctx: EngineContext,
  rt: SchemaRuntime,
  keys: readonly string[],
  stored: readonly Row[],
  plain: readonly Row[],
): Promise<void> {
  if (rt.l2) {
    try {
      const generation = await rt.generation();
      await rt.l2.setMany(
        stored.map((row, i) => ({
          key: rt.keys.row(generation, keys[i]!),
          value: rt.rows.toL2(row),
          ttlMs: rt.l2TtlMs,
        })),
        [rt.keys.searchGenerationKey],
      );
    } catch (err) {
      // With no L3, L2 is the source of truth: the write did not happen.
      if (!rt.l3) throw err;
      rt.owesL2();
      ctx.tolerate(rt.schema.name, 'l2', 'set', err);
    }
  }
  if (rt.l1) {
    keys.forEach((key, i) => {
      if (rt.writeMode === 'write-through-l1-async') rt.l1!.delete(key);
      else rt.l1!.set(key, rt.protect(rt.rows.toL1(plain[i]!)), rt.l1TtlMs);
    });
  }
}

function restorePlaintext(rt: SchemaRuntime, stored: Row, input: Row): Row {
  if (rt.schema.encryptedKeys.length === 0) return stored;
  const plain: Row = { ...stored };
  for (const key of rt.schema.encryptedKeys) plain[key] = input[key] ?? null;
  return plain;
}

/** Deletes by id: L3 first, then L2 and L1. Resolves how many rows existed. */
export async function deleteIds(ctx: EngineContext, rt: SchemaRuntime, ids: readonly Id[]): Promise<number> {
  const name = rt.schema.name;
  const keys = ids.map(idKey);
  beginWrites(rt, keys);
  try {
    let existed = 0;
    if (rt.l3) {
      try {
        existed = await rt.l3.deleteMany(rt.schema, ids);
      } catch (err) {
        if (outcomeUnknown(err)) await dropCached(ctx, rt, keys);
        throw ctx.l3Error(name, 'delete', err);
      }
    }
    const removed = await cacheDeletes(ctx, rt, keys);
    return rt.l3 ? existed : removed;
  } finally {
    endWrites(rt, keys);
  }
}

/** After L3 deleted rows: L2 (search generation bumped in the same request), then L1. */
export async function cacheDeletes(
  ctx: EngineContext,
  rt: SchemaRuntime,
  keys: readonly string[],
): Promise<number> {
  let removed = 0;
  if (rt.l2) {
    try {
      const generation = await rt.generation();
      const l2Keys = keys.map((k) => rt.keys.row(generation, k));
      if (rt.l3) {
        // A tombstone, not a DEL: a read of another instance that began before this delete must not
        // fill the old row back in (fills are SET NX), and readers get "absent" without asking L3.
        const ttlMs = tombstoneTtlMs(rt);
        await rt.l2.setMany(
          l2Keys.map((key) => ({ key, value: ABSENT_MARKER, ttlMs })),
          [rt.keys.searchGenerationKey],
        );
      } else {
        removed = await rt.l2.deleteMany(l2Keys, [rt.keys.searchGenerationKey]);
      }
    } catch (err) {
      if (!rt.l3) throw err;
      rt.owesL2();
      ctx.tolerate(rt.schema.name, 'l2', 'delete', err);
    }
  }
  for (const key of keys) rt.l1?.delete(key);
  ctx.counters.deletes += keys.length;
  return removed;
}

/** Longest a delete's tombstone stays in L2: far beyond any read in flight, short of filling Redis. */
const MAX_TOMBSTONE_MS = 60_000;

/** The schema's L2 TTL when shorter (a tombstone never outlives what it guards against). */
function tombstoneTtlMs(rt: SchemaRuntime): number {
  return rt.l2TtlMs > 0 ? Math.min(rt.l2TtlMs, MAX_TOMBSTONE_MS) : MAX_TOMBSTONE_MS;
}

/** Fences the keys, detaches in-flight loads, and marks the schema written for searches in flight. */
export function beginWrites(rt: SchemaRuntime, keys: readonly string[]): void {
  rt.writeEpoch += 1;
  rt.writesInFlight += 1;
  for (const key of keys) {
    rt.fence.beginWrite(key);
    rt.inflight.delete(key);
  }
}

export function endWrites(rt: SchemaRuntime, keys: readonly string[]): void {
  rt.writesInFlight -= 1;
  for (const key of keys) rt.fence.endWrite(key);
}
