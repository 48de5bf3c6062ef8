import { isStrataError, StrataError } from '../errors.js';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { L3Tier, Row, WriteOutcome } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { CompiledSchema } from '../schema/types.js';
import { laterSetOver } from './batch-collapse.js';
import type { EngineContext } from './context.js';
import { markCounters, marksOf } from './counter-marks.js';
import { idKey, normalizeId } from './ids.js';
import type { RefusedWrite } from './merge-refused.js';
import { reserveVersions, writeOrdered } from './ordered-writes.js';
import { MERGE_TRIES, moved, overQueued } from './partial-rows.js';
import { awaitOlderElsewhere } from './pending-elsewhere.js';
import { prepareRow } from './prepare.js';
import type { ResetsSeen } from './reset-since.js';
import type { SchemaCache } from './schema-cache.js';
import { commitApplied, skippedWrites } from './skipped-writes.js';
import { unmarkSuperseded } from './superseded-marks.js';
import type { ThroughPlan } from './through-order.js';
import { partialAt } from './through-partial.js';
import type { TxOp } from './tx.js';
import { outcomeUnknown } from './unknown-outcome.js';
import { asSent, committedItems, inOrderAll, type KeyedWrite, refused, throughOp } from './write-through.js';

const keysOf = (writes: readonly KeyedWrite[]) => writes.map((w) => w.key);

interface Plan {
  readonly cache: SchemaCache;
  writes: readonly KeyedWrite[];
  /** Keys deleted earlier in the transaction than their last set: that set replaces the row. */
  replaced: ReadonlySet<string>;
  encrypted: readonly (Row | undefined)[];
  /** Redis-ordered (write-behind) schemas: the versions reserved before Postgres commits. */
  versions?: number[];
  /** The resets its buckets' watches had seen once its versions were taken (see reset-since.ts). */
  since?: ResetsSeen;
}

/** What a committed transaction wrote, per schema: for bus messages and afterSet hooks. */
export interface TxWritten {
  readonly cache: SchemaCache;
  readonly rows: Row[];
  readonly keys: string[];
  readonly versions: number[];
  /** Per key of `keys`: whether the transaction's last write of it was a delete. */
  readonly deleted: boolean[];
  /** Sets Postgres skipped as older (a later write of the key landed first): merged after the commit. */
  readonly refused?: RefusedWrite[];
}

/**
 * Commits a transaction's operations: everything that can fail before Postgres (hooks, validation,
 * encryption) runs first, and write-behind schemas take their versions from Redis, so the
 * transaction is ordered among their queued writes (an older one flushed later changes nothing).
 * Then one L3 transaction across schemas, each key's version recorded with its row; then, only on
 * success, the caches. Schemas with no L3 (L2 is their source of truth) are written to L2 after the
 * commit: if L2 refuses them then, the commit stands and L2_UNAVAILABLE says what was not written.
 * Several operations on one id collapse to the last (the transaction's net effect).
 */
export async function commitTx(
  ctx: EngineContext,
  resolve: (op: TxOp) => SchemaCache,
  ops: readonly TxOp[],
  timeoutMs: number,
  late?: LateTx,
): Promise<TxWritten[]> {
  let plans: Plan[];
  try {
    plans = await plan(ctx, resolve, ops);
    // Before anything is written or a version taken: which database this is (see
    // `L3Claim.beforeWrite`), and another app may hold a table (see `WriterClaims`). Together: a
    // transaction's first write of several schemas waits for one round of claims.
    await plans.find((p) => p.cache.generation)?.cache.generation?.claim?.beforeWrite();
    await Promise.all(plans.map((p) => ctx.claims.before(p.cache)));
  } catch (err) {
    throw isStrataError(err, 'INVALID_CONFIG') ? err : txFailed(err);
  }
  return commitPlans(ctx, plans, timeoutMs, late);
}

