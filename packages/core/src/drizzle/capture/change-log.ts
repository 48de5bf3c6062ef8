import { qualifiedName, quoteIdentifier, quoteLiteral } from '../identifiers.js';
import { WRITERS_TABLE } from '../writers-table.js';

/** Where Strata's tables live for capture: always a named Postgres schema (triggers run on any search path). */
export interface CaptureTables {
  /** The Postgres schema of `_strata_versions`, `_strata_changes` and the capture functions. */
  readonly pgSchema: string;
  /** `"schema"."_strata_versions"`, quoted. */
  readonly versions: string;
  /** `"schema"."_strata_changes"`, quoted. */
  readonly changes: string;
  /** `"schema"."_strata_changes_meta"`, quoted: one row, the highest xid ever pruned. */
  readonly meta: string;
  /** `"schema"."_strata_capture_tables"`, quoted: the captured tables and their definitions' fingerprints. */
  readonly registry: string;
  /** `"schema"."_strata_capture_apps"`, quoted: which apps (keyPrefixes) captured which tables. */
  readonly apps: string;
  /** `"schema"."_strata_writers"`, quoted: the write mode each table is written in now (see trigger-ddl.ts). */
  readonly writers: string;
}

export const CHANGES_TABLE = '_strata_changes';
export const META_TABLE = '_strata_changes_meta';
export const REGISTRY_TABLE = '_strata_capture_tables';
export const APPS_TABLE = '_strata_capture_apps';

export function captureTables(pgSchema: string): CaptureTables {
  return {
    pgSchema,
    versions: qualifiedName(pgSchema, '_strata_versions'),
    changes: qualifiedName(pgSchema, CHANGES_TABLE),
    meta: qualifiedName(pgSchema, META_TABLE),
    registry: qualifiedName(pgSchema, REGISTRY_TABLE),
    apps: qualifiedName(pgSchema, APPS_TABLE),
    writers: qualifiedName(pgSchema, WRITERS_TABLE),
  };
}

/**
 * `seq`: the entry's place within its transaction, from a transaction-local counter (a setting
 * that dies with the transaction, and goes back with a savepoint rolled back along with its row).
 * Not a sequence: `drizzle-kit push` drops every sequence of a schema it manages that its schema file
 * does not declare (its tablesFilter covers tables only), and a change log's sequence made every
 * push of the app's own tables fail once capture was installed.
 */
const NEXT_SEQ =
  "set_config('strata.change_seq', (coalesce(nullif(current_setting('strata.change_seq', true), ''), '0')::bigint + 1)::text, true)::bigint";

/**
 * The change log and its meta row (idempotent). One row per captured statement: `xid` is the
 * writing transaction (its top level, even inside a savepoint), `(xid, seq)` its key, what the
 * reader orders and pages by. `app`: the Strata app (keyPrefix) whose own write the entry is, logged
 * for the other apps registered on the table; null for a write made outside Strata. A log made by an
 * earlier version (a bigserial `seq`, no `app`) is brought to this shape: its numbers stay unique
 * within each transaction, its entries are outside writes.
 */
export function changeLogStatements(tables: CaptureTables): string[] {
  const sequence = qualifiedName(tables.pgSchema, `${CHANGES_TABLE}_seq_seq`);
  const oldIndex = qualifiedName(tables.pgSchema, `${CHANGES_TABLE}_xid`);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(tables.pgSchema)}`,
    `CREATE TABLE IF NOT EXISTS ${tables.changes} (` +
      `"seq" bigint NOT NULL DEFAULT ${NEXT_SEQ}, ` +
      '"xid" xid8 NOT NULL DEFAULT pg_current_xact_id(), ' +
      '"schema" text NOT NULL, ' +
      '"op" text NOT NULL, ' +
      '"ids" text[], ' +
      '"versions" bigint[], ' +
      '"created_at" timestamptz NOT NULL DEFAULT now(), ' +
      '"app" text, ' +
      'PRIMARY KEY ("xid", "seq"))',
    // A log made before `app` (a nullable column: no rewrite). Only then, as below: a repeated
    // install takes no lock on the log.
    `DO $strata_changes_app$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${quoteLiteral(tables.changes)}::regclass AND attname = 'app' AND NOT attisdropped) THEN
    ALTER TABLE ${tables.changes} ADD COLUMN "app" text;
  END IF;
END $strata_changes_app$`,
    // The upgrade of a log made by an earlier version (its key was a bigserial "seq" alone): only
    // then, so that a repeated install takes no lock on the log.
    `DO $strata_changes_key$
DECLARE
  old name;
BEGIN
  SELECT conname INTO old FROM pg_constraint
    WHERE conrelid = ${quoteLiteral(tables.changes)}::regclass AND contype = 'p' AND array_length(conkey, 1) = 1;
  IF old IS NOT NULL THEN
    ALTER TABLE ${tables.changes} ALTER COLUMN "seq" SET DEFAULT ${NEXT_SEQ};
    DROP SEQUENCE IF EXISTS ${sequence};
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', ${quoteLiteral(tables.changes)}::regclass, old);
    ALTER TABLE ${tables.changes} ADD PRIMARY KEY ("xid", "seq");
    DROP INDEX IF EXISTS ${oldIndex};
  END IF;
END $strata_changes_key$`,
    // One row (the key can only be true): the highest xid a prune deleted, for gap detection.
    `CREATE TABLE IF NOT EXISTS ${tables.meta} ("one" boolean PRIMARY KEY DEFAULT true CHECK ("one"), "pruned_xid" xid8 NOT NULL DEFAULT '0')`,
    `INSERT INTO ${tables.meta} DEFAULT VALUES ON CONFLICT DO NOTHING`,
  ];
}
