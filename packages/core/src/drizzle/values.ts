import { is, Placeholder, SQL, type SQLChunk, StringChunk, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Row } from '../l3/types.js';
import type { CompiledColumn } from '../schema/types.js';
import { qualifiedName } from './identifiers.js';

/** The type to cast a parameter to: in a VALUES list Postgres cannot infer it from the target column. */
export function castType(column: PgColumn): string {
  const pgEnum = (column as { enum?: { enumName: string; schema?: string } }).enum;
  if (pgEnum) return qualifiedName(pgEnum.schema, pgEnum.enumName);
  const type = column.getSQLType();
  // serial is a column shorthand, not a type.
  const serial = /^(small|big)?serial$/i.exec(type);
  if (!serial) return type;
  const size = serial[1]?.toLowerCase();
  return size === 'small' ? 'smallint' : size === 'big' ? 'bigint' : 'integer';
}

/**
 * A bound cell: a value through its column's encoder, or a placeholder left as it is (a statement
 * prepared once binds values its caller encoded; see one-row.ts).
 */
function cell(value: unknown, column?: PgColumn): SQLChunk {
  return is(value, Placeholder) ? value : sql.param(value, column);
}

/** A trailing column of a source that is not a table column, such as a write's version. */
interface ExtraColumn {
  readonly name: string;
  readonly type: string;
  readonly values: readonly unknown[];
}

/**
 * Rows as a FROM item: `(values ($1::type, …), (…)) as alias (c0, c1, …)`, each cell bound through
 * its column's encoder (Date, jsonb, bigint…) and cast to its type. One flat fragment: Drizzle
 * renders nested fragments about twice as slowly, and a chunk binds up to 65,535 parameters.
 */
export function valuesSource(
  alias: string,
  columns: readonly CompiledColumn[],
  rows: readonly Row[],
  extra: readonly ExtraColumn[] = [],
): SQL {
  const types = columns.map((c) => `::${castType(c.column)}`);
  const chunks: SQLChunk[] = [new StringChunk('(values ')];
  rows.forEach((row, r) => {
    chunks.push(new StringChunk(r === 0 ? '(' : '), ('));
    columns.forEach((c, i) => {
      if (i > 0) chunks.push(new StringChunk(', '));
      chunks.push(cell(row[c.key], c.column), new StringChunk(types[i]!));
    });
    for (const e of extra)
      chunks.push(new StringChunk(', '), cell(e.values[r]), new StringChunk(`::${e.type}`));
  });
  chunks.push(new StringChunk('))'));
  const names = [...columns.map((_, i) => `c${i}`), ...extra.map((e) => e.name)];
  return sql`${new SQL(chunks)} as ${sql.identifier(alias)} (${sql.join(
    names.map((n) => sql.identifier(n)),
    sql`, `,
  )})`;
}
