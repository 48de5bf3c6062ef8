import { type SQL, sql } from 'drizzle-orm';
import { toHex } from '../bytes.js';
import type { Row } from '../l3/types.js';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import { decoderOf } from './column-decoder.js';
import { castType } from './values.js';

/** Column types whose values travel through JSON and back unchanged (enums too). */
const SCALAR =
  /^(text|varchar(\(\d+\))?|char(\(\d+\))?|uuid|integer|smallint|bigint|real|double precision|numeric(\(\d+(, ?\d+)?\))?|boolean|date|timestamp(\(\d\))?( with(out)? time zone)?)$/i;
const JSON_TYPE = /^jsonb?$/i;

const isJson = (c: CompiledColumn) => JSON_TYPE.test(c.column.getSQLType());
const isEnum = (c: CompiledColumn) => (c.column as { enum?: unknown }).enum !== undefined;

/**
 * Whether rows that all give `columns` can travel as one `jsonb_to_recordset` parameter: every
 * column of a type whose values come back unchanged through JSON (plain scalars, JSON, enums).
 */
export function recordsetColumns(columns: readonly CompiledColumn[]): boolean {
  return columns.every((c) => isJson(c) || isEnum(c) || SCALAR.test(c.column.getSQLType()));
}

/**
 * A value as a JSON record carries it: what the column's encoder sends, as text where JSON has no
 * type for it (bytes as Postgres' hex text, which `jsonb_populate_record` reads back as bytea).
 */
export function recordValue(c: CompiledColumn, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isJson(c)) return value;
  const encoded: unknown = c.column.mapToDriverValue(value);
  if (typeof encoded === 'bigint') return encoded.toString();
  if (encoded instanceof Date) return encoded.toISOString();
  if (encoded instanceof Uint8Array) return `\\x${toHex(encoded)}`;
  return encoded;
}

/**
 * The rows as one JSON parameter, read back as a FROM item: `jsonb_to_recordset($1::jsonb) AS
 * alias(c0 type, …)`. One bound parameter whatever the number of rows, where a multi-row VALUES
 * needs one per cell (and so several statements past 65,535 cells). `extra` adds trailing columns
 * (name, SQL type, value per row), such as a write's version.
 */
export function recordsetSource(
  alias: string,
  columns: readonly CompiledColumn[],
  rows: readonly Row[],
  extra: readonly { name: string; type: string; values: readonly unknown[] }[] = [],
): SQL {
  const records = rows.map((row, r) => {
    const record: Record<string, unknown> = {};
    columns.forEach((c, i) => {
      record[`c${i}`] = recordValue(c, row[c.key]);
    });
    for (const e of extra) record[e.name] = e.values[r];
    return record;
  });
  const types = [
    ...columns.map((c, i) => sql`${sql.identifier(`c${i}`)} ${sql.raw(castType(c.column))}`),
    ...extra.map((e) => sql`${sql.identifier(e.name)} ${sql.raw(e.type)}`),
  ];
  return sql`jsonb_to_recordset(${JSON.stringify(records)}::jsonb) as ${sql.identifier(alias)} (${sql.join(types, sql`, `)})`;
}

/** A raw row (a `RETURNING *` of `db.execute`) as Drizzle would give it: JS keys, decoded values. */
export function decodeRawRow(schema: CompiledSchema, raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const c of schema.columns) {
    const value = raw[c.name];
    row[c.key] = value === null || value === undefined ? null : decoderOf(c).mapFromDriverValue(value);
  }
  return row;
}
