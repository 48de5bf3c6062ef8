import { is, SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';

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
 * insert-only (autoNowAdd) keys, the rows' `defaults` (values filled in for a new row, see
 * `Write.defaults`) and generated columns. A column no row gives keeps its stored value. A default
 * of a column with `$onUpdate` too (named in `defaults` even where the insert leaves the column to
 * Postgres' DEFAULT: see `withFunctionDefaults`) takes its `$onUpdate` value where the row exists,
 * one for the statement, as Drizzle's update sets it.
 * With `replace` (a set after a delete of the same key, folded into one write): every column.
 */
export function conflictSet(
  schema: CompiledSchema,
  rows: readonly Row[],
  replace = false,
  defaults: readonly string[] = [],
): Record<string, SQL> {
  const insertOnly = new Set([...schema.insertOnlyKeys, ...defaults]);
  const set: Record<string, SQL> = {};
  for (const c of schema.columns) {
    if (c === schema.primaryKey || cannotBeSet(c.column)) continue;
    // A replacing write is a new row: every column takes what the insert proposed (a column it
    // leaves out, its default), the insert-only ones too.
    const onUpdate = (c.column as { onUpdateFn?: () => unknown }).onUpdateFn;
    if (!replace && onUpdate && defaults.includes(c.key) && !schema.insertOnlyKeys.includes(c.key)) {
      const value = onUpdate();
      set[c.key] = is(value, SQL) ? value : sql`${sql.param(value, c.column)}`;
      continue;
    }
    if (!replace && (insertOnly.has(c.key) || !rows.some((row) => row[c.key] !== undefined))) continue;
    set[c.key] = sql`excluded.${sql.identifier(c.name)}`;
  }
  // Nothing to update still has to return the stored row: a no-op assignment does.
  if (Object.keys(set).length === 0) {
    set[schema.primaryKey.key] = sql`excluded.${sql.identifier(schema.primaryKey.name)}`;
  }
  return set;
}
