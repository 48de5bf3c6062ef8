import { sql } from 'drizzle-orm';
import { EpochMoved } from '../l3/epoch-moved.js';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { WriteOp, WriteOutcome } from '../l3/types.js';
import type { OwnWritesMark } from './capture/own-writes.js';
import type { Database } from './database.js';
import { ddlLock } from './ddl-lock.js';
import { driverError } from './driver-error.js';
import type { OneRowStatements } from './one-row.js';
import { decodeRawRow } from './recordset.js';
import { rowsOf } from './rows.js';
import { columnsMoved, type TableColumns } from './table-columns.js';
import type { Statement, Transactions } from './transactions.js';
import { rowsPerStatement } from './upsert.js';
import { type VersionsTable, versionsColumnsStatements, versionsTableStatements } from './versions-table.js';
import { withdrawnTableStatements } from './withdrawn-table.js';
import { type PlannedWrite, planWrite, type WriteGroup, type WritePlan } from './write-plan.js';
import {
  DELETED_PK,
  dataStatement,
  EPOCH_MOVED,
  EXISTED,
  KEY,
  namesColumns,
  STALE_SNAPSHOT,
  singleStatement,
  VERSION,
  versionStatements,
} from './write-sql.js';

/** What `write` runs on: the tier's database, its way to be atomic, its settings. */
export interface WriteContext {
  readonly db: Database;
  readonly transactions: Transactions;
  readonly versions: VersionsTable;
  readonly maxParameters: number;
  /** One-row writes, built once per shape and kept prepared. */
  readonly oneRow: OneRowStatements;
  /** Marks each statement's keys for the capture trigger (an L3 with capture; see own-writes.ts). */
  markOwnWrites: OwnWritesMark | undefined;
  /** The table columns each schema does not map (a rolling deploy's older version; see `TableColumns`). */
  readonly columns: TableColumns;
}

type Raw = Record<string, unknown>;

const at = (identity: string, key: string) => `${identity}\u0000${key}`;
/** A boolean as the drivers hand it over (neon-http: text). */
export const bool = (value: unknown) => value === true || value === 't' || value === 'true';

/** Fills the outcome of each write of a group from its statement's reply. */
function recordGroupOutcomes(
  plan: WritePlan,
  group: WriteGroup,
  raws: readonly Raw[],
  versions?: ReadonlyMap<string, number>,
) {
  const pk = group.schema.primaryKey;
  const byKey = new Map(group.writes.map((w) => [w.key, w]));
  for (const raw of raws) {
    if (group.columns) {
      const row = decodeRawRow(group.schema, raw);
      const w = byKey.get(String(row[pk.key]));
      if (!w) continue;
      const version = versions?.get(at(w.schema.identity, w.key)) ?? Number(raw[VERSION]);
      plan.outcomes[w.op]![w.index] = { applied: true, version, row };
    } else {
      const key = String(raw[KEY] ?? raw[DELETED_PK]);
      const w = byKey.get(key);
      if (!w) continue;
      const version = versions?.get(at(w.schema.identity, w.key)) ?? Number(raw[VERSION]);
      plan.outcomes[w.op]![w.index] = {
        applied: true,
        version,
        existed: raw[EXISTED] === undefined || bool(raw[EXISTED]),
      };
    }
  }
}

/** Deletes whose version was recorded but that found no row (multi-statement form): applied, nothing existed. */
function recordDeletesOfAbsentRows(
  plan: WritePlan,
  group: WriteGroup,
  part: readonly PlannedWrite[],
  versions: ReadonlyMap<string, number>,
) {
  if (group.columns) return;
  for (const w of part) {
    const version = versions.get(at(w.schema.identity, w.key));
    if (version === undefined || plan.outcomes[w.op]![w.index]!.applied) continue;
    plan.outcomes[w.op]![w.index] = { applied: true, version, existed: false };
  }
}

