import { quoteLiteral } from '../identifiers.js';
import type { CaptureTables } from './change-log.js';
import { APP_SETTING } from './own-writes.js';

/**
 * The apps registry (`_strata_capture_apps`): which Strata apps (keyPrefixes, each with its own
 * caches and bus) captured which tables. A Strata write is its app's own: its caches and bus follow
 * it, so the trigger logs nothing for it while no other app captured the table (the single-app cost
 * stays: no log row, no NOTIFY, no lookup). Once another app is registered on the table, the trigger
 * logs the write's keys at the versions it wrote, under the writing app's name: the other apps'
 * relays apply it, the writer's relay skips it. The trigger never reads this table: install (under
 * the DDL lock, in the transaction that registers the app) writes the registered apps into the
 * trigger function as a constant, so a write pays no lookup and a dropped registry fails no write;
 * check() reports the function outdated when the registry moved on without an install. Rows are
 * written by `install` (one per app and table) and removed by that app's `remove`, which makes the
 * function again for the apps left, or drops it with the last (remove-ddl.ts); an app retired
 * without one keeps the others' writes logged until its row is deleted and capture installed again.
 */
export function appsStatements(tables: CaptureTables): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${tables.apps} (` +
      '"schema" text NOT NULL, ' +
      '"app" text NOT NULL, ' +
      '"registered_at" timestamptz NOT NULL DEFAULT now(), ' +
      'PRIMARY KEY ("schema", "app"))',
  ];
}

const list = (identities: readonly string[]) =>
  `ARRAY[${identities.map((identity) => quoteLiteral(identity)).join(', ')}]::text[]`;

/** Registers `app` on the tables of `identities` (idempotent: a repeated install writes nothing). */
export function registerAppStatement(
  tables: CaptureTables,
  identities: readonly string[],
  app: string,
): string {
  return `INSERT INTO ${tables.apps} ("schema", "app") SELECT s, ${quoteLiteral(app)} FROM unnest(${list(identities)}) s ON CONFLICT DO NOTHING`;
}

/** Unregisters `app` from the tables of `identities`. */
export function unregisterAppStatement(
  tables: CaptureTables,
  identities: readonly string[],
  app: string,
): string {
  return `DELETE FROM ${tables.apps} WHERE "app" = ${quoteLiteral(app)} AND "schema" = ANY(${list(identities)})`;
}

const SETTING = `current_setting(${quoteLiteral(APP_SETTING)}, true)`;
/** The app setting was made by the current statement (its start time, `started`, prefixes it). */
const OF_THIS_STATEMENT = `left(${SETTING}, length(started)) = started`;

/**
 * The trigger's `tell`, for the apps registered on its table: whether the current statement is a
 * Strata app's own write that another registered app must hear of. A constant expression of the
 * function (install writes it in from the registry, check() compares with it), cheapest for the
 * common cases: no app registered, `false`; one, the statement named an app other than it (one
 * comparison when the writer is that app); two or more, the statement named an app at all. Null
 * (no setting, no `started`) reads as false.
 */
export function tellSql(apps: readonly string[]): string {
  const distinct = [...new Set(apps)];
  if (distinct.length === 0) return 'false';
  if (distinct.length === 1)
    return `coalesce(${SETTING} <> started || ${quoteLiteral(distinct[0]!)} AND ${OF_THIS_STATEMENT}, false)`;
  return `coalesce(${OF_THIS_STATEMENT}, false)`;
}

/** SQL: {@link tellSql} of the apps registered on the table of `identity`, made in Postgres. */
export function tellSqlOfRegistry(tables: CaptureTables, identity: string): string {
  const one = (app: string) =>
    `${quoteLiteral(`coalesce(${SETTING} <> started || `)} || quote_literal(${app}) || ${quoteLiteral(` AND ${OF_THIS_STATEMENT}, false)`)}`;
  return `(SELECT CASE count(*) WHEN 0 THEN 'false' WHEN 1 THEN ${one('min(a."app")')} ELSE ${quoteLiteral(tellSql(['a', 'b']))} END FROM ${tables.apps} a WHERE a."schema" = ${quoteLiteral(identity)})`;
}
