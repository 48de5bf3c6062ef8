import { getTableColumns } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { whyNotJsonData } from '../codec/json-data.js';
import { messageOf, StrataError } from '../errors.js';
import { type ColumnInput, columnInput, whyNotRectangular } from './column-inputs.js';
import { insertSchema } from './insert-schema.js';
import { type NumericType, whyNotNumeric } from './numeric-input.js';
import { fitsUtf8, isWellFormed } from './text-limits.js';

/**
 * The largest json/jsonb value, as JSON text in bytes of UTF-8. Every cached row is one L2 value
 * (Upstash takes a few MB per request) and is decoded whole on every L2 hit.
 */
export const MAX_JSON_BYTES = 1_048_576;

// What Postgres and the codecs bring back unchanged: finite numbers (jsonb has no NaN) and UTF-8.
const JSON_RULES = { nonFinite: false, wellFormed: true } as const;

/** The Standard Schema v1 interface (zod, valibot, arktype…), as far as Strata uses it. */
interface StandardSchemaV1<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor?: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
  };
}
type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
      }>;
    };

/** A schema's extra check: a Standard Schema, or a function that throws or returns an error message. */
/** A function validator returns an error message (a string) to reject; anything else accepts. */
export type RowValidator<Row> = StandardSchemaV1 | ((row: Readonly<Row>) => unknown);

/**
 * Builds the row check: the zod schema of an insertable row (insertSchema: types, int ranges, NOT
 * NULL without default, unknown keys rejected), then what zod does not see (well-formed strings; json
 * values that are JSON data, at most MAX_JSON_DEPTH deep and MAX_JSON_BYTES long), and then the
 * schema's own validator. A value that passes is stored by Postgres and every cache as it is.
 * @example const validate = createRowValidator('players', players, undefined); await validate(row);
 */
export function createRowValidator<Row>(
  schemaName: string,
  table: PgTable,
  extra: RowValidator<Row> | undefined,
): (row: unknown) => Promise<Row> {
  const fromTable = insertSchema(table);
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => ({
    key,
    json: column.dataType === 'json',
    jsonb: column.columnType === 'PgJsonb',
    array: column.dataType === 'array',
    numeric: NUMERIC_COLUMNS.has(column.columnType) ? (column as NumericType) : undefined,
    items: column.columnType === 'PgArray',
    // Nested JS arrays are sub-arrays only when the base is an array too (json[] items are JSON).
    nested: baseOf(column)?.columnType === 'PgArray',
    // An array column's items are checked as its base column's values.
    input: columnInput((baseOf(column) ?? column).columnType),
  }));
  return async (row) => {
    const issue = fromTable(row, []);
    if (issue) {
      const field = issue.keys?.[0] ?? (issue.path.join('.') || undefined);
      throw validationFailed(schemaName, field, issue.message);
    }
    const value = row as Row;
    for (const column of columns) {
      const why = whyNotStorable((value as Record<string, unknown>)[column.key], column);
      if (why !== undefined) throw validationFailed(schemaName, column.key, why);
    }
    if (extra === undefined) return value;
    if (typeof extra === 'function') {
      let message: unknown;
      try {
        message = extra(value);
      } catch (err) {
        throw validationFailed(schemaName, undefined, messageOf(err), err);
      }
      if (typeof message === 'string') throw validationFailed(schemaName, undefined, message);
      return value;
    }
    const result = await extra['~standard'].validate(value);
    if (result.issues) {
      const issue = result.issues[0]!;
      const field = issue.path?.map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      throw validationFailed(schemaName, field || undefined, issue.message, result.issues);
    }
    return value;
  };
}

function baseOf(column: PgColumn): PgColumn | undefined {
  return (column as { baseColumn?: PgColumn }).baseColumn;
}

/** Drizzle's numeric columns (string, number and bigint modes): Postgres' numeric input decides. */
const NUMERIC_COLUMNS = new Set(['PgNumeric', 'PgNumericNumber', 'PgNumericBigInt']);

/** A NUL escape in JSON text: `\u0000` after an even number of backslashes (else it is text). */
const JSON_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/** Why Postgres or a cache would hold something else than `value`; undefined when it is fine. */
function whyNotStorable(
  value: unknown,
  column: {
    json: boolean;
    jsonb: boolean;
    array: boolean;
    numeric: NumericType | undefined;
    items: boolean;
    nested: boolean;
    input: ColumnInput | undefined;
  },
): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (column.json) {
    const why = whyNotJsonData(value, JSON_RULES);
    if (why !== undefined) return why;
    // Only json columns pay for the text; checked after the walk, which bounds depth and cycles.
    const text = JSON.stringify(value);
    if (!fitsUtf8(text, MAX_JSON_BYTES)) return `JSON text longer than ${MAX_JSON_BYTES} bytes`;
    // json keeps an escaped NUL; jsonb refuses it, in a key or a string: a write-behind set was
    // acknowledged, then served until its flush dead-lettered it.
    // Drizzle's json-like columns (line in abc mode) have their own input check too.
    return column.jsonb && JSON_NUL.test(text) ? JSONB_NUL : column.input?.(value as never);
  }
  if (column.numeric && (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'))
    return whyNotNumeric(String(value), column.numeric);
  if (typeof value === 'string') return whyNotStorableText(value) ?? column.input?.(value as never);
  if (column.items && Array.isArray(value))
    return (column.nested ? whyNotRectangular(value) : undefined) ?? whyNotStorableArray(value, column.input);
  if (column.array && Array.isArray(value))
    return whyNotStorableArray(value, undefined) ?? column.input?.(value as never);
  return column.input?.(value as never);
}

const JSONB_NUL = 'jsonb cannot store a NUL character (U+0000) in a string or key (22P05)';

const LONE_SURROGATE = 'string has a lone surrogate, which UTF-8 (Postgres, Redis) cannot store';
const NUL = 'string has a NUL character (U+0000), which Postgres text cannot store (22021)';

/**
 * A string Postgres would refuse or alter. NUL too: a write-behind `set` is acknowledged before
 * Postgres sees the row, so without this check every isolate read the row from L2 until the flush
 * dead-lettered it (json columns are left to the JSON walk: `json` keeps an escaped NUL).
 */
function whyNotStorableText(text: string): string | undefined {
  if (!isWellFormed(text)) return LONE_SURROGATE;
  return text.includes('\u0000') ? NUL : undefined;
}

/** Each string of `items` (nested arrays too); with `input`, each item that is not null or an array. */
function whyNotStorableArray(items: readonly unknown[], input: ColumnInput | undefined): string | undefined {
  for (const item of items) {
    const why = Array.isArray(item)
      ? whyNotStorableArray(item, input)
      : ((typeof item === 'string' ? whyNotStorableText(item) : undefined) ??
        (item === null || item === undefined ? undefined : input?.(item as never)));
    if (why !== undefined) return why;
  }
  return undefined;
}

function validationFailed(
  schema: string,
  field: string | undefined,
  message: string,
  cause?: unknown,
): StrataError {
  const where = field ? ` field ${field}` : '';
  return new StrataError('VALIDATION_FAILED', `schema ${schema}${where}: ${message}`, {
    ...(cause !== undefined && { cause }),
    details: { schema, ...(field !== undefined && { field }) },
  });
}
