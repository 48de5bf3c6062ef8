import { getTableName, is, SQL, sql } from 'drizzle-orm';
import { type PgColumn, PgDialect } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import { qualifiedName, quoteIdentifier, quoteLiteral, sqlLiteral } from './identifiers.js';

/** Drizzle's dialect with this module's string escaping, so inlined values are safe under any settings. */
class DdlDialect extends PgDialect {
  override escapeString(text: string): string {
    return quoteLiteral(text);
  }
}

// Pure: unused (an L3 without migrate()), a bundler drops it and the class with it.
const dialect = /* @__PURE__ */ new DdlDialect();

/**
 * A Drizzle SQL fragment as DDL text: params inlined as escaped literals (DDL takes no `$1`), columns
 * unqualified (the 'indexes' mode), names quoted by Drizzle's dialect.
 */
export function renderSql(fragment: SQL): string {
  return dialect.sqlToQuery(sql`${fragment}`.inlineParams(), 'indexes').sql;
}

/** The column's SQL default, or undefined: a `sql` default as written, a JS value as an escaped constant. */
export function defaultClause(column: PgColumn): string | undefined {
  const value: unknown = column.default;
  if (value === undefined) return undefined;
  if (is(value, SQL)) return `(${renderSql(value)})`;
  // The column's own encoder: a Date default becomes the ISO text Drizzle would send, jsonb its JSON.
  const driverValue: unknown = value === null ? null : column.mapToDriverValue(value);
  return is(driverValue, SQL) ? `(${renderSql(driverValue)})` : sqlLiteral(driverValue);
}

/** Sequence options are numbers typed as `number | string`: accept digits only, never arbitrary text. */
function sequenceNumber(column: PgColumn, option: string, value: number | string): string {
  const text = String(value);
  if (!/^-?\d+$/.test(text)) {
    throw new StrataError('INVALID_MODEL', `column ${column.name}: identity ${option} must be an integer`);
  }
  return text;
}

function identityClause(column: PgColumn): string | undefined {
  const identity = column.generatedIdentity;
  if (identity === undefined) return undefined;
  const kind = identity.type === 'always' ? 'ALWAYS' : 'BY DEFAULT';
  const options: string[] = [];
  if (identity.sequenceName !== undefined)
    options.push(`SEQUENCE NAME ${quoteIdentifier(identity.sequenceName)}`);
  const seq = identity.sequenceOptions ?? {};
  const numeric: [keyof typeof seq, string][] = [
    ['startWith', 'START WITH'],
    ['increment', 'INCREMENT BY'],
    ['minValue', 'MINVALUE'],
    ['maxValue', 'MAXVALUE'],
    ['cache', 'CACHE'],
  ];
  for (const [key, keyword] of numeric) {
    const value = seq[key];
    if (typeof value === 'number' || typeof value === 'string') {
      options.push(`${keyword} ${sequenceNumber(column, key, value)}`);
    }
  }
  if (seq.cycle === true) options.push('CYCLE');
  return `GENERATED ${kind} AS IDENTITY${options.length > 0 ? ` (${options.join(' ')})` : ''}`;
}

function generatedClause(column: PgColumn): string | undefined {
  const generated = column.generated;
  if (generated === undefined) return undefined;
  const as: unknown = typeof generated.as === 'function' ? generated.as() : generated.as;
  const expression = is(as, SQL) ? renderSql(as) : sqlLiteral(column.mapToDriverValue(as));
  return `GENERATED ALWAYS AS (${expression}) STORED`;
}

/** Whether Postgres fills the column by itself when a row omits it (so NOT NULL can be added to a table with rows). */
export function fillsItself(column: PgColumn): boolean {
  if (column.default !== undefined || column.generated !== undefined) return true;
  if (column.generatedIdentity !== undefined) return true;
  return /^(small|big)?serial$/i.test(column.getSQLType());
}

interface ColumnDefinitionOptions {
  /** Render PRIMARY KEY (CREATE TABLE; also a column added later, where Postgres decides if it can be). */
  primaryKey: boolean;
}

/**
 * One column as in CREATE TABLE / ADD COLUMN: quoted name, Drizzle's SQL type, constraints, default.
 * @example columnDefinition(users.email, { primaryKey: false }); // '"email" text NOT NULL CONSTRAINT "users_email_unique" UNIQUE'
 */
export function columnDefinition(column: PgColumn, options: ColumnDefinitionOptions): string {
  // The type is the schema author's Drizzle code (customType dataType included), as drizzle-kit uses it;
  // an enum's name is qualified with its schema, as Drizzle's getSQLType() does not.
  const pgEnum = (column as { enum?: { enumName: string; schema?: string } }).enum;
  const type = pgEnum ? qualifiedName(pgEnum.schema, pgEnum.enumName) : column.getSQLType();
  const parts = [quoteIdentifier(column.name), type];
  if (options.primaryKey) parts.push('PRIMARY KEY');
  if (column.notNull) parts.push('NOT NULL');
  const fallback = defaultClause(column);
  if (fallback !== undefined) parts.push(`DEFAULT ${fallback}`);
  const identity = identityClause(column);
  if (identity !== undefined) parts.push(identity);
  const generated = generatedClause(column);
  if (generated !== undefined) parts.push(generated);
  if (column.isUnique) {
    // Drizzle names it when the table is built (`{table}_{column}_unique`), as drizzle-kit does.
    const name = column.uniqueName ?? `${getTableName(column.table)}_${column.name}_unique`;
    parts.push(`CONSTRAINT ${quoteIdentifier(name)} UNIQUE`);
    if (column.uniqueType === 'not distinct') parts.push('NULLS NOT DISTINCT');
  }
  return parts.join(' ');
}
