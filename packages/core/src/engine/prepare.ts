import { schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { runHook } from './hooks.js';
import { type Id, idKey, normalizeId } from './ids.js';
import type { SchemaCache } from './schema-cache.js';
import { wallClock } from './steady-clock.js';
import { toStoredRow } from './stored-row.js';

/** A row ready to write: checked, stamped, its primary key normalized; and its key. */
export interface PreparedRow {
  readonly row: Row;
  readonly id: Id;
  readonly key: string;
}

/**
 * Everything before a write touches a tier: beforeSet (may change the row or reject it), autoNow /
 * autoNowAdd, the primary key normalized (a uuid lowercased, '42' for an integer key made 42: the
 * row written names the same key as the caches), then validation, then each value in the form
 * Postgres stores it (see stored-row.ts). Any failure here leaves every tier untouched.
 */
export async function prepareRow(
  ctx: EngineContext,
  cache: SchemaCache,
  input: unknown,
): Promise<PreparedRow> {
  const { schema } = cache;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    // Most often the Go library's Set(name, id, value) shape: the id came where the row goes.
    const got = input == null ? String(input) : Array.isArray(input) ? 'an array' : `a ${typeof input}`;
    throw schemaError(
      'VALIDATION_FAILED',
      schema.name,
      `a row must be an object, not ${got}: set(schema, row) takes the row alone, its primary key (${schema.primaryKey.key}) names it`,
    );
  }
  const row: Row = { ...(input as Row) };
  // No hook, no turn of the microtask queue.
  if (schema.hooks.beforeSet) await runHook(schema.name, 'beforeSet', schema.hooks.beforeSet, row);
  const now = new Date(wallClock(ctx.config.clock).now());
  for (const column of schema.columns) {
    if (column.options.autoNow || (column.options.autoNowAdd && row[column.key] == null))
      row[column.key] = now;
  }
  const id = normalizeId(schema, row[schema.primaryKey.key]);
  row[schema.primaryKey.key] = id;
  await schema.validate(row);
  toStoredRow(schema, cache.writeMode, row);
  cache.tags?.ofWrite(row);
  return { row, id, key: idKey(id) };
}
