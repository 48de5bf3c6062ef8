import { is, SQL } from 'drizzle-orm';
import type { Row } from '../l3/types.js';
import { type ColumnFills, insertFill } from '../schema/insert-fill.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * Write-behind rows reach L1 and L2 before Postgres has seen them, so Postgres defaults are not
 * there yet. Fill what can be known here: `$defaultFn`, `$onUpdate`, literal defaults, and
 * `defaultNow()` (as the instance's clock). Other SQL defaults appear only after the flush. With
 * `update` (a partial row over a row that exists: see `partial-rows.ts`) only `$onUpdate`, as
 * Postgres would apply an upsert of the row: the other defaults are for new rows. A new row's
 * column is filled as Drizzle's own insert fills it (`insertFill`): a column with a default (a
 * `$defaultFn`, a literal, `defaultNow()`) and `$onUpdate` takes its default, never the update
 * value; its flush sets the `$onUpdate` value instead where the row exists (see `conflictSet`).
 */
export function applyClientDefaults(schema: CompiledSchema, row: Row, now: Date, update = false): Row {
  // Copied only once a default is filled in: a row that names every column (the usual set) is
  // returned as it came, never changed (one copy of the row less per write).
  let out = row;
  const fill = (key: string, value: unknown) => {
    if (out === row) out = { ...row };
    out[key] = value;
  };
  for (const { key, column, kind } of schema.columns) {
    if (row[key] !== undefined) continue;
    const c = column as unknown as ColumnFills;
    if (update) {
      if (c.onUpdateFn) fill(key, c.onUpdateFn());
      continue;
    }
    const how = insertFill(c);
    if (how === 'defaultFn') fill(key, c.defaultFn!());
    else if (how === 'onUpdate') fill(key, c.onUpdateFn!());
    else if (c.default !== undefined && !is(c.default, SQL)) fill(key, c.default);
    else if (c.default !== undefined && kind === 'date') fill(key, now);
  }
  return out;
}

/**
 * The keys of the columns `applyClientDefaults` filled in `filled` (what it returned for `row`, for a
 * new row) with a default for a new row: not `$onUpdate` values, which apply on every write (a
 * column with a default too took that: a default, see `insertFill`). Undefined when none (a row
 * returned as it came). A queued write names them (`QueuedWrite.defaults`): its flush inserts them but never lays
 * them over a stored row, as Postgres' DEFAULT.
 */
export function insertDefaults(schema: CompiledSchema, row: Row, filled: Row): string[] | undefined {
  if (filled === row) return undefined;
  let keys: string[] | undefined;
  for (const { key, column } of schema.columns) {
    if (row[key] !== undefined || filled[key] === undefined) continue;
    if (insertFill(column) === 'onUpdate') continue;
    keys ??= [];
    keys.push(key);
  }
  return keys;
}
