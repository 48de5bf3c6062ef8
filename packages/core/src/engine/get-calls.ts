import { type StrataError, schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import { idsOf } from './batch-input.js';
import type { CallParts } from './call-parts.js';
import type { AnySchema, GetOptions, RowOf } from './call-types.js';
import { readCompleteRow } from './complete-read.js';
import type { EngineContext } from './context.js';
import { runHook } from './hooks.js';
import { type Id, idKey, normalizeId } from './ids.js';
import { readL1Id } from './l1-copies.js';
import { readsPending } from './pending-index.js';
import { readRow, readRows } from './read-cascade.js';
import type { ReadStatus } from './read-status.js';
import { l1ReadStatus, loadRowWithStatus, readL1Now, readRowsWithStatus } from './read-with-status.js';
import type { SchemaCache } from './schema-cache.js';
import { maxStaleOf } from './staleness.js';

/*
 * The key reads behind `get`, `find`, `peek`, `getMany` and their `WithStatus` forms: L1's answer
 * without an await when it may answer alone, else the hooks, the bus's wait and the read cascade.
 */

/** L1 was read and missed (counted: the full path must not count it again). */
export const MISS: unique symbol = Symbol('l1 miss');
/** L1 may not answer this read alone: the full path decides. */
export const ASK: unique symbol = Symbol('ask below l1');
/** What L1 alone says about a get: the row, null (cached absent), MISS or ASK. */
export type L1Answer = Row | null | typeof MISS | typeof ASK;

/**
 * The L1 hit path without a single await (the common case on a hot key): L1's answer when no hook
 * runs around gets, no invalidation poll is due and the whole row is not asked for. MISS: L1 was
 * read and missed (counted: the full path must not count it again); ASK: L1 may not answer this
 * read alone. A hit counts the get and the L1 hit exactly as the full path would. Returns the row
 * itself (no wrapper): this runs on every hit.
 */
export function fromL1(
  parts: CallParts,
  schema: AnySchema,
  id: Id,
  options: GetOptions | undefined,
  seen?: { stale: boolean; grace: boolean },
): L1Answer {
  const rt = parts.runtime(schema);
  const { hooks } = rt.schema;
  if (options?.complete || hooks.beforeGet || hooks.afterGet) return ASK;
  if (!rt.l1 || !rt.l1AnswersGets || parts.coherence.mustWait()) return ASK;
  // A schema with stale/grace windows reads L1 by age (a stale row answers, its refresh starts).
  const row = rt.aging
    ? readL1Now(parts.ctx, rt, normalizeId(rt.schema, id), maxStaleOf(options?.stale), seen)
    : readL1Id(rt, parts.ctx, id);
  if (row === undefined) return MISS;
  parts.ctx.counters.gets += 1;
  return row && rt.rows.toCachedView(row);
}

export async function findRow<S extends AnySchema>(
  parts: CallParts,
  schema: S,
  id: Id,
  options: GetOptions = {},
  l1Missed = false,
  status?: { status?: ReadStatus },
  required = false,
): Promise<RowOf<S> | null> {
  const rt = parts.runtime(schema);
  const normalized = normalizeId(rt.schema, id);
  const key = idKey(normalized);
  parts.ctx.counters.gets += 1;
  // Awaited only when there is a hook: each await is a turn of the microtask queue on every read.
  const { beforeGet, afterGet } = rt.schema.hooks;
  if (beforeGet) await runHook(rt.schema.name, 'beforeGet', beforeGet, key);
  const pending = parts.coherence.beforeRead();
  if (pending) await pending;
  let row: Row | null | undefined;
  if (options.complete && rt.schema.l2Keys.length < rt.schema.columns.length) {
    row = await readComplete(parts.ctx, rt, normalized);
  } else {
    const maxStale = maxStaleOf(options.stale);
    if (status) {
      const seen = { stale: false, grace: false };
      const hit = l1Missed ? undefined : readL1Now(parts.ctx, rt, normalized, maxStale, seen);
      if (hit === undefined)
        ({ row, status: status.status } = await loadRowWithStatus(parts.ctx, rt, normalized, maxStale));
      else [row, status.status] = [hit, l1ReadStatus(rt, normalized, seen)];
    } else {
      const found = readRow(parts.ctx, rt, normalized, key, l1Missed, maxStale);
      row = found instanceof Promise ? ((await found).get(key) ?? null) : found;
    }
    if (row) row = rt.rows.toCachedView(row);
  }
  if (row && afterGet) await runHook(rt.schema.name, 'afterGet', afterGet, row);
  // `get`: no row is an error (see `get`).
  if (row === null && required) throw notFound(schema, id);
  return row as RowOf<S> | null;
}

export async function getRows(
  parts: CallParts,
  schema: AnySchema,
  ids: readonly Id[],
  options: Pick<GetOptions, 'stale'>,
  withStatus = false,
): Promise<{ rows: (Row | null)[]; status?: ReadStatus[] }> {
  const rt = parts.runtime(schema);
  const normalized = idsOf(ids).map((id) => normalizeId(rt.schema, id));
  parts.ctx.counters.gets += ids.length;
  const { hooks, name } = rt.schema;
  if (hooks.beforeGet)
    for (const id of normalized) await runHook(name, 'beforeGet', hooks.beforeGet, idKey(id));
  const pending = parts.coherence.beforeRead();
  if (pending) await pending;
  const maxStale = maxStaleOf(options.stale);
  const read: { rows: (Row | null)[]; status?: ReadStatus[] } = withStatus
    ? await readRowsWithStatus(parts.ctx, rt, normalized, maxStale)
    : { rows: await readRows(parts.ctx, rt, normalized, false, maxStale) };
  const rows = read.rows.map((row) => (row ? rt.rows.toCachedView(row) : null));
  if (hooks.afterGet) for (const row of rows) if (row) await runHook(name, 'afterGet', hooks.afterGet, row);
  return { rows, status: read.status };
}

export async function readComplete(ctx: EngineContext, rt: SchemaCache, id: Id): Promise<Row | null> {
  if (!rt.l3) return null;
  // Where the app queues writes of the schema: the key's queued write laid over Postgres (complete-read.ts).
  if (readsPending(rt) !== false) return readCompleteRow(ctx, rt, id);
  try {
    const [stored] = await rt.l3.findMany(rt.schema, [id]);
    return stored ? await rt.rows.decryptRow(stored.row, idKey(id)) : null;
  } catch (err) {
    throw ctx.l3Error(rt.schema.name, 'get', err);
  }
}

/** NOT_FOUND for a get of `id` that no tier has. */
export function notFound(schema: AnySchema, id: Id): StrataError {
  const name = typeof schema === 'string' ? schema : schema.name;
  return schemaError('NOT_FOUND', name, `no row with id ${String(id)}`, { details: { id: String(id) } });
}