/**
 * Told of a transaction whose outcome is unknown, after this instance dropped its keys' copies:
 * the caller tells every instance now, and, with `work` (it timed out and its statements still
 * run, settling as they do), drops the keys again, here and on every instance, once it settles
 * (see `LateWrite`: a read between the drop at the timeout and a late COMMIT fills the old rows back).
 */
export type LateTx = (
  dropped: readonly { cache: SchemaCache; keys: readonly string[] }[],
  work: Promise<unknown> | undefined,
) => void;

/**
 * One schema's prepared writes committed as a transaction (see `commitTx`): how a write-behind
 * batch goes while another shape of its table is live (see `Writer`), its versions still taken
 * from Redis among the queued writes. Resolves the keys written with their committed versions, and
 * each set's row as stored (plaintext) by key.
 */
export async function commitWrites(
  ctx: EngineContext,
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  timeoutMs: number,
): Promise<TxWritten & { rowOf: Map<string, Row> }> {
  const plan: Plan = { cache, ...collapse(cache.schema, writes), encrypted: [] };
  const [written] = await commitPlans(ctx, [plan], timeoutMs);
  const rowOf = new Map<string, Row>();
  // `rows` holds the sets Postgres applied, in order: a skipped one (`refused`) has none.
  const skipped = new Set(written!.refused?.map((r) => r.key));
  let r = 0;
  for (const w of plan.writes)
    if (w.row && !skipped.has(w.key) && r < written!.rows.length) rowOf.set(w.key, written!.rows[r++]!);
  return { ...written!, rowOf };
}

async function commitPlans(
  ctx: EngineContext,
  plans: Plan[],
  timeoutMs: number,
  late?: LateTx,
): Promise<TxWritten[]> {
  for (const p of plans) {
    if (p.cache.l3 && p.cache.writeMode === 'write-behind') await awaitOlderElsewhere(ctx, p.cache, p.writes);
  }
  try {
    // Looked at again before versions are taken from this app's counter (see `writeBehind`): the
    // wait above for another shape's queued writes may have outlasted the claim checked at the call.
    for (const p of plans)
      if (p.cache.l3 && p.cache.writeMode === 'write-behind') await ctx.claims.before(p.cache);
  } catch (err) {
    throw isStrataError(err, 'INVALID_CONFIG') ? err : txFailed(err);
  }
  try {
    for (const p of plans) {
      if (p.cache.l3 && p.cache.writeMode === 'write-behind') await orderAmongQueued(p);
      p.encrypted = await Promise.all(
        p.writes.map((w) => (w.row ? p.cache.rows.encryptRow(w.row, w.key) : undefined)),
      );
      if (p.cache.l2) p.since = p.cache.resetsSeen();
    }
  } catch (err) {
    throw txFailed(err);
  }
  const inSql = plans.filter((p) => p.cache.l3);
  for (const p of plans) p.cache.beginWrite(p.writes.map((w) => w.key));
  try {
    const outcomes = await writeSql(ctx, inSql, timeoutMs, late);
    const written: TxWritten[] = [];
    for (const [i, p] of inSql.entries()) {
      const items = await committedItems(p.cache, p.writes, p.encrypted, outcomes[i] ?? []);
      await commitApplied(ctx, p.cache, items, outcomes[i] ?? [], p.since);
      const refused = skippedWrites(p.writes, p.encrypted, outcomes[i] ?? [], p.replaced);
      written.push({
        ...summary(
          p,
          items.map((item) => item.version),
          items.flatMap((item) => (item.plain ? [item.plain] : [])),
        ),
        ...(refused.length > 0 && { refused }),
      });
    }
    for (const p of plans.filter((q) => !q.cache.l3)) written.push(await writeL2Only(p));
    return written;
  } finally {
    for (const p of plans) p.cache.endWrite(p.writes.map((w) => w.key));
  }
}

