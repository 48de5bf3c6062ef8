import { StrataError } from '../errors.js';
import { holdsFlush, sqlStateOf } from '../l3/pg-errors.js';
import type { Row, WriteOutcome } from '../l3/types.js';
import type { Delivery } from '../queue/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache, Versioned } from './schema-cache.js';

export interface FlushOutcome {
  /** Applied, superseded by a newer write, or already applied (redelivered): done. */
  acked: string[];
  /** Failed this time: deliver again. */
  retried: string[];
  /**
   * The part of `retried` that L3 could not judge (down, or not ready: a missing table): flushing
   * again at once would fail the same way. The rest are poison suspects on their way to the
   * dead-letter store, and `foreign` ones.
   */
  held: string[];
  /**
   * The part of `retried` naming a schema no instance here registered: another app's writes on a
   * shared queue, or a schema a newer deploy added. Left for a consumer that knows them, never
   * applied here and never dead-lettered here.
   */
  foreign: string[];
  /** Poison (cannot decode, names another id, or failed alone `writeBehindMaxRetry` times). */
  dead: { delivery: Delivery; reason: string }[];
}

/** Tells the other instances which keys changed (at which versions). */
export type Publish = (
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  op: 'set' | 'invalidate',
) => Promise<void>;

interface Item {
  readonly delivery: Delivery;
  readonly cache: SchemaCache;
  readonly key: string;
  readonly id: Id;
  /** The stored row of a set. */
  readonly row?: Row;
  /** A set folded over a delete of its key: it replaces the row (see `Write.replace`). */
  readonly replace?: boolean;
}

/**
 * Applies a batch of write-behind deliveries to L3, each only over an older version of its key (so
 * replays and out-of-order retries change nothing), then replaces the cached rows with the rows as
 * Postgres applied them (its defaults, the columns a write left out, the kept autoNowAdd) in the
 * same step, and tells the other instances.
 *
 * A batch Postgres refuses for a reason that may pass (unreachable, a timeout, a deadlock: no
 * SQLSTATE or a transient class) or that says the database is not ready (a missing table, column or
 * grant: `holdsFlush`) is retried whole: nothing is dead-lettered for it. Any other
 * refusal splits the batch in halves until the writes that fail are alone: those are poison by
 * evidence, whatever their SQLSTATE, and the rest land. A write that failed alone
 * `writeBehindMaxRetry` times is dead-lettered, its cached copies withdrawn (unless a newer write
 * replaced them), and `onWriteError` gets WRITE_BEHIND_MAX_RETRY with the cause.
 */
