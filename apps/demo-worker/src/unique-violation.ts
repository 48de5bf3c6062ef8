import type { CompiledSchema } from '@strata/core';
import { getTableConfig } from 'drizzle-orm/pg-core';

/** Postgres' unique_violation: a username (or id) that is taken. */
export const UNIQUE_VIOLATION = '23505';

/** What Postgres reports with a unique violation (the driver copies these fields onto its error). */
interface PgUniqueError {
  code: typeof UNIQUE_VIOLATION;
  constraint?: unknown;
  detail?: unknown;
}

/** The taken key, in the schema's own field names. */
interface TakenKey {
  /** The schema's keys of the constraint's columns, e.g. `['username']`. */
  fields: string[];
  /** The value Postgres reports as taken, when the key is one column and Postgres said it. */
  value?: string;
}

/** `Key (username)=(ada) already exists.`: the columns, then their values. */
const KEY_DETAIL = /^Key \((.+?)\)=\((.*)\) already exists\.?$/s;

/**
 * The key a unique violation says is taken: its columns from the constraint Postgres names, looked
 * up in the schema's Drizzle table (or, for a constraint not declared there, from the `Key (…)` of
 * its detail), mapped to the schema's field names. Undefined when `err` is no unique violation.
 * @example takenKey(err, playerSchema); // { fields: ['username'], value: 'ada' }
 */
export function takenKey(err: unknown, schema: CompiledSchema | undefined): TakenKey | undefined {
  const pg = uniqueErrorOf(err);
  if (!pg || !schema) return undefined;
  const detail = typeof pg.detail === 'string' ? KEY_DETAIL.exec(pg.detail) : null;
  const columns =
    (typeof pg.constraint === 'string' ? constraintColumns(schema, pg.constraint) : undefined) ??
    detail?.[1]?.split(', ').map((name) => name.replace(/^"(.*)"$/, '$1'));
  if (!columns) return undefined;
  const keyOf = new Map(schema.columns.map((column) => [column.name, column.key]));
  const fields = columns.map((name) => keyOf.get(name) ?? name);
  return fields.length === 1 && detail?.[2] !== undefined ? { fields, value: detail[2] } : { fields };
}

/** The error carrying the SQLSTATE: `err` or one of its causes (Strata and Drizzle wrap it). */
function uniqueErrorOf(err: unknown): PgUniqueError | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if ((e as { code?: unknown }).code === UNIQUE_VIOLATION) return e as PgUniqueError;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The column names of a unique constraint or the primary key the table declares, by its name. */
function constraintColumns(schema: CompiledSchema, constraint: string): string[] | undefined {
  const config = getTableConfig(schema.table);
  const column = config.columns.find((c) => c.isUnique && c.uniqueName === constraint);
  if (column) return [column.name];
  const unique = config.uniqueConstraints.find((u) => u.getName() === constraint);
  if (unique) return unique.columns.map((c) => c.name);
  // Postgres names a primary key `<table>_pkey` unless told otherwise.
  if (constraint === `${config.name}_pkey`) return config.columns.filter((c) => c.primary).map((c) => c.name);
  return undefined;
}