async function writeSql(
  ctx: EngineContext,
  plans: readonly Plan[],
  timeoutMs: number,
  late?: LateTx,
): Promise<WriteOutcome[][]> {
  if (plans.length === 0) return [];
  const l3 = plans[0]!.cache.l3 as L3Tier;
  // Write-through schemas: each in its app's version order (see `ThroughOrder`), together.
  const ordered = plans.filter((p) => p.versions === undefined && p.cache.through);
  // Versions taken from a Redis counter go into Postgres' mark of it beside the commit (see
  // counter-marks.ts): a Redis restored to before them is found below the mark. Write-through: none.
  const marks = plans.flatMap((p) =>
    p.versions
      ? marksOf(p.writes.map((w, i) => ({ cache: p.cache, key: w.key, version: p.versions![i]! })))
      : [],
  );
  const first = plans[0]!.cache;
  let sent: Promise<unknown> | undefined;
  const marked = markCounters(first, marks, (err) =>
    ctx.tolerate(first.schema.name, 'l3', 'mark counters', err),
  );
  // As prepared: each try merges a write-through schema's partial sets again (see `overPending`).
  const prepared = ordered.map((p) => ({ writes: p.writes, encrypted: p.encrypted, replaced: p.replaced }));
  const parts = ordered.map((p) => ({
    cache: p.cache,
    keys: p.writes.map((w) => w.key),
    partial: partialAt(p.cache, p.writes),
  }));
  try {
    return await inOrderAll(ctx, parts, async (made) => {
      const planOf = new Map<Plan, ThroughPlan>();
      for (const [i, p] of ordered.entries()) {
        const as = prepared[i]!;
        planOf.set(p, made[i]!);
        Object.assign(p, await asSent(p.cache, as.writes, as.encrypted, made[i], as.replaced));
      }
      const ops = plans.map((p) => throughOp(p.cache, p, planOf.get(p), p.versions));
      const work = l3.write(ops);
      sent = work;
      return await withTimeout(work, timeoutMs, 'transaction');
    });
  } catch (err) {
    ctx.countL3Failure(err);
    const timedOut = isStrataError(err, 'TIMEOUT');
    // Refused: the write-behind schemas' reservations marked their keys' queued writes superseded
    // (RESERVE); nothing superseded them (see superseded-marks.ts).
    if (!timedOut && refused(err)) {
      await Promise.all(
        plans.map((p) =>
          p.versions ? unmarkSuperseded(ctx, p.cache, keysOf(p.writes), p.versions) : undefined,
        ),
      );
    }
    // The outcome is unknown (Postgres may still commit, or did with its reply lost): drop every
    // copy but a pending write-behind row, an acknowledged write Postgres does not have. If the
    // transaction did commit over it, that row's flush finds Postgres newer and drops it then.
    if (timedOut || outcomeUnknown(err)) {
      await Promise.all(
        plans.map((p) =>
          p.cache.drop(
            ctx,
            p.writes.map((w) => w.key),
            'unlessPending',
          ),
        ),
      );
      // Told to the other instances too: their copies may be older than a COMMIT whose reply was lost.
      late?.(
        plans.map((p) => ({ cache: p.cache, keys: p.writes.map((w) => w.key) })),
        timedOut ? sent : undefined,
      );
    }
    if (timedOut) {
      throw new StrataError('TX_TIMEOUT', `transaction did not finish within ${timeoutMs} ms`, {
        cause: err,
      });
    }
    throw txFailed(err);
  } finally {
    await marked;
  }
}

async function writeL2Only(p: Plan): Promise<TxWritten> {
  const ordered = p.writes.map((w, i) => ({
    key: w.key,
    ...(w.row && { stored: p.cache.rows.fromL2(p.cache.rows.toL2(p.encrypted[i]!)), plain: w.row }),
  }));
  try {
    const { versions } = (await writeOrdered(p.cache, ordered, { pendingFlush: false }))!;
    return summary(
      p,
      versions,
      p.writes.flatMap((w) => (w.row ? [w.row] : [])),
    );
  } catch (err) {
    const name = p.cache.schema.name;
    throw new StrataError(
      'L2_UNAVAILABLE',
      `transaction committed in Postgres, but schema ${name} (no L3) could not be written to L2`,
      {
        cause: err,
        details: { schema: name, committed: true, keys: p.writes.map((w) => w.key) },
      },
    );
  }
}