export async function flushDeliveries(
  ctx: EngineContext,
  lookup: (identity: string) => SchemaCache | undefined,
  deliveries: readonly Delivery[],
  publish: Publish,
): Promise<FlushOutcome> {
  const outcome: FlushOutcome = { acked: [], retried: [], held: [], foreign: [], dead: [] };
  const items: Item[] = [];
  for (const delivery of deliveries) {
    const { write } = delivery;
    const cache = lookup(write.schema);
    if (!cache?.l3) {
      outcome.retried.push(delivery.handle);
      outcome.foreign.push(delivery.handle);
      continue;
    }
    try {
      const row = write.op === 'set' ? cache.rows.fromQueue(write.row ?? '') : undefined;
      const pk = cache.schema.primaryKey.key;
      // The version guards the message's id: a row naming another id would overwrite that row unguarded.
      if (row && idKey(row[pk] as Id) !== write.id) {
        outcome.dead.push({ delivery, reason: `the row's primary key is not the message's id ${write.id}` });
        continue;
      }
      items.push({
        delivery,
        cache,
        key: write.id,
        id: row ? (row[pk] as Id) : write.id,
        ...(row && { row }),
      });
    } catch (err) {
      outcome.dead.push({
        delivery,
        reason: `undecodable row: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  if (items.length > 0) await applyOrSplit(ctx, items, outcome, publish);
  return outcome;
}

async function applyOrSplit(
  ctx: EngineContext,
  items: readonly Item[],
  outcome: FlushOutcome,
  publish: Publish,
): Promise<void> {
  let results: WriteOutcome[][];
  const bySchema = groupBySchema(folded(items));
  try {
    const l3 = items[0]!.cache.l3!;
    const ops = [...bySchema].map(([cache, group]) => ({
      schema: cache.schema,
      writes: group.map((item) => ({
        ...(item.row ? { row: item.row } : { id: item.id }),
        version: item.delivery.write.version,
        ...(item.replace && { replace: true }),
      })),
    }));
    results = await withTimeout(l3.write(ops), ctx.config.l3TimeoutMs, `L3 flush (${l3.name})`);
  } catch (err) {
    ctx.counters.error('l3');
    if (holdsFlush(err) || items.length === 1) return failed(ctx, items, err, outcome, publish);
    const half = Math.ceil(items.length / 2);
    await applyOrSplit(ctx, items.slice(0, half), outcome, publish);
    await applyOrSplit(ctx, items.slice(half), outcome, publish);
    return;
  }
  // Every delivery of the batch is done: applied, folded into a newer write of its key, or older
  // than what Postgres holds.
  outcome.acked.push(...items.map((item) => item.delivery.handle));
  let i = 0;
  for (const [cache, group] of bySchema) {
    const applied: Versioned[] = [];
    (results[i++] ?? []).forEach((result, j) => {
      if (!result.applied) return;
      const item = group[j]!;
      applied.push({ key: item.key, version: result.version, ...(result.row && { stored: result.row }) });
    });
    if (applied.length === 0) continue;
    const withPlain = await Promise.all(
      applied.map(async (a) =>
        a.stored ? { ...a, plain: await cache.rows.decryptRow(a.stored, a.key) } : a,
      ),
    );
    await cache.commit(ctx, withPlain);
    await publish(
      cache,
      applied.map((a) => a.key),
      applied.map((a) => a.version),
      'set',
    );
  }
}

async function failed(
  ctx: EngineContext,
  items: readonly Item[],
  err: unknown,
  outcome: FlushOutcome,
  publish: Publish,
): Promise<void> {
  const held = holdsFlush(err);
  ctx.config.logger.warn('write-behind flush failed', {
    held,
    writes: items.length,
    error: err instanceof Error ? err.message : String(err),
  });
  for (const item of items) {
    if (held || item.delivery.attempts + 1 < ctx.config.maxRetry) {
      outcome.retried.push(item.delivery.handle);
      if (held) outcome.held.push(item.delivery.handle);
      continue;
    }
    outcome.dead.push({
      delivery: item.delivery,
      reason: `rejected by Postgres (${sqlStateOf(err) ?? 'error'})`,
    });
    const { cache, delivery } = item;
    // A phantom no more: the copy the write put in L1 and L2 goes, unless a newer write replaced it.
    await cache.drop(ctx, [item.key], [delivery.write.version]);
    await publish(cache, [item.key], [delivery.write.version], 'invalidate');
    reportGaveUp(ctx, cache, item.key, err);
  }
}

function reportGaveUp(ctx: EngineContext, cache: SchemaCache, key: string, err: unknown): void {
  const { schema } = cache;
  const gaveUp = new StrataError(
    'WRITE_BEHIND_MAX_RETRY',
    `schema ${schema.name}: write of ${key} gave up after ${ctx.config.maxRetry} attempts`,
    {
      cause: err,
      details: { schema: schema.name, id: key, attempts: ctx.config.maxRetry },
    },
  );
  try {
    schema.hooks.onWriteError?.(key, gaveUp);
  } catch (hookErr) {
    ctx.counters.error('hook');
    ctx.config.logger.error('onWriteError hook threw', { schema: schema.name, error: String(hookErr) });
  }
}

/**
 * One write per key, as applying the batch's writes of that key one by one in version order would
 * leave it: each set takes the columns it gives over the ones before it (a column a later write
 * leaves out keeps an earlier write's value, as it would in Postgres), an insert-only (autoNowAdd)
 * column keeps its first value, and a delete starts over (the sets after it replace the row). The
 * result carries the newest version.
 */
function folded(items: readonly Item[]): Item[] {
  const byKey = new Map<string, Item[]>();
  for (const item of items) {
    const at = `${item.cache.schema.identity}\u0000${item.key}`;
    const list = byKey.get(at);
    if (list) list.push(item);
    else byKey.set(at, [item]);
  }
  const out: Item[] = [];
  for (const list of byKey.values()) {
    if (list.length === 1) {
      out.push(list[0]!);
      continue;
    }
    list.sort((a, b) => a.delivery.write.version - b.delivery.write.version);
    const insertOnly = list[0]!.cache.schema.insertOnlyKeys;
    let row: Row | undefined;
    let deleted = false;
    for (const item of list) {
      if (!item.row) {
        row = undefined;
        deleted = true;
        continue;
      }
      const next: Row = { ...row };
      for (const [column, value] of Object.entries(item.row)) {
        if (value === undefined || (row?.[column] !== undefined && insertOnly.includes(column))) continue;
        next[column] = value;
      }
      row = next;
    }
    const newest = list[list.length - 1]!;
    const { row: _sent, ...rest } = newest;
    // Sets after a delete make a new row: what Postgres holds for the columns they leave out goes.
    out.push(row && newest.row ? { ...rest, row, ...(deleted && { replace: true }) } : rest);
  }
  return out;
}

function groupBySchema(items: readonly Item[]): Map<SchemaCache, Item[]> {
  const groups = new Map<SchemaCache, Item[]>();
  for (const item of items) {
    const group = groups.get(item.cache);
    if (group) group.push(item);
    else groups.set(item.cache, [item]);
  }
  return groups;
}
