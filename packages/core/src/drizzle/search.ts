import { asc, count, desc, eq, gt, inArray, type SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { PendingWrites, ScanOptions, SearchQuery, StoredRow } from '../l3/types.js';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import { decoderOf } from './column-decoder.js';
import type { Database } from './database.js';
import type { VersionedSelect } from './mapped-select.js';
import type { Statement } from './transactions.js';
import { type VersionsTable, versionOfRow } from './versions-table.js';
import { withdrawnAt } from './withdrawn-table.js';
import { bool } from './write.js';

function columnOf(schema: CompiledSchema, key: string): CompiledColumn {
  const column = schema.columnsByKey.get(key);
  // The engine validates keys first; this guards direct callers, so a typo is never a silent no-op.
  if (!column) throw new StrataError('INVALID_QUERY', `${schema.name} has no column "${key}"`);
  return column;
}

/**
 * The selection: the row keyed by JS key (Drizzle decodes each value with its column: Date, bigint,
 * bytes, also where the driver returns text, as neon-http does; a date-mode timestamp with ours,
 * see `decoderOf`) and the row's version.
 */
function selection(versions: VersionsTable, schema: CompiledSchema, fields?: readonly string[]) {
  const columns = selectedColumns(schema, fields);
  const row: Record<string, PgColumn | SQL> = Object.fromEntries(
    columns.map((c) => [
      c.key,
      c.column.columnType === 'PgTimestamp' ? sql`${c.column}`.mapWith(decoderOf(c)) : c.column,
    ]),
  );
  return { row, version: versionOfRow(versions, schema) };
}

/** The columns a select of `fields` (all of them without) reads, in the order of its select list. */
export function selectedColumns(
  schema: CompiledSchema,
  fields?: readonly string[],
): readonly CompiledColumn[] {
  return fields?.length ? fields.map((key) => columnOf(schema, key)) : schema.columns;
}

/**
 * The requested order, then the primary key: ties in the requested order would otherwise come back
 * in any order, and LIMIT/OFFSET pages could repeat or skip rows.
 */
export function ordering(schema: CompiledSchema, orderBy: SearchQuery['orderBy'] = []): SQL[] {
  const terms = orderBy.map(({ key, desc: descending }) => {
    const { column } = columnOf(schema, key);
    return descending ? desc(column) : asc(column);
  });
  if (!orderBy.some(({ key }) => key === schema.primaryKey.key)) terms.push(asc(schema.primaryKey.column));
  return terms;
}

/**
 * Rows by primary key, with versions; with `pending`, whether the write given for each row's key was
 * withdrawn (`StoredRow.withdrawn`), in the same statement.
 */
export function findStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  ids: readonly unknown[],
  pending?: PendingWrites,
): Statement<StoredRow[]> {
  const select = selection(versions, schema);
  const key = sql`${schema.table}.${sql.identifier(schema.primaryKey.name)}::text`;
  const at = JSON.stringify(Object.fromEntries((pending ?? []).map((w) => [w.id, w.version])));
  return db
    .select(
      pending
        ? {
            ...select,
            withdrawn:
              sql<boolean>`${withdrawnAt(versions, schema.identity, key, sql`(${at}::jsonb ->> ${key})::bigint`)}`.mapWith(
                bool,
              ),
          }
        : select,
    )
    .from(schema.table)
    .where(inArray(schema.primaryKey.column, [...ids])) as unknown as Statement<StoredRow[]>;
}

/**
 * One row by primary key, with its version, the key a placeholder (`id`, bound encoded): what
 * `OneRowStatements.find` prepares once per schema.
 */
export function findOneStatement(db: Database, versions: VersionsTable, schema: CompiledSchema) {
  return db
    .select(selection(versions, schema))
    .from(schema.table)
    .where(eq(schema.primaryKey.column, sql.placeholder('id')));
}

/** A page of rows in primary-key order, strictly after `options.after`, with versions. */
export function scanStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  options: ScanOptions,
): VersionedSelect {
  const pk = schema.primaryKey.column;
  return db
    .select(selection(versions, schema))
    .from(schema.table)
    .where(options.after === undefined ? undefined : gt(pk, options.after))
    .orderBy(asc(pk))
    .limit(options.limit) as unknown as VersionedSelect;
}

/**
 * One SELECT for a validated search, each row with its version. Identifiers come from the schema's
 * Drizzle columns only; the condition's values stay bound parameters.
 * @example
 * await searchStatement(db, versions, players, { where: gt(players.table.level, 10), orderBy: [{ key: 'level', desc: true }], limit: 20, offset: 0 });
 */
export function searchStatement(
  db: Database,
  versions: VersionsTable,
  schema: CompiledSchema,
  query: SearchQuery,
): VersionedSelect {
  return db
    .select(selection(versions, schema, query.fields))
    .from(schema.table)
    .where(query.where)
    .orderBy(...ordering(schema, query.orderBy))
    .limit(query.limit)
    .offset(query.offset) as unknown as VersionedSelect;
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
