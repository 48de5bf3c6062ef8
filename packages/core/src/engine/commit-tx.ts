import { isStrataError, StrataError } from '../errors.js';
import type { L3Tier, Row } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import { type EngineContext, sqlState } from './context.js';
import { type Id, idKey, normalizeId } from './ids.js';
import type { SchemaRuntime } from './schema-runtime.js';
import type { TxOp } from './tx.js';
import { dropCached, outcomeUnknown } from './unknown-outcome.js';
import { beginWrites, cacheDeletes, cacheWrites, endWrites, matchStored, prepareRow } from './write-path.js';

interface Plan {
  rt: SchemaRuntime;
  keys: string[];
  prepared: { row: Row; id: Id }[];
  encrypted: Row[];
  deleteKeys: string[];
  deleteIds: Id[];
}

/**
 * Commits a transaction's operations: everything that can fail before Postgres (hooks, validation,
 * encryption) runs first; then one L3 transaction across schemas; then, only on success, the caches.
 * Several operations on one id collapse to the last (the transaction's net effect).
 * Resolves the plaintext rows written, per schema, for afterSet hooks.
 */
export async function commitTx(
  ctx: EngineContext,
  resolve: (op: TxOp) => SchemaRuntime,
  ops: readonly TxOp[],
  timeoutMs: number,
): Promise<{ rt: SchemaRuntime; rows: Row[]; keys: string[] }[]> {
  let plans: Plan[];
  try {
    plans = await plan(ctx, resolve, ops);
  } catch (err) {
    throw txFailed(err);
  }
  if (plans.length === 0) return [];
  const l3 = plans[0]!.rt.l3 as L3Tier;
  const fenced = plans.map((p) => [...p.keys, ...p.deleteKeys]);
  for (const [i, p] of plans.entries()) beginWrites(p.rt, fenced[i]!);
  try {
    let results: Awaited<ReturnType<L3Tier['transact']>>;
    try {
      const work = l3.transact(
        plans.map((p) => ({ schema: p.rt.schema, upserts: p.encrypted, deletes: p.deleteIds })),
      );
      results = await withTimeout(work, timeoutMs, 'transaction');
    } catch (err) {
      ctx.counters.error('l3');
      if (isStrataError(err, 'TIMEOUT')) {
        // The outcome is unknown (Postgres may still commit): drop the cached copies of every key.
        await Promise.all(plans.map((p, i) => dropCached(ctx, p.rt, fenced[i]!)));
        throw new StrataError('TX_TIMEOUT', `transaction did not finish within ${timeoutMs} ms`, {
          cause: err,
        });
      }
      // A connection lost mid-COMMIT may have committed: the caches must not keep the old rows.
      if (outcomeUnknown(err)) await Promise.all(plans.map((p, i) => dropCached(ctx, p.rt, fenced[i]!)));
      throw txFailed(err);
    }
    const written: { rt: SchemaRuntime; rows: Row[]; keys: string[] }[] = [];
    for (const [i, p] of plans.entries()) {
      const stored = matchStored(p.rt, p.keys, p.encrypted, results[i]?.upserted ?? []);
      written.push({
        rt: p.rt,
        rows: await cacheWrites(ctx, p.rt, p.keys, stored, p.prepared),
        keys: [...p.keys, ...p.deleteKeys],
      });
      if (p.deleteKeys.length > 0) await cacheDeletes(ctx, p.rt, p.deleteKeys);
    }
    return written;
  } finally {
    for (const [i, p] of plans.entries()) endWrites(p.rt, fenced[i]!);
  }
}

async function plan(
  ctx: EngineContext,
  resolve: (op: TxOp) => SchemaRuntime,
  ops: readonly TxOp[],
): Promise<Plan[]> {
  const groups = new Map<
    SchemaRuntime,
    { sets: Map<string, { row: Row; id: Id }>; deletes: Map<string, Id> }
  >();
  for (const op of ops) {
    const rt = resolve(op);
    if (!rt.l3) {
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${rt.schema.name} has no L3: it cannot take part in a transaction`,
        {
          details: { schema: rt.schema.name },
        },
      );
    }
    let group = groups.get(rt);
    if (!group) {
      group = { sets: new Map(), deletes: new Map() };
      groups.set(rt, group);
    }
    if (op.kind === 'set') {
      const prepared = await prepareRow(ctx, rt, op.value);
      const key = idKey(prepared.id);
      group.deletes.delete(key);
      group.sets.delete(key);
      group.sets.set(key, prepared);
    } else {
      const id = normalizeId(rt.schema, op.id);
      const key = idKey(id);
      group.sets.delete(key);
      group.deletes.set(key, id);
    }
  }
  return Promise.all(
    [...groups].map(async ([rt, group]) => {
      const keys = [...group.sets.keys()];
      const prepared = [...group.sets.values()];
      const encrypted = await Promise.all(prepared.map((p, i) => rt.rows.encryptRow(p.row, keys[i]!)));
      return {
        rt,
        keys,
        prepared,
        encrypted,
        deleteKeys: [...group.deletes.keys()],
        deleteIds: [...group.deletes.values()],
      };
    }),
  );
}

function txFailed(err: unknown): StrataError {
  if (isStrataError(err, 'TX_FAILED')) return err;
  const sqlstate = sqlState(err);
  const why = isStrataError(err) ? err.code : sqlstate ? `SQLSTATE ${sqlstate}` : 'L3 error';
  return new StrataError('TX_FAILED', `transaction failed and was rolled back (${why})`, {
    cause: err,
    details: sqlstate ? { sqlstate } : {},
  });
}
