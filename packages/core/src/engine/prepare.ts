import { schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { runHook } from './hooks.js';
import { type Id, idKey, normalizeId } from './ids.js';
import { checkRow } from '../schema/validation.js';
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
 * Postgres stores it (see stored-row.ts). Any failure here leaves every tier untouched. No promise
 * unless a beforeSet hook or a Standard Schema validator needs one (a failure is then thrown at
 * once): a write-behind `set` reaches its script in fewer microtask turns.
 */
export function prepareRow(
  ctx: EngineContext,
  cache: SchemaCache,
  input: unknown,
): PreparedRow | Promise<PreparedRow> {
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
  if (schema.hooks.beforeSet) return hooked(ctx, cache, row);
  return stamped(ctx, cache, row);
}

async function hooked(ctx: EngineContext, cache: SchemaCache, row: Row): Promise<PreparedRow> {
  const { schema } = cache;
  await runHook(schema.name, 'beforeSet', schema.hooks.beforeSet!, row);
  return stamped(ctx, cache, row);
}

/** The rest of `prepareRow`, after beforeSet: stamps, the primary key, validation, stored form. */
function stamped(ctx: EngineContext, cache: SchemaCache, row: Row): PreparedRow | Promise<PreparedRow> {
  const { schema } = cache;
  const now = new Date(wallClock(ctx.config.clock).now());
  for (const column of schema.columns) {
    if (column.options.autoNow || (column.options.autoNowAdd && row[column.key] == null))
      row[column.key] = now;
  }
  const id = normalizeId(schema, row[schema.primaryKey.key]);
  row[schema.primaryKey.key] = id;
  const checked = checkRow(schema.validate, row);
  if (checked instanceof Promise) return checked.then(() => stored(cache, row, id));
  return stored(cache, row, id);
}

function stored(cache: SchemaCache, row: Row, id: Id): PreparedRow {
  toStoredRow(cache.schema, cache.writeMode, row);
  cache.tags?.ofWrite(row);
  return { row, id, key: idKey(id) };
}
