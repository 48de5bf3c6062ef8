import type { Row, VersionedWriteOp } from '../l3/types.js';
import type { Delivery } from '../queue/types.js';
import { type EngineContext, sqlState } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaRuntime } from './schema-runtime.js';

export interface FlushOutcome {
  /** Applied, superseded by a newer write in the batch, or already applied (redelivered): done. */
  acked: string[];
  /** Failed this time for a reason that may pass (L3 down): deliver again. */
  retried: string[];
  /** Poison (cannot decode, unknown schema, or rejected by Postgres `writeBehindMaxRetry` times). */
  dead: { delivery: Delivery; reason: string }[];
}

/**
 * Applies a batch of write-behind deliveries to L3: coalesced by key (the highest version wins),
 * one versioned apply for the whole batch (so replays and out-of-order retries change nothing).
 * If Postgres rejects the batch for its data, each write is tried alone so one poison message
 * never holds back the others; writes rejected `maxRetry` times are dead-lettered. If L3 is
 * unreachable, everything is retried and nothing is dead-lettered: those writes are not poison.
 */
export async function flushDeliveries(
  ctx: EngineContext,
  lookup: (schema: string) => SchemaRuntime | undefined,
  deliveries: readonly Delivery[],
): Promise<FlushOutcome> {
  const outcome: FlushOutcome = { acked: [], retried: [], dead: [] };
  const valid: { delivery: Delivery; rt: SchemaRuntime; row?: Row }[] = [];
  for (const delivery of deliveries) {
    const rt = lookup(delivery.write.schema);
    if (!rt?.l3) {
      outcome.dead.push({ delivery, reason: `unknown schema ${delivery.write.schema}` });
      continue;
    }
    try {
      const row = delivery.write.op === 'set' ? rt.rows.fromQueue(delivery.write.row ?? '') : undefined;
      // The version guards the message's id: a row naming another id would overwrite that row unguarded.
      if (row && idKey(row[rt.schema.primaryKey.key] as Id) !== delivery.write.id) {
        outcome.dead.push({
          delivery,
          reason: `the row's primary key is not the message's id ${delivery.write.id}`,
        });
        continue;
      }
      valid.push({ delivery, rt, ...(row && { row }) });
    } catch (err) {
      outcome.dead.push({
        delivery,
        reason: `undecodable row: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  if (valid.length === 0) return outcome;
  try {
    await apply(valid);
    outcome.acked.push(...valid.map((v) => v.delivery.handle));
    await staleSearches(ctx, valid);
    return outcome;
  } catch (err) {
    if (!isDataError(err) || valid.length === 1) {
      settleFailure(ctx, valid, err, outcome);
      return outcome;
    }
  }
  const applied: typeof valid = [];
  for (const one of valid) {
    try {
      await apply([one]);
      outcome.acked.push(one.delivery.handle);
      applied.push(one);
    } catch (err) {
      settleFailure(ctx, [one], err, outcome);
    }
  }
  await staleSearches(ctx, applied);
  return outcome;
}

/**
 * A searchCached that ran between a write-behind write and its flush cached what L3 held before
 * the flush, tagged with the generation the write had already moved on. Moving it on again once the
 * rows are in L3 retires such lists. One L2 request for every schema of the batch.
 */
async function staleSearches(ctx: EngineContext, items: readonly { rt: SchemaRuntime }[]): Promise<void> {
  const runtimes = [...new Set(items.map((item) => item.rt))].filter((rt) => rt.l2);
  if (runtimes.length === 0) return;
  const l2 = runtimes[0]!.l2!;
  try {
    await l2.setMany(
      [],
      runtimes.map((rt) => rt.keys.searchGenerationKey),
    );
  } catch (err) {
    for (const rt of runtimes) rt.owesL2();
    ctx.tolerate(runtimes[0]!.schema.name, 'l2', 'flush-generation', err);
  }
}

async function apply(items: readonly { delivery: Delivery; rt: SchemaRuntime; row?: Row }[]): Promise<void> {
  const bySchema = new Map<SchemaRuntime, Map<string, { delivery: Delivery; row?: Row }>>();
  for (const item of items) {
    let latest = bySchema.get(item.rt);
    if (!latest) {
      latest = new Map();
      bySchema.set(item.rt, latest);
    }
    const seen = latest.get(item.delivery.write.id);
    if (!seen || seen.delivery.write.version < item.delivery.write.version)
      latest.set(item.delivery.write.id, item);
  }
  const ops: VersionedWriteOp[] = [];
  for (const [rt, latest] of bySchema) {
    const upserts: VersionedWriteOp['upserts'][number][] = [];
    const deletes: VersionedWriteOp['deletes'][number][] = [];
    for (const { delivery, row } of latest.values()) {
      if (row) upserts.push({ row, version: delivery.write.version });
      else deletes.push({ id: delivery.write.id, version: delivery.write.version });
    }
    ops.push({ schema: rt.schema, upserts, deletes });
  }
  const l3 = items[0]!.rt.l3!;
  await l3.applyVersioned(ops);
}

function settleFailure(
  ctx: EngineContext,
  items: readonly { delivery: Delivery; rt: SchemaRuntime }[],
  err: unknown,
  outcome: FlushOutcome,
): void {
  const poison = isDataError(err);
  ctx.counters.error('l3');
  for (const { delivery, rt } of items) {
    if (poison && delivery.attempts + 1 >= ctx.config.maxRetry) {
      outcome.dead.push({ delivery, reason: `rejected by Postgres (${sqlState(err) ?? 'error'})` });
      try {
        rt.schema.hooks.onWriteError?.(delivery.write.id, err);
      } catch (hookErr) {
        ctx.counters.error('hook');
        ctx.config.logger.error('onWriteError hook threw', {
          schema: rt.schema.name,
          error: String(hookErr),
        });
      }
    } else {
      outcome.retried.push(delivery.handle);
    }
  }
  ctx.config.logger.warn('write-behind flush failed', {
    poison,
    writes: items.length,
    error: err instanceof Error ? err.message : String(err),
  });
}

/** Postgres refused the data itself (SQLSTATE class 22 data, 23 constraint): retrying as is won't help. */
function isDataError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}
