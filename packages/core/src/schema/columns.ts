import type { PgColumn } from 'drizzle-orm/pg-core';
import type { ColumnKind } from '../codec/types.js';
import { StrataError } from '../errors.js';
import type { CompiledColumn, FieldOptions } from './types.js';

/** What a codec must restore for a column, read from Drizzle's own column description. */
function columnKind(column: PgColumn): ColumnKind {
  const sqlType = column.getSQLType().toLowerCase();
  if (sqlType === 'bytea' || column.dataType === 'buffer') return 'bytes';
  switch (column.dataType) {
    case 'date':
      return 'date';
    case 'bigint':
      return 'bigint';
    case 'json':
      return 'json';
    default:
      return 'plain';
  }
}

/** Resolves the columns of a table with Strata's options, rejecting options that cannot hold. */
export function compileColumns(
  schemaName: string,
  columns: Record<string, PgColumn>,
  fields: Readonly<Record<string, FieldOptions | undefined>>,
): CompiledColumn[] {
  for (const key of Object.keys(fields)) {
    if (!(key in columns)) {
      throw invalidModel(schemaName, key, `fields.${key} names no column of the table`);
    }
  }
  return Object.entries(columns).map(([key, column]) => {
    if (RESERVED.test(key) || RESERVED.test(column.name)) {
      throw invalidModel(schemaName, key, `column names starting with _strata_ are reserved for Strata`);
    }
    const options = fields[key] ?? {};
    const compiled: CompiledColumn = {
      key,
      name: column.name,
      sqlType: column.getSQLType(),
      kind: columnKind(column),
      notNull: column.notNull,
      hasDefault: column.hasDefault,
      column,
      options,
    };
    checkOptions(schemaName, compiled);
    return compiled;
  });
}

function checkOptions(schemaName: string, c: CompiledColumn): void {
  const { options } = c;
  if (c.column.primary && (options.omitCache || options.omitL1 || options.encrypted)) {
    throw invalidModel(schemaName, c.key, 'the primary key cannot be omitted from caches or encrypted');
  }
  if (options.encrypted && !holdsCiphertext(c.column)) {
    throw invalidModel(
      schemaName,
      c.key,
      c.column.dataType === 'string'
        ? `${c.key} is ${c.sqlType}, too short for its ciphertext: use text (or an unbounded varchar)`
        : `only text columns can be encrypted, not ${c.sqlType}`,
    );
  }
  if ((options.autoNow || options.autoNowAdd) && c.kind !== 'date') {
    throw invalidModel(schemaName, c.key, 'autoNow/autoNowAdd need a timestamp column in date mode');
  }
  if (options.autoNow && options.autoNowAdd) {
    throw invalidModel(schemaName, c.key, 'autoNow and autoNowAdd exclude each other');
  }
}

// Strata names its own statement scopes (`_strata_w`, `_strata_version`…) and tables this way.
const RESERVED = /^_strata_/i;

/** text, or varchar without a length: the only string columns any ciphertext fits. */
function holdsCiphertext(column: PgColumn): boolean {
  if (column.columnType === 'PgText') return true;
  return column.columnType === 'PgVarchar' && (column as { length?: number }).length === undefined;
}

function invalidModel(schema: string, field: string, message: string): StrataError {
  return new StrataError('INVALID_MODEL', `schema ${schema}: ${message}`, { details: { schema, field } });
}
