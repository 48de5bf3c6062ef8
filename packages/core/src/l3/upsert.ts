import { type SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { CompiledSchema } from '../schema/types.js';
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
