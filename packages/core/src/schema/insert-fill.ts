/** The client-side value functions and default a Drizzle column may declare. */
export interface ColumnFills {
  readonly defaultFn?: () => unknown;
  readonly onUpdateFn?: () => unknown;
  readonly default?: unknown;
}

/**
 * How Drizzle's own insert fills a column its row leaves out (pg-core dialect, `buildInsertQuery`),
 * which every insert Strata makes of a new row matches (the engine's client defaults, the L3's
 * statement): `defaultFn`'s value; else, for a column with `onUpdateFn` and no `default`, the update
 * value; else Postgres' DEFAULT (the column's `default`, if any). "No default" is tested as Drizzle
 * tests it, `!column.default`: a falsy literal (`.default(0)`, `.default('')`, `.default(false)`)
 * with `$onUpdateFn` takes the update value, as Drizzle inserts it.
 */
export function insertFill(column: unknown): 'defaultFn' | 'onUpdate' | 'default' {
  const c = column as ColumnFills;
  if (c.defaultFn !== undefined) return 'defaultFn';
  if (!c.default && c.onUpdateFn !== undefined) return 'onUpdate';
  return 'default';
}