function recordedVersions(results: readonly unknown[]): Map<string, number> {
  const versions = new Map<string, number>();
  for (const result of results) {
    for (const raw of rowsOf(result))
      versions.set(at(String(raw.schema), String(raw.id)), Number(raw.version));
  }
  return versions;
}

function versionSize(ctx: WriteContext, plan: WritePlan): number {
  // identity, key, deleted, version: four parameters a key; a floor, an epoch guard and the columns
  // a partial set sends (or a replace's mark) one more each; a fold two (its `since` and `cols`).
  const floored = plan.winners.some((w) => w.floor !== undefined);
  const folded = plan.winners.some((w) => w.since !== undefined);
  const guarded = plan.groups.some((g) => g.epoch !== undefined);
  const partial = plan.winners.some(namesColumns);
  const extra = (floored ? 1 : 0) + (guarded ? 1 : 0) + (partial ? 1 : 0) + (folded ? 2 : 0);
  return rowsPerStatement(4 + extra, ctx.maxParameters);
}

/** Each schema's epoch guard in the plan (see `WriteOp.epoch`). */
function epochsOf(plan: WritePlan): Map<string, number> {
  const epochs = new Map<string, number>();
  for (const g of plan.groups) if (g.epoch !== undefined) epochs.set(g.schema.identity, g.epoch);
  return epochs;
}

async function interactive(ctx: WriteContext, plan: WritePlan): Promise<void> {
  await ctx.transactions.interactive(async (tx) => {
    const results: unknown[] = [];
    for (const statement of versionStatements(
      tx,
      ctx.versions,
      plan.winners,
      versionSize(ctx, plan),
      epochsOf(plan),
    ))
      results.push(await statement);
    const versions = recordedVersions(results);
    for (const group of plan.groups) {
      for (const part of group.parts) {
        const fresh = part.filter((w) => versions.has(at(w.schema.identity, w.key)));
        if (fresh.length === 0) continue;
        recordGroupOutcomes(
          plan,
          group,
          rowsOf(
            await dataStatement(tx, ctx.versions, group, fresh, {
              onlyVersionsRecordedNow: false,
              markOwn: ctx.markOwnWrites,
            }),
          ),
          versions,
        );
        recordDeletesOfAbsentRows(plan, group, fresh, versions);
      }
    }
  });
}

async function batch(ctx: WriteContext, plan: WritePlan): Promise<void> {
  const versionsPart = versionStatements(
    ctx.db,
    ctx.versions,
    plan.winners,
    versionSize(ctx, plan),
    epochsOf(plan),
  );
  const data: { group: WriteGroup; part: readonly PlannedWrite[]; statement: Statement }[] = [];
  for (const group of plan.groups) {
    for (const part of group.parts)
      data.push({
        group,
        part,
        statement: dataStatement(ctx.db, ctx.versions, group, part, {
          onlyVersionsRecordedNow: true,
          markOwn: ctx.markOwnWrites,
        }),
      });
  }
  const results = await ctx.transactions.batch([...versionsPart, ...data.map((d) => d.statement)]);
  const versions = recordedVersions(results.slice(0, versionsPart.length));
  data.forEach(({ group, part }, i) => {
    recordGroupOutcomes(plan, group, rowsOf(results[versionsPart.length + i]), versions);
    recordDeletesOfAbsentRows(plan, group, part, versions);
  });
}

/** A single-statement delete that found its snapshot stale: it left nothing; the transaction form is right. */
function staleSnapshot(error: unknown): boolean {
  const cause = driverError(error);
  return (
    sqlStateOf(cause) === '22P02' && String((cause as { message?: unknown }).message).includes(STALE_SNAPSHOT)
  );
}

/** A write that found a later epoch than its op's (see `epochGuard`): the engine's EpochMoved, else as it was. */
function epochMoved(error: unknown): unknown {
  const cause = driverError(error);
  const message = String((cause as { message?: unknown } | undefined)?.message);
  const at = message.indexOf(EPOCH_MOVED);
  if (sqlStateOf(cause) !== '22P02' || at < 0) return error;
  return new EpochMoved(Number.parseInt(message.slice(at + EPOCH_MOVED.length), 10));
}

