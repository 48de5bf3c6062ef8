import { inArray, type SQL } from 'drizzle-orm';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { decodeRecordsetRows, recordsetColumns, recordsetUpsertStatement } from './recordset-upsert.js';
import type { Statement } from './transactions.js';
import type { Row, WriteOp, WriteOpResult } from './types.js';
import { chunk, conflictSet, lastPerKey, rowsPerStatement, upsertStatement } from './upsert.js';

/**
 * One op's statements, decided before anything runs: the same plan is built on the database, on an
 * interactive transaction or into a batch, and its results are read back by position.
 */
export interface WritePlan {
  readonly schema: CompiledSchema;
  /** Rows per INSERT … ON CONFLICT, duplicates already resolved (last wins). */
  readonly upsertChunks: readonly Row[][];
  readonly set: Record<string, SQL>;
  /** Ids per DELETE. */
  readonly deleteChunks: readonly unknown[][];
  /** Set when the upserts go as one `jsonb_to_recordset` statement (its columns) instead of chunks. */
  readonly recordset?: readonly CompiledColumn[];
}

/** Upserts' and deletes' RETURNING rows: both are arrays, only their length matters for deletes. */
export type WriteStatement = Statement<readonly unknown[]>;

/**
 * Splits an op under the parameter limit: upserts by rows × columns, deletes by ids (one parameter is
 * kept spare, as for reads).
 * @example planWrite({ schema, upserts: rows, deletes: [] }, 65_535).upsertChunks.length; // 2 for 20,000 rows of 5 columns
 */
export function planWrite(op: WriteOp, maxParameters: number): WritePlan {
  const { schema } = op;
  const unique = op.upserts.length === 0 ? [] : lastPerKey(op.upserts, schema.primaryKey.key);
  const chunks = chunk(unique, rowsPerStatement(schema.columns.length, maxParameters));
  // Past one VALUES statement's parameters, one recordset statement (one parameter) where the rows allow.
  const recordset = chunks.length > 1 ? recordsetColumns(schema, unique) : undefined;
  return {
    schema,
    upsertChunks: recordset ? [unique] : chunks,
    set: unique.length === 0 ? {} : conflictSet(schema, unique),
    deleteChunks: chunk(op.deletes, maxParameters - 1),
    ...(recordset && { recordset }),
  };
}

export function statementCount(plan: WritePlan): number {
  return plan.upsertChunks.length + plan.deleteChunks.length;
}

/** The plan's statements on `db` (a database or a transaction): its upserts, then its deletes. */
export function writeStatements(db: Database, plan: WritePlan): WriteStatement[] {
  const { schema } = plan;
  const pk = schema.primaryKey.column;
  const { recordset } = plan;
  return [
    ...plan.upsertChunks.map((rows) =>
      recordset
        ? (recordsetUpsertStatement(db, schema, recordset, rows, plan.set) as WriteStatement)
        : upsertStatement(db, schema, rows, plan.set),
    ),
    // RETURNING counts the same on every driver; their rowCount fields differ in name and presence.
    ...plan.deleteChunks.map((ids) => db.delete(schema.table).where(inArray(pk, ids)).returning({ id: pk })),
  ];
}

/**
 * Reads each plan's result from the flat results of all plans' statements, in the order
 * {@link writeStatements} made them.
 */
export function writeResults(
  plans: readonly WritePlan[],
  results: readonly (readonly unknown[])[],
): WriteOpResult[] {
  let next = 0;
  return plans.map((plan) => {
    const own = results.slice(next, next + plan.upsertChunks.length);
    const upserted = plan.recordset ? decodeRecordsetRows(plan.schema, own[0]) : (own.flat() as Row[]);
    next += plan.upsertChunks.length;
    const deletes = results.slice(next, next + plan.deleteChunks.length);
    next += plan.deleteChunks.length;
    return { upserted, deleted: deletes.reduce((sum, rows) => sum + rows.length, 0) };
  });
}
