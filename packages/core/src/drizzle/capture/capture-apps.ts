import { quoteLiteral } from '../identifiers.js';
import type { CaptureTables } from './change-log.js';

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
 * written by `install` (one per app and table) and removed by that app's `remove`; an app retired
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

/**
 * The registered apps as the trigger function holds them, a text[] constant: `'{}'::text[]` or
 * `ARRAY['api', 'worker']::text[]`, sorted as Postgres sorts them under "C". The install writes it
 * into the function from the registry (see {@link registeredAppsSql}), check() compares with it.
 */
export function registeredAppsLiteral(apps: readonly string[]): string {
  if (apps.length === 0) return "'{}'::text[]";
  const sorted = [...new Set(apps)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `ARRAY[${sorted.map((app) => quoteLiteral(app)).join(', ')}]::text[]`;
}

/** SQL: {@link registeredAppsLiteral} of the apps registered on the table of `identity`, read in Postgres. */
export function registeredAppsSql(tables: CaptureTables, identity: string): string {
  return `(SELECT CASE WHEN count(*) = 0 THEN ${quoteLiteral("'{}'::text[]")} ELSE 'ARRAY[' || string_agg(quote_literal(a."app"), ', ' ORDER BY a."app" COLLATE "C") || ']::text[]' END FROM ${tables.apps} a WHERE a."schema" = ${quoteLiteral(identity)})`;
}
