import { type SQL, sql } from 'drizzle-orm';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import { rowsOf } from './migrations-table.js';
import type { Statement } from './transactions.js';
import type { Row } from './types.js';
import { cannotBeSet } from './upsert.js';
import { castType } from './versioned-writes.js';

const RECORDS = sql.identifier('_strata_r');

/** Column types whose values travel through JSON and back unchanged (enums too). */
const SCALAR =
  /^(text|varchar(\(\d+\))?|char(\(\d+\))?|uuid|integer|smallint|bigint|real|double precision|numeric(\(\d+(, ?\d+)?\))?|boolean|date|timestamp(\(\d\))?( with(out)? time zone)?)$/i;
const JSON_TYPE = /^jsonb?$/i;

const isJson = (c: CompiledColumn) => JSON_TYPE.test(c.column.getSQLType());
const isEnum = (c: CompiledColumn) => (c.column as { enum?: unknown }).enum !== undefined;

/**
 * The columns of one `INSERT … SELECT … FROM jsonb_to_recordset($1)` for these rows, or undefined when
 * they cannot take that form: a column type outside the plain scalars, JSON and enums, or a column
 * some rows give and others leave to its default (a record cannot say DEFAULT).
 */
export function recordsetColumns(schema: CompiledSchema, rows: readonly Row[]): CompiledColumn[] | undefined {
  const columns: CompiledColumn[] = [];
  for (const c of schema.columns) {
    if (cannotBeSet(c.column)) continue;
    const given = rows.filter((row) => row[c.key] !== undefined).length;
    if (given === 0) {
      // Drizzle would call these for a missing value; a record would leave the column to SQL.
      const fns = c.column as { defaultFn?: unknown; onUpdateFn?: unknown };
      if (fns.defaultFn || fns.onUpdateFn) return undefined;
      continue;
    }
    if (given !== rows.length) return undefined;
    if (!isJson(c) && !isEnum(c) && !SCALAR.test(c.column.getSQLType())) return undefined;
    columns.push(c);
  }
  return columns;
}

/** A value as the JSON record carries it: what the column's encoder sends, as text where JSON has no type for it. */
function recordValue(c: CompiledColumn, value: unknown): unknown {
  if (value === null) return null;
  if (isJson(c)) return value;
  const encoded: unknown = c.column.mapToDriverValue(value);
  if (typeof encoded === 'bigint') return encoded.toString();
  if (encoded instanceof Date) return encoded.toISOString();
  return encoded;
}

/**
 * All rows as ONE statement whatever their number: one bound parameter (the rows as a JSON array),
 * where a multi-row VALUES needs one per cell and so several statements past 65,535 cells.
 * `INSERT … SELECT … FROM jsonb_to_recordset($1::jsonb) AS r(col type, …) ON CONFLICT (pk) DO UPDATE
 * … RETURNING *`; its raw rows are decoded by {@link decodeRecordsetRows}.
 */
export function recordsetUpsertStatement(
  db: Database,
  schema: CompiledSchema,
  columns: readonly CompiledColumn[],
  rows: readonly Row[],
  set: Record<string, SQL>,
): Statement {
  const records = rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const c of columns) record[c.name] = recordValue(c, row[c.key]);
    return record;
  });
  const names = sql.join(
    columns.map((c) => sql.identifier(c.name)),
    sql`, `,
  );
  const types = sql.join(
    columns.map((c) => sql`${sql.identifier(c.name)} ${sql.raw(castType(c.column))}`),
    sql`, `,
  );
  const assignments = sql.join(
    Object.entries(set).map(
      ([key, value]) => sql`${sql.identifier(schema.columnsByKey.get(key)?.name ?? key)} = ${value}`,
    ),
    sql`, `,
  );
  return db.execute(
    sql`insert into ${schema.table} (${names}) select ${names} from jsonb_to_recordset(${JSON.stringify(records)}::jsonb) as ${RECORDS} (${types}) on conflict (${sql.identifier(schema.primaryKey.name)}) do update set ${assignments} returning *`,
  ) as unknown as Statement;
}

/** RETURNING * rows of the raw statement as Drizzle would give them: JS keys, decoded values. */
export function decodeRecordsetRows(schema: CompiledSchema, result: unknown): Row[] {
  return rowsOf(result).map((raw) => {
    const row: Row = {};
    for (const c of schema.columns) {
      const value = raw[c.name];
      row[c.key] = value === null || value === undefined ? null : c.column.mapFromDriverValue(value);
    }
    return row;
  });
}