function summary(p: Plan, versions: number[], rows: Row[]): TxWritten {
  return {
    cache: p.cache,
    rows,
    keys: p.writes.map((w) => w.key),
    versions,
    deleted: p.writes.map((w) => !w.row),
  };
}

async function plan(
  ctx: EngineContext,
  resolve: (op: TxOp) => SchemaCache,
  ops: readonly TxOp[],
): Promise<Plan[]> {
  const groups = new Map<SchemaCache, KeyedWrite[]>();
  for (const op of ops) {
    const cache = resolve(op);
    const write: KeyedWrite =
      op.kind === 'set' ? await prepareRow(ctx, cache, op.value) : deleteOf(cache, op.id);
    groups.get(cache)?.push(write) ?? groups.set(cache, [write]);
  }
  return [...groups].map(([cache, writes]) => ({ cache, ...collapse(cache.schema, writes), encrypted: [] }));
}

/** A delete of `id` (as the caller gave it: a bad one throws) as a write. */
function deleteOf(cache: SchemaCache, id: unknown): KeyedWrite {
  const normalized = normalizeId(cache.schema, id);
  return { key: idKey(normalized), id: normalized };
}

/**
 * Writes of one schema in call order collapsed to each key's net effect, in the order of its last
 * writes: a set after a set of its key over it (`laterSetOver`: the columns it leaves out keep the
 * earlier set's), a delete over anything. A set after a delete of its key is a new row, not an
 * update of the deleted one: its key is in `replaced`.
 */
function collapse(schema: CompiledSchema, writes: readonly KeyedWrite[]): Pick<Plan, 'writes' | 'replaced'> {
  const deleted = new Set<string>();
  const replaced = new Set<string>();
  const last = new Map<string, KeyedWrite>();
  for (const write of writes) {
    if (!write.row) deleted.add(write.key);
    else if (deleted.has(write.key)) replaced.add(write.key);
    const earlier = last.get(write.key)?.row;
    last.delete(write.key);
    last.set(write.key, write.row ? { ...write, row: laterSetOver(schema, earlier, write.row) } : write);
  }
  return { writes: [...last.values()], replaced };
}

/**
 * A write-behind schema's writes take their versions from its Redis counter, after its partial sets
 * are merged over the writes of their keys still queued (`overQueued`), so that superseding them
 * loses none of their columns; the versions are taken only if none of those keys moved meanwhile.
 */
async function orderAmongQueued(p: Plan): Promise<void> {
  const { writes, replaced } = p;
  for (let tries = 0; tries < MERGE_TRIES; tries++) {
    const merged = await overQueued(p.cache, writes, new Set(replaced));
    const versions = await reserveVersions(
      p.cache,
      merged.writes.map((w) => w.key),
      merged.expected.size > 0 ? merged.expected : undefined,
    );
    if (!versions) continue;
    p.writes = merged.writes;
    p.replaced = merged.replaced;
    p.versions = versions;
    return;
  }
  throw moved(p.cache.schema.name);
}

function txFailed(err: unknown): StrataError {
  if (isStrataError(err, 'TX_FAILED')) return err;
  const sqlstate = sqlStateOf(err);
  const why = isStrataError(err) ? err.code : sqlstate ? `SQLSTATE ${sqlstate}` : 'L3 error';
  return new StrataError('TX_FAILED', `transaction failed and was rolled back (${why})`, {
    cause: err,
    details: sqlstate ? { sqlstate } : {},
  });
}
