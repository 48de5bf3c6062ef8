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
   * The part of `retried` that nothing in this batch could change: L3 down or not ready, or a write
   * of another app. Flushing again at once would fail the same way; the others are poison suspects
   * on their way to the dead-letter store.
   */
  held: string[];
  /** Poison (cannot decode, names another id, or failed alone `writeBehindMaxRetry` times). */
  dead: { delivery: Delivery; reason: string }[];
}

/** Tells the other instances which keys changed (at which versions). */
export type Publish = (cache: SchemaCache, keys: readonly string[], versions: readonly number[], op: 'set' | 'invalidate') => Promise<void>;

/**
 * A write naming a schema no instance here registered belongs to another app sharing the queue (or
 * a deploy that added a schema): it is left for a consumer that knows it, this many deliveries.
 */
const FOREIGN_DELIVERIES = 50;

interface Item {
  readonly delivery: Delivery;
  readonly cache: SchemaCache;
  readonly key: string;
  readonly id: Id;
  /** The stored row of a set. */
  readonly row?: Row;
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
  const outcome: FlushOutcome = { acked: [], retried: [], held: [], dead: [] };
  const items: Item[] = [];
  for (const delivery of deliveries) {
    const { write } = delivery;
    const cache = lookup(write.schema);
    if (!cache?.l3) {
      if (delivery.attempts + 1 >= FOREIGN_DELIVERIES) {
        outcome.dead.push({ delivery, reason: `no consumer of this queue knows schema ${write.schema}` });
      } else {
        outcome.retried.push(delivery.handle);
        outcome.held.push(delivery.handle);
      }
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
      items.push({ delivery, cache, key: write.id, id: row ? (row[pk] as Id) : write.id, ...(row && { row }) });
    } catch (err) {
      outcome.dead.push({ delivery, reason: `undecodable row: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  if (items.length > 0) await applyOrSplit(ctx, items, outcome, publish);
  return outcome;
}

async function applyOrSplit(ctx: EngineContext, items: readonly Item[], outcome: FlushOutcome, publish: Publish): Promise<void> {
  let results: WriteOutcome[][];
  const bySchema = groupBySchema(items);
  try {
    const l3 = items[0]!.cache.l3!;
    const ops = [...bySchema].map(([cache, group]) => ({
      schema: cache.schema,
      writes: group.map((item) => ({
        ...(item.row ? { row: item.row } : { id: item.id }),
        version: item.delivery.write.version,
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
      applied.map(async (a) => (a.stored ? { ...a, plain: await cache.rows.decryptRow(a.stored, a.key) } : a)),
    );
    await cache.commit(ctx, withPlain);
    await publish(cache, applied.map((a) => a.key), applied.map((a) => a.version), 'set');
  }
}

async function failed(ctx: EngineContext, items: readonly Item[], err: unknown, outcome: FlushOutcome, publish: Publish): Promise<void> {
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
    outcome.dead.push({ delivery: item.delivery, reason: `rejected by Postgres (${sqlStateOf(err) ?? 'error'})` });
    const { cache, delivery } = item;
    // A phantom no more: the copy the write put in L1 and L2 goes, unless a newer write replaced it.
    await cache.drop(ctx, [item.key], [delivery.write.version]);
    await publish(cache, [item.key], [delivery.write.version], 'invalidate');
    reportGaveUp(ctx, cache, item.key, err);
  }
}

function reportGaveUp(ctx: EngineContext, cache: SchemaCache, key: string, err: unknown): void {
  const { schema } = cache;
  const gaveUp = new StrataError('WRITE_BEHIND_MAX_RETRY', `schema ${schema.name}: write of ${key} gave up after ${ctx.config.maxRetry} attempts`, {
    cause: err,
    details: { schema: schema.name, id: key, attempts: ctx.config.maxRetry },
  });
  try {
    schema.hooks.onWriteError?.(key, gaveUp);
  } catch (hookErr) {
    ctx.counters.error('hook');
    ctx.config.logger.error('onWriteError hook threw', { schema: schema.name, error: String(hookErr) });
  }
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