async function attempt(ctx: WriteContext, plan: WritePlan): Promise<void> {
  const [only] = plan.groups;
  if (plan.groups.length === 1 && only!.parts.length === 1) {
    try {
      const build = (group: WriteGroup) => singleStatement(ctx.versions, group, ctx.markOwnWrites);
      const result =
        only!.writes.length === 1 ? await ctx.oneRow.run(only!, build) : await ctx.db.execute(build(only!));
      recordGroupOutcomes(plan, only!, rowsOf(result));
      return;
    } catch (error) {
      if (!staleSnapshot(error)) throw error;
    }
  }
  await (ctx.transactions.mode === 'batch' ? batch(ctx, plan) : interactive(ctx, plan));
}

/** undefined_table, or invalid_schema_name for a `migrationsSchema` that does not exist yet. */
export function missingTable(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state === '42P01' || state === '3F000';
}

/** Creates a table of Strata's (from its DDL) under migrate()'s lock, so two instances doing it at once queue. */
async function createTable(ctx: WriteContext, statements: readonly string[]): Promise<void> {
  await ctx.transactions.all((db) => [ddlLock(db), ...statements.map((s) => db.execute(sql.raw(s)))]);
}

/**
 * Runs `work`, which reads or writes a table of Strata's made by `ddl()`; when the table is
 * missing, creates it and runs `work` once more. The steady state pays nothing for that. (A missing
 * user table fails the same way the second time and is reported as it is.)
 */
export async function withTable<T>(
  ctx: WriteContext,
  ddl: (versions: VersionsTable) => string[],
  work: () => Promise<T>,
  /** Another failure the DDL repairs (columns added since the table was first made). */
  repaired: (error: unknown) => boolean = () => false,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!missingTable(error) && !repaired(error)) throw error;
    await createTable(ctx, ddl(ctx.versions));
    return work();
  }
}

/**
 * `withTable` for `_strata_versions` and `_strata_withdrawn` beside it (their statements reference
 * both: a database made before the second existed gains it then); a table made before its `cols`
 * (`_strata_versions`) or `sent` (`_strata_withdrawn`) existed gains it.
 */
export function withVersionsTable<T>(ctx: WriteContext, work: () => Promise<T>): Promise<T> {
  return withTable(
    ctx,
    (versions) => [
      ...new Set([
        ...versionsTableStatements(versions),
        ...versionsColumnsStatements(versions),
        ...withdrawnTableStatements(versions),
      ]),
    ],
    work,
    (error) => {
      const cause = driverError(error);
      return (
        sqlStateOf(cause) === '42703' &&
        /\b(cols|sent)\b/.test(String((cause as { message?: unknown }).message))
      );
    },
  );
}

/**
 * Runs a `write` (see `L3Tier.write`): one statement when the call is one group of one part, else
 * one transaction, versions first. Creates `_strata_versions` the first time it is missing.
 */
export function runWrite(ctx: WriteContext, ops: readonly WriteOp[]): Promise<WriteOutcome[][]> {
  return withVersionsTable(ctx, async () => {
    // A replace names the columns it resets: its table must be learnt (see `TableColumns`).
    const replacing = ops.filter((op) => op.writes.some((w) => w.row && w.replace)).map((op) => op.schema);
    for (let again = true; ; again = false) {
      await ctx.columns.learn(ctx.db, replacing);
      // Planned afresh each time: a failed attempt may have filled in some outcomes.
      const plan = planWrite(ops, ctx.maxParameters, (schema) => ctx.columns.unmapped(schema));
      try {
        if (plan.winners.length > 0) await attempt(ctx, plan);
        return plan.outcomes;
      } catch (error) {
        const unmapped = plan.groups.some((g) => g.unmapped !== undefined);
        if (!again || !columnsMoved(error, unmapped)) throw epochMoved(error);
        // Another deploy changed a replaced table: learn it again, once.
        ctx.columns.forget(replacing);
      }
    }
  });
}
