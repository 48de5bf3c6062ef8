import { CHANGES_CHANNEL } from '../../l3/capture.js';
import { quoteLiteral } from '../identifiers.js';
import type { CaptureTables } from './change-log.js';
import type { CapturePlan } from './trigger-ddl.js';

/**
 * The registry of captured tables (`_strata_capture_tables`): which relation each captured schema
 * is, and a fingerprint of its definition. Schema changes (an `ALTER TABLE` that changes a column's
 * type, drops or renames one, or renames the table) change what rows read back as without firing
 * any row trigger; the registry is how they are found, by the event trigger (which relation an
 * `ALTER TABLE` touched) and by the source's fingerprint check (whose definition moved on).
 */
export function registryStatements(tables: CaptureTables): string[] {
  // `target`: the table's qualified, quoted name, resolved at install (the row triggers' search
  // path), so the fingerprint names it the same from any session. `relid`: what the event trigger
  // matches, as pg_event_trigger_ddl_commands() names a relation by oid.
  return [
    `CREATE TABLE IF NOT EXISTS ${tables.registry} (` +
      '"schema" text PRIMARY KEY, ' +
      '"target" text NOT NULL, ' +
      '"relid" oid NOT NULL, ' +
      '"fingerprint" text NOT NULL)',
  ];
}

/**
 * SQL for the fingerprint of the relation named by the text expression `target`: its oid, its
 * storage (relfilenode) and per column, in order, name, type with modifier, not-null and dropped.
 * The storage catches a rewrite that keeps every type (`ALTER COLUMN level TYPE integer USING
 * level * 10`); it also moves on VACUUM FULL, CLUSTER and TRUNCATE, each then one spurious
 * generation move. The oid catches a table dropped and created again. `missing` when the name
 * resolves to nothing (the table was renamed or dropped). Only pg_catalog is named, unqualified:
 * it is searched first on every search path.
 */
export function fingerprintSql(target: string): string {
  return `coalesce((SELECT c.oid::text || '/' || c.relfilenode::text || '/' || string_agg(
      a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        || CASE WHEN a.attisdropped THEN ' dropped' ELSE '' END, ', ' ORDER BY a.attnum)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    WHERE c.oid = to_regclass(${target}) GROUP BY c.oid, c.relfilenode), 'missing')`;
}

/**
 * Registers the plan's table (after its triggers exist, so it resolves). A row already there keeps
 * its fingerprint: a definition change made since (while capture was incomplete, say) is then
 * still found and logged by the next check rather than absorbed by a re-install.
 */
export function registerStatement(tables: CaptureTables, plan: CapturePlan): string {
  return `INSERT INTO ${tables.registry} AS r ("schema", "target", "relid", "fingerprint")
SELECT ${quoteLiteral(plan.identity)}, q."target", q."relid", ${fingerprintSql('q."target"')}
FROM (SELECT c.oid AS "relid", format('%I.%I', n.nspname, c.relname) AS "target"
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = pg_catalog.to_regclass(${quoteLiteral(plan.target)})) q
ON CONFLICT ("schema") DO UPDATE SET "target" = excluded."target", "relid" = excluded."relid"`;
}

/**
 * One statement: each registered table whose fingerprint moved on gets the new one (and its oid,
 * should it have been created again) and a `ddl` entry in the change log, with a NOTIFY as the row
 * triggers send. Resolves `changed`, the count. Two readers at once log a change once: the second
 * one's UPDATE waits for the first, then re-checks its condition against the row it wrote.
 * Registered tables of every app on this Strata schema are checked (a handful of catalog lookups).
 */
export function fingerprintCheckStatement(tables: CaptureTables): string {
  return `WITH cur AS (
    SELECT r."schema", ${fingerprintSql('r."target"')} AS "fingerprint", to_regclass(r."target")::oid AS "relid"
    FROM ${tables.registry} r),
  moved AS (
    UPDATE ${tables.registry} r SET "fingerprint" = cur."fingerprint", "relid" = coalesce(cur."relid", r."relid")
    FROM cur WHERE r."schema" = cur."schema" AND r."fingerprint" IS DISTINCT FROM cur."fingerprint"
    RETURNING r."schema"),
  logged AS (
    INSERT INTO ${tables.changes} ("schema", "op") SELECT m."schema", 'ddl' FROM moved m RETURNING "schema")
SELECT count(*)::int AS "changed" FROM (SELECT pg_notify(${quoteLiteral(CHANGES_CHANNEL)}, l."schema") FROM logged l) n`;
}
