import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { driverError, sqlState } from './driver-error.js';
import { ddlLock } from './migrate.js';
import type { Transactions } from './transactions.js';
import type { VersionedWriteOp, VersionedWriteResult } from './types.js';
import { chunk, rowsPerStatement } from './upsert.js';
import {
  planVersioned,
  type VersionedPlan,
  type VersionedWrite,
  versionEntries,
  versionedResults,
  versionKey,
  versionScope,
} from './versioned-plan.js';
import { versionedWriteStatements } from './versioned-writes.js';
import { recordVersions, type VersionsTable, versionsTableStatements } from './versions-table.js';

/** What applyVersioned runs on: the tier's database, its way to be atomic, its settings. */
export interface VersionedContext {
  readonly db: Database;
  readonly transactions: Transactions;
  readonly versions: VersionsTable;
  readonly maxParameters: number;
}

/** schema, id, version, deleted, updated_at: a column left to its DEFAULT still counts (safe side). */
const VERSION_COLUMNS = 5;

type Recorded = { schema: string; id: string }[];

function recordStatements(ctx: VersionedContext, db: Database, plan: VersionedPlan) {
  const size = rowsPerStatement(VERSION_COLUMNS, ctx.maxParameters);
  return chunk(versionEntries(plan), size).map((entries) => recordVersions(db, ctx.versions, entries));
}

const keysOf = (rows: Recorded): Set<string> => new Set(rows.map((r) => versionKey(r.schema, r.id)));

/**
 * Interactive: records the versions first (locking every key, in one order), then writes only the
 * rows whose version was newly recorded. A redelivered batch costs the version statement alone.
 */
function interactive(ctx: VersionedContext, plan: VersionedPlan): Promise<Set<string>> {
  return ctx.transactions.interactive(async (tx) => {
    const recorded: Recorded = [];
    for (const statement of recordStatements(ctx, tx, plan)) recorded.push(...(await statement));
    const keys = keysOf(recorded);
    const isNew = (w: VersionedWrite) => keys.has(versionKey(versionScope(w.schema), w.key));
    for (const op of plan.ops) {
      const fresh = { schema: op.schema, sets: op.sets.filter(isNew), deletes: op.deletes.filter(isNew) };
      for (const statement of versionedWriteStatements(tx, ctx.versions, fresh, ctx.maxParameters)) {
        await statement;
      }
    }
    return keys;
  });
}

/**
 * One `db.batch`: no result comes back between statements, so every winner's row goes out and the
 * SQL applies it only where this transaction recorded its version.
 */
async function batch(ctx: VersionedContext, plan: VersionedPlan): Promise<Set<string>> {
  const records = recordStatements(ctx, ctx.db, plan);
  const writes = plan.ops.flatMap((op) =>
    versionedWriteStatements(ctx.db, ctx.versions, op, ctx.maxParameters),
  );
  const results = await ctx.transactions.batch([...records, ...writes]);
  return keysOf(results.slice(0, records.length).flat() as Recorded);
}

/** Creates `_strata_versions` under migrate()'s lock, so two instances doing it at once queue. */
async function createVersionsTable(ctx: VersionedContext): Promise<void> {
  const statements = versionsTableStatements(ctx.versions);
  await ctx.transactions.all((db) => [ddlLock(db), ...statements.map((s) => db.execute(sql.raw(s)))]);
}

/** undefined_table, or invalid_schema_name for a `migrationsSchema` that does not exist yet. */
function missingTable(error: unknown): boolean {
  const state = sqlState(driverError(error));
  return state === '42P01' || state === '3F000';
}

/**
 * Applies versioned writes atomically (see `L3Tier.applyVersioned`). Creates `_strata_versions` the
 * first time it is missing (a database that never ran migrate(), or migrated before the table came)
 * and tries once more; the steady state pays no statement for that.
 */
export async function applyVersionedWrites(
  ctx: VersionedContext,
  ops: readonly VersionedWriteOp[],
): Promise<VersionedWriteResult[]> {
  const plan = planVersioned(ops);
  if (plan.winners.length === 0) return versionedResults(plan, new Set());
  const attempt = () => (ctx.transactions.mode === 'batch' ? batch(ctx, plan) : interactive(ctx, plan));
  let recorded: Set<string>;
  try {
    recorded = await attempt();
  } catch (error) {
    if (!missingTable(error)) throw error;
    await createVersionsTable(ctx);
    recorded = await attempt();
  }
  return versionedResults(plan, recorded);
}
