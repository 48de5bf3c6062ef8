import { asc, count, desc, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import type { Statement } from './transactions.js';
import type { Row, SearchQuery } from './types.js';

function columnOf(schema: CompiledSchema, key: string): CompiledColumn {
  const column = schema.columnsByKey.get(key);
  // The engine validates keys first; this guards direct callers, so a typo is never a silent no-op.
  if (!column) throw new StrataError('INVALID_QUERY', `${schema.name} has no column "${key}"`);
  return column;
}

/**
 * The selection keyed by JS key: Drizzle decodes each value with its column (Date, bigint, bytes),
 * also where the driver returns text (neon-http).
 */
function projection(schema: CompiledSchema, fields: readonly string[] | undefined): Record<string, PgColumn> {
  const columns = fields?.length ? fields.map((key) => columnOf(schema, key)) : schema.columns;
  return Object.fromEntries(columns.map((c) => [c.key, c.column]));
}

/**
 * The requested order, then the primary key: ties in the requested order would otherwise come back
 * in any order, and LIMIT/OFFSET pages could repeat or skip rows.
 */
function ordering(schema: CompiledSchema, orderBy: SearchQuery['orderBy'] = []): SQL[] {
  const terms = orderBy.map(({ key, desc: descending }) => {
    const { column } = columnOf(schema, key);
    return descending ? desc(column) : asc(column);
  });
  if (!orderBy.some(({ key }) => key === schema.primaryKey.key)) terms.push(asc(schema.primaryKey.column));
  return terms;
}

/**
 * One SELECT for a validated search. Identifiers come from the schema's Drizzle columns only; the
 * condition's values stay bound parameters.
 * @example
 * await searchStatement(db, players, { where: gt(players.table.level, 10), orderBy: [{ key: 'level', desc: true }], limit: 20, offset: 0 });
 */
export function searchStatement(db: Database, schema: CompiledSchema, query: SearchQuery): Statement<Row[]> {
  return db
    .select(projection(schema, query.fields))
    .from(schema.table)
    .where(query.where)
    .orderBy(...ordering(schema, query.orderBy))
    .limit(query.limit)
    .offset(query.offset);
}

/**
 * `SELECT count(*)` with an optional condition. Drizzle's `count()` maps the bigint count to a number
 * on every driver (node-postgres and neon-http hand it over as text).
 * @example const [{ n }] = await countStatement(db, players, eq(players.table.team, 'red'));
 */
export function countStatement(
  db: Database,
  schema: CompiledSchema,
  where?: SQL,
): Statement<{ n: number }[]> {
  return db.select({ n: count() }).from(schema.table).where(where);
}
