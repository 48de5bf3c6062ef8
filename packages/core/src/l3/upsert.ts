import { type SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import type { Statement } from './transactions.js';
import type { Row } from './types.js';

/** Postgres' wire protocol numbers bind parameters with 16 bits. */
export const MAX_PARAMETERS = 65_535;

/**
 * Rows per INSERT so that rows × columns stays under the parameter limit (a column left to its
 * DEFAULT binds nothing, so counting every column is the safe side).
 * @example rowsPerStatement(5); // 13106: 65,530 parameters
 */
export function rowsPerStatement(columnCount: number, maxParameters = MAX_PARAMETERS): number {
  return Math.max(1, Math.floor((maxParameters - 1) / Math.max(1, columnCount)));
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function identity(value: unknown): unknown {
  if (value instanceof Date) return `date:${value.getTime()}`;
  if (typeof value === 'object' && value !== null) return value; // compared by reference: no merge
  return `${typeof value}:${String(value)}`;
}

/**
 * The last row for each primary key, in the order of those last occurrences: one INSERT … ON CONFLICT
 * must not touch a row twice (Postgres rejects it with 21000), and the last write wins as it would
 * have one statement at a time.
 */
export function lastPerKey(rows: readonly Row[], key: string): Row[] {
  const byKey = new Map<unknown, Row>();
  for (const row of rows) {
    const id = identity(row[key]);
    byKey.delete(id);
    byKey.set(id, row);
  }
  return [...byKey.values()];
}

/** Generated and identity-always columns: Postgres computes them, an INSERT or UPDATE may not name them. */
export function cannotBeSet(column: PgColumn): boolean {
  return column.generated !== undefined || column.generatedIdentity?.type === 'always';
}

/**
 * The ON CONFLICT SET list: every column some row gives, except the primary key, the schema's
 * insert-only (autoNowAdd) keys and generated columns. A column no row gives keeps its stored value.
 */
export function conflictSet(schema: CompiledSchema, rows: readonly Row[]): Record<string, SQL> {
  const insertOnly = new Set(schema.insertOnlyKeys);
  const set: Record<string, SQL> = {};
  for (const c of schema.columns) {
    if (c === schema.primaryKey || insertOnly.has(c.key) || cannotBeSet(c.column)) continue;
    if (!rows.some((row) => row[c.key] !== undefined)) continue;
    set[c.key] = sql`excluded.${sql.identifier(c.name)}`;
  }
  // Nothing to update still has to return the stored row: a no-op assignment does.
  if (Object.keys(set).length === 0) {
    set[schema.primaryKey.key] = sql`excluded.${sql.identifier(schema.primaryKey.name)}`;
  }
  return set;
}

/** One chunk's INSERT … ON CONFLICT (pk) DO UPDATE … RETURNING *. */
export function upsertStatement(
  db: Database,
  schema: CompiledSchema,
  rows: readonly Row[],
  set: Record<string, SQL>,
): Statement<Row[]> {
  return db
    .insert(schema.table)
    .values(rows as Record<string, unknown>[])
    .onConflictDoUpdate({ target: schema.primaryKey.column, set })
    .returning();
}
